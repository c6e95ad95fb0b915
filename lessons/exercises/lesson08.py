"""Lesson 08's exercise: the adjusted Rand index (08.1)."""

import numpy as np

from exercises import attempted, grade
from minitransfer.clustering import adjusted_rand_index


def _cases():
    """(description, labels_true, labels_pred): named cases first, then random ones."""
    truth = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    rng = np.random.default_rng(0)
    big = rng.integers(0, 5, size=300)
    noisy = np.where(rng.random(300) < 0.3, rng.integers(0, 5, size=300), big)
    return [("the same partition", truth, truth.copy()),
            ("the same partition under other cluster names", truth, np.array([7, 7, 7, 3, 3, 3, 5, 5, 5, 5])),
            ("one image moved to another cluster", truth, np.array([0, 0, 1, 1, 1, 1, 2, 2, 2, 2])),
            ("clusters that split the classes", truth, np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1])),
            ("300 images, 30% of them relabelled at random", big, noisy),
            ("300 images, random clusters", big, rng.integers(0, 5, size=300))]


def _ari_problem(answer):
    for description, labels_true, labels_pred in _cases():
        value = float(attempted(answer(labels_true.copy(), labels_pred.copy())))
        expected = adjusted_rand_index(labels_true, labels_pred)
        if not np.isclose(value, expected, rtol=1e-9, atol=1e-12):
            return f"for {description}, your ARI is {value:.6f}, expected {expected:.6f}"
    return None


def check_adjusted_rand_index(answer):
    """08.1: ``answer(labels_true, labels_pred)`` returns the adjusted Rand index."""
    return grade("08.1", _ari_problem, answer)


# Plausible mistakes the check must reject (tests/test_exercises.py).
def _pairs(counts):
    return float((counts * (counts - 1) / 2).sum())


def _table(a, b):
    table = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(table, (a, b), 1)
    return table


def _rand_index_unadjusted(labels_true, labels_pred):
    """The plain Rand index: the share of pairs the two labelings agree on (not 0 for chance)."""
    table = _table(labels_true, labels_pred)
    n = table.sum()
    total = n * (n - 1) / 2
    both, rows, cols = _pairs(table), _pairs(table.sum(axis=1)), _pairs(table.sum(axis=0))
    return (total + 2 * both - rows - cols) / total


def _matching_labels(labels_true, labels_pred):
    """Accuracy: depends on what the clusters are called."""
    return float(np.mean(labels_true == labels_pred))


def _without_expected_index(labels_true, labels_pred):
    table = _table(labels_true, labels_pred)
    both, rows, cols = _pairs(table), _pairs(table.sum(axis=1)), _pairs(table.sum(axis=0))
    return both / ((rows + cols) / 2)


SELF_TEST = [
    (check_adjusted_rand_index, "08_four_kinds.py:adjusted_rand_index",
     [_rand_index_unadjusted, _matching_labels, _without_expected_index]),
]
