"""Worked solution to lesson 10's exercise (checked by lessons/exercises/lesson10.py)."""

import numpy as np


def holm_adjust(p_values):
    """10.1: p₍ᵢ₎ · (m − i + 1) for the i-th smallest, at most 1, non-decreasing, in the given order."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    order = np.argsort(p, kind="stable")  # indices of the p-values from smallest to largest
    adjusted_sorted = np.empty(m)
    running = 0.0
    for i, index in enumerate(order):  # i = 0 for the smallest: multiplied by m
        running = max(running, min(1.0, (m - i) * p[index]))  # never below the one before
        adjusted_sorted[i] = running
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted  # back to the order given
    return adjusted
