"""Lesson 10's exercise: Holm's adjusted p-values (10.1)."""

import numpy as np

from exercises import attempted, grade
from minitransfer import stats

_CASES = ([0.01, 0.04, 0.03, 0.005], [0.2], [0.001, 0.001, 0.5], [0.04, 0.01, 0.30, 0.02, 0.012],
          [0.9, 0.5, 0.6, 0.05, 0.4, 0.8], [0.03, 0.02])


def _holm_problem(answer):
    for p_values in _CASES:
        adjusted = np.asarray(attempted(answer(list(p_values))), dtype=np.float64)
        expected = stats.holm(p_values)
        if adjusted.shape != expected.shape or not np.allclose(adjusted, expected, rtol=1e-12):
            return (f"for p = {p_values} you gave {np.round(adjusted, 4).tolist()}, "
                    f"expected {np.round(expected, 4).tolist()}")
    return None


def check_holm(answer):
    """10.1: ``answer(p_values)`` returns Holm's adjusted p-values in the order given."""
    return grade("10.1", _holm_problem, answer)


# Plausible mistakes the check must reject (tests/test_exercises.py).
def _bonferroni(p_values):
    return np.minimum(1.0, len(p_values) * np.asarray(p_values))


def _without_the_running_maximum(p_values):
    p = np.asarray(p_values)
    order = np.argsort(p)
    adjusted = np.empty(len(p))
    adjusted[order] = np.minimum(1.0, (len(p) - np.arange(len(p))) * p[order])
    return adjusted


def _left_sorted(p_values):
    p = np.sort(p_values)
    return np.maximum.accumulate(np.minimum(1.0, (len(p) - np.arange(len(p))) * p))


def _multiplied_by_the_rank(p_values):
    p = np.asarray(p_values)
    order = np.argsort(p)
    adjusted = np.empty(len(p))
    adjusted[order] = np.maximum.accumulate(np.minimum(1.0, (np.arange(len(p)) + 1) * p[order]))
    return adjusted


SELF_TEST = [
    (check_holm, "10_faq_experiments.py:holm_adjust",
     [_bonferroni, _without_the_running_maximum, _left_sorted, _multiplied_by_the_rank]),
]
