"""Lesson 12's exercise: linear CKA, written by hand and checked against ``explain.linear_cka``.

12.1  ``my_linear_cka(a, b)``: centre the columns of a (n × d₁) and b (n × d₂), then
      ‖BᵀA‖²_F / (‖AᵀA‖_F ‖BᵀB‖_F).
"""

import numpy as np

from exercises import attempted, grade
from minitransfer.explain import linear_cka


def _cases():
    """Pairs of feature matrices: random, identical, rotated, and non-negative (ReLU-like)
    features whose column means are far from 0, where forgetting to centre shows."""
    rng = np.random.default_rng(12)
    a = rng.standard_normal((30, 4))
    rotation, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    relu = np.maximum(rng.standard_normal((40, 6)) + 1.0, 0)
    return [(a, rng.standard_normal((30, 3))), (a, a), (a, a @ rotation + 0.1 * rng.standard_normal((30, 4))),
            (relu, np.maximum(relu @ rng.standard_normal((6, 5)), 0)), (a, 2.0 * a[:, :2])]


def _check_cka(my_linear_cka):
    for a, b in _cases():
        got = attempted(my_linear_cka(a.copy(), b.copy()))
        expected = linear_cka(a, b)
        if not np.isclose(float(got), expected, rtol=1e-6, atol=1e-9):
            return (f"for a of shape {a.shape} and b of shape {b.shape}: expected {expected:.6f}, "
                    f"got {float(got):.6f}")
    return None


def check_linear_cka(my_linear_cka):
    """Exercise 12.1: your linear CKA against the package's on five pairs of feature matrices."""
    return grade("12.1", _check_cka, my_linear_cka)


# plausible mistakes the check must reject (tests/test_exercises.py)
def _not_centred(a, b):
    return np.linalg.norm(b.T @ a) ** 2 / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b))


def _numerator_not_squared(a, b):
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    return np.linalg.norm(b.T @ a) / np.sqrt(np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b))


def _rows_centred(a, b):
    a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    return np.linalg.norm(b.T @ a) ** 2 / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b))


SELF_TEST = [
    (check_linear_cka, "12_explainability.py:linear_cka", [_not_centred, _numerator_not_squared,
                                                         _rows_centred]),
]
