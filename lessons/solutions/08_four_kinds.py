"""Worked solution to lesson 08's exercise (checked by lessons/exercises/lesson08.py)."""

import numpy as np


def adjusted_rand_index(labels_true, labels_pred):
    """08.1: (Σ C(n_ij, 2) − E) / (½[Σ C(a_i, 2) + Σ C(b_j, 2)] − E), E the value expected by chance."""
    _, a = np.unique(labels_true, return_inverse=True)  # names -> 0, 1, 2, ...
    _, b = np.unique(labels_pred, return_inverse=True)
    table = np.zeros((a.max() + 1, b.max() + 1))
    for i, j in zip(a, b):  # the contingency table n_ij
        table[i, j] += 1

    def pairs(counts):  # Σ C(c, 2): pairs of items that share a class, or a cluster, or both
        return float((counts * (counts - 1) / 2).sum())

    n = table.sum()
    both, rows, cols = pairs(table), pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    expected = rows * cols / (n * (n - 1) / 2)
    maximum = (rows + cols) / 2
    if maximum == expected:  # both labelings trivial: one cluster, or every item alone
        return 1.0
    return (both - expected) / (maximum - expected)
