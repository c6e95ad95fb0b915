"""Splits: class subsets, k labelled examples per class, stratified train/test splits."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minitransfer.data import (
    ImageDataset,
    TensorDataset,
    class_subset,
    k_per_class,
    k_per_class_indices,
    stratified_split_indices,
    train_test_split,
)


def toy(counts=(5, 7, 4, 9)):
    """Labels with the given number of examples per class, interleaved; x[i] = i."""
    y = np.concatenate([np.full(n, c) for c, n in enumerate(counts)])
    y = y[np.random.default_rng(1).permutation(len(y))]
    x = np.arange(len(y), dtype=np.float32)[:, None] * np.ones((1, 4), np.float32)
    return x, y.astype(np.int64)


def test_class_subset_keeps_and_relabels_in_given_order():
    x, y = toy()
    sub_x, sub_y = class_subset((x, y), [3, 1])
    kept = np.flatnonzero((y == 3) | (y == 1))
    np.testing.assert_array_equal(sub_x[:, 0], kept)  # the kept examples, in their order
    np.testing.assert_array_equal(sub_y, np.where(y[kept] == 3, 0, 1))  # 3 -> 0, 1 -> 1
    _, same_y = class_subset((x, y), [3, 1], relabel=False)
    np.testing.assert_array_equal(same_y, y[kept])


def test_class_subset_keeps_the_kind_of_data():
    x, y = toy()
    images = ImageDataset(x, y, image_shape=(2, 2), class_names="abcd")
    sub = class_subset(images, [2, 0])
    assert isinstance(sub, ImageDataset) and sub.class_names == ("c", "a")
    assert sub.image_shape == (2, 2) and len(sub) == 4 + 5
    assert isinstance(class_subset(TensorDataset(x, y), [0]), TensorDataset)


def test_class_subset_errors():
    x, y = toy()
    with pytest.raises(ValueError, match="class 7 has no examples"):
        class_subset((x, y), [0, 7])
    with pytest.raises(ValueError, match="distinct"):
        class_subset((x, y), [1, 1])
    with pytest.raises(TypeError, match="integer labels"):
        class_subset((x, y.astype(np.float32)), [1])


@given(k=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_k_per_class_counts_are_exact(k, seed):
    x, y = toy()
    xk, yk = k_per_class(x, y, k, seed)
    np.testing.assert_array_equal(np.bincount(yk), [k] * 4)
    # Every chosen example is a real example with its own label (x[i] = i).
    np.testing.assert_array_equal(y[xk[:, 0].astype(int)], yk)


def test_k_per_class_seed_determinism_and_none():
    _, y = toy()
    a, b = k_per_class_indices(y, 3, seed=0), k_per_class_indices(y, 3, seed=0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, k_per_class_indices(y, 3, seed=1))
    np.testing.assert_array_equal(k_per_class_indices(y, None, seed=0), np.arange(len(y)))


@pytest.mark.parametrize("seed", range(5))
def test_k_per_class_draws_without_replacement(seed):
    _, y = toy()
    chosen = k_per_class_indices(y, 4, seed)  # 4 = the size of class 2: all of it, each once
    assert len(np.unique(chosen)) == len(chosen) == 16
    np.testing.assert_array_equal(chosen[y[chosen] == 2], np.flatnonzero(y == 2))


def test_k_larger_than_the_smallest_class_names_k_class_and_count():
    x, y = toy()
    with pytest.raises(ValueError, match=r"k=5 is larger than class 2, which has only 4 examples"):
        k_per_class(x, y, 5, seed=0)
    with pytest.raises(ValueError, match="k: expected an int >= 1"):
        k_per_class(x, y, 0, seed=0)


@given(fraction=st.floats(0.1, 0.9), seed=st.integers(0, 2**32 - 1))
def test_stratified_split_is_a_disjoint_partition(fraction, seed):
    _, y = toy()
    train, test = stratified_split_indices(y, fraction, seed)
    assert len(np.intersect1d(train, test)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(len(y)))
    for c, n in enumerate((5, 7, 4, 9)):  # each class on both sides, in proportion
        n_test = np.sum(y[test] == c)
        assert 1 <= n_test <= n - 1 and abs(n_test - fraction * n) <= 1


def test_stratified_split_rounds_each_class_share():
    # classes of 5, 7, 4, 9 examples, test_fraction 0.35: 1.75, 2.45, 1.4, 3.15 round to 2, 2, 1, 3
    # (flooring would give 1, 2, 1, 3)
    _, y = toy()
    _, test = stratified_split_indices(y, 0.35, seed=0)
    np.testing.assert_array_equal(np.bincount(y[test]), [2, 2, 1, 3])
    # and the clamp: every class keeps at least one example on each side
    _, test = stratified_split_indices(y, 0.05, seed=0)
    np.testing.assert_array_equal(np.bincount(y[test]), [1, 1, 1, 1])


def test_train_test_split_seeds():
    x, y = toy()
    a = train_test_split(x, y, 0.25, seed=3)
    b = train_test_split(x, y, 0.25, seed=3)
    c = train_test_split(x, y, 0.25, seed=4)
    for left, right in zip(a, b):
        np.testing.assert_array_equal(left, right)
    assert not np.array_equal(a[1], c[1])
    x_train, x_test, y_train, y_test = a
    assert len(x_train) + len(x_test) == len(x) and len(y_train) == len(x_train)
    assert set(x_train[:, 0]).isdisjoint(x_test[:, 0])


def test_train_test_split_errors():
    x, y = toy()
    with pytest.raises(ValueError, match="test_fraction"):
        train_test_split(x, y, 1.0, seed=0)
    with pytest.raises(ValueError, match="class 1 has only 1 example"):
        train_test_split(x[:3], np.array([0, 1, 0]), 0.5, seed=0)
    with pytest.raises(ValueError, match="expected 3 examples"):
        train_test_split(x[:2], np.array([0, 1, 0]), 0.5, seed=0)
