"""Lesson 15's exercise: Deep CORAL's distance in plain NumPy.

``check_coral_distance(coral_distance)`` calls the learner's ``coral_distance(fs, ft)`` (two
NumPy arrays of features, n × d and m × d, returning a number) on cases it builds, and compares
it with ``minitransfer.adapt.coral_loss``: ‖C_s − C_t‖²_F / (4 d²), C the sample covariance
with 1 / (n − 1).
"""

import numpy as np

from exercises import attempted, grade


def _cases():
    rng = np.random.default_rng(15)
    yield np.array([[0.0, 0.0], [2.0, 0.0]]), np.array([[0.0, 0.0], [0.0, 2.0]])  # the hand example: 0.5
    yield rng.standard_normal((6, 3)), rng.standard_normal((9, 3)) * 2 + 1  # different sizes and means
    yield rng.standard_normal((5, 4)) + 3, rng.standard_normal((5, 4))  # means far from 0


def _coral_problem(coral_distance):
    from minitransfer.adapt import coral_loss

    for fs, ft in _cases():
        got = attempted(coral_distance(fs.copy(), ft.copy()))
        expected = coral_loss(fs, ft).item()
        if not np.isclose(float(got), expected, rtol=1e-6, atol=1e-12):
            return (f"for source features of shape {fs.shape} and target features of shape {ft.shape} "
                    f"expected {expected:.6g}, got {float(got):.6g} (centre each domain on its own "
                    f"mean, divide by n − 1, then by 4 d²)")
    return None


def check_coral_distance(coral_distance):
    """Exercise 15.1: print and return the Grade of ``coral_distance``."""
    return grade("15.1", _coral_problem, coral_distance)


def _not_centred(fs, ft):
    d = fs.shape[1]
    return np.sum((fs.T @ fs / (len(fs) - 1) - ft.T @ ft / (len(ft) - 1)) ** 2) / (4 * d * d)


def _biased(fs, ft):
    d = fs.shape[1]
    difference = np.cov(fs, rowvar=False, bias=True) - np.cov(ft, rowvar=False, bias=True)
    return np.sum(difference**2) / (4 * d * d)


def _unscaled(fs, ft):
    return np.sum((np.cov(fs, rowvar=False) - np.cov(ft, rowvar=False)) ** 2)


SELF_TEST = [
    (check_coral_distance, "15_data_mismatch.py:coral_distance", [_not_centred, _biased, _unscaled]),
]
