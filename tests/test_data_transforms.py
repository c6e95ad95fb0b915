"""Transforms of flattened square images: shapes, ranges, seeds and hand-computed cases."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minitransfer.data import transforms


@st.composite
def image_batches(draw):
    """A float32 batch (N, side*side) with pixels in [0, 1], and its side."""
    n, side = draw(st.integers(1, 6)), draw(st.integers(1, 7))
    seed = draw(st.integers(0, 2**32 - 1))
    x = np.random.default_rng(seed).random((n, side * side), dtype=np.float32)
    return x, side


def keeps_shape_dtype_range(out, x):
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out.flags.c_contiguous


@given(image_batches(), st.integers(0, 3), st.integers(0, 1000))
def test_random_transforms_are_deterministic_and_keep_range(batch, max_shift, seed):
    x, _ = batch
    before = x.copy()
    for transform in (lambda s: transforms.jitter(x, max_shift=max_shift, seed=s),
                      lambda s: transforms.add_noise(x, sigma=0.3, seed=s),
                      lambda s: transforms.permute_pixels(x, seed=s)):
        out = transform(seed)
        keeps_shape_dtype_range(out, x)
        np.testing.assert_array_equal(out, transform(seed))
    np.testing.assert_array_equal(x, before)  # the input is never modified


@given(image_batches(), st.integers(-5, 5))
def test_deterministic_transforms_keep_shape_and_range(batch, k):
    x, side = batch
    for out in (transforms.rotate90(x, k), transforms.hflip(x), transforms.invert(x)):
        keeps_shape_dtype_range(out, x)
    np.testing.assert_array_equal(transforms.rotate90(x, k=4), x)
    np.testing.assert_array_equal(transforms.rotate90(transforms.rotate90(x, k), -k), x)
    np.testing.assert_array_equal(transforms.hflip(transforms.hflip(x)), x)
    np.testing.assert_allclose(transforms.invert(transforms.invert(x)), x, atol=1e-7)


def test_rotate90_by_hand():
    two = np.array([[1, 2, 3, 4]], np.float32)  # [[1, 2], [3, 4]]
    np.testing.assert_array_equal(transforms.rotate90(two, k=1), [[2, 4, 1, 3]])  # [[2, 4], [1, 3]]
    np.testing.assert_array_equal(transforms.rotate90(two, k=2), [[4, 3, 2, 1]])
    three = np.arange(1, 10, dtype=np.float32)[None]  # [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    np.testing.assert_array_equal(transforms.rotate90(three, k=1), [[3, 6, 9, 2, 5, 8, 1, 4, 7]])
    np.testing.assert_array_equal(transforms.rotate90(three, k=-1), [[7, 4, 1, 8, 5, 2, 9, 6, 3]])


def test_hflip_and_invert_by_hand():
    three = np.arange(1, 10, dtype=np.float32)[None] / 10
    np.testing.assert_allclose(transforms.hflip(three) * 10, [[3, 2, 1, 6, 5, 4, 9, 8, 7]])
    np.testing.assert_allclose(transforms.invert(np.array([[0.0, 0.25, 1.0, 0.5]], np.float32)),
                               [[1.0, 0.75, 0.0, 0.5]])


@given(image_batches(), st.integers(0, 1000))
def test_jitter_by_zero_is_the_identity(batch, seed):
    x, _ = batch
    np.testing.assert_array_equal(transforms.jitter(x, max_shift=0, seed=seed), x)


@given(st.integers(1, 3), st.integers(0, 1000))
def test_jitter_moves_a_single_pixel_by_at_most_max_shift(max_shift, seed):
    side, n = 9, 40
    x = np.zeros((n, side, side), np.float32)
    x[:, 4, 4] = 1.0  # a single bright pixel in the centre: it never leaves the frame
    out = transforms.jitter(x.reshape(n, -1), max_shift=max_shift, seed=seed).reshape(n, side, side)
    assert np.all(out.sum(axis=(1, 2)) == 1.0)  # the pixel moved, nothing else appeared
    rows, cols = np.nonzero(out.max(axis=2))[1], np.nonzero(out.max(axis=1))[1]
    assert np.all(np.abs(rows - 4) <= max_shift) and np.all(np.abs(cols - 4) <= max_shift)
    assert len(set(zip(rows, cols))) > 1  # images get different shifts


def test_jitter_shift_drops_what_leaves_the_frame():
    x = np.zeros((200, 3, 3), np.float32)
    x[:, 0, 0] = 1.0  # a corner pixel: shifts up or left push it out of the frame
    out = transforms.jitter(x.reshape(200, -1), max_shift=1, seed=0)
    sums = out.sum(axis=1)
    assert set(sums.tolist()) == {0.0, 1.0}


@given(image_batches(), st.integers(0, 3), st.integers(0, 1000), st.data())
def test_jitter_of_some_rows_is_those_rows_of_the_full_jitter(batch, max_shift, seed, data):
    x, _ = batch
    rows = np.array(data.draw(st.lists(st.integers(0, len(x) - 1), max_size=8)), dtype=np.int64)
    out = transforms.jitter(x, max_shift, seed, rows=rows)
    np.testing.assert_array_equal(out, transforms.jitter(x, max_shift, seed)[rows])
    assert out.shape == (len(rows), x.shape[1]) and out.dtype == x.dtype


def test_jitter_refuses_bad_rows():
    x = np.zeros((4, 9), np.float32)
    with pytest.raises(ValueError, match=r"jitter: rows: expected indices in \[0, 4\), got values "
                                         r"from 4 to 4"):
        transforms.jitter(x, 1, 0, rows=np.array([4]))
    with pytest.raises(ValueError, match="jitter: rows: expected a 1-D array of integer indices, "
                                         "got dtype float64"):
        transforms.jitter(x, 1, 0, rows=np.array([0.5]))


def test_different_seeds_differ():
    x = np.random.default_rng(0).random((8, 64), dtype=np.float32)
    assert not np.array_equal(transforms.jitter(x, 2, seed=0), transforms.jitter(x, 2, seed=1))
    assert not np.array_equal(transforms.add_noise(x, 0.1, seed=0), transforms.add_noise(x, 0.1, seed=1))


@given(image_batches(), st.integers(0, 1000))
def test_permute_pixels_is_one_fixed_permutation(batch, seed):
    x, _ = batch
    out = transforms.permute_pixels(x, seed=seed)
    np.testing.assert_array_equal(np.sort(out, axis=1), np.sort(x, axis=1))  # same values per image
    perm = transforms.pixel_permutation(x.shape[1], seed)
    np.testing.assert_array_equal(out, x[:, perm])  # the same permutation for every image


def test_add_noise_statistics_and_zero_sigma():
    x = np.full((200, 64), 0.5, np.float32)
    noisy = transforms.add_noise(x, sigma=0.1, seed=0)
    assert abs(float(noisy.std()) - 0.1) < 0.01 and abs(float(noisy.mean()) - 0.5) < 0.01
    np.testing.assert_array_equal(transforms.add_noise(x, sigma=0, seed=0), x)


def test_side_is_inferred_or_checked():
    x = np.zeros((2, 12), np.float32)  # 12 pixels: not a square
    with pytest.raises(ValueError, match="not a square"):
        transforms.hflip(x)
    with pytest.raises(ValueError, match=r"side: expected an int with side \* side = 12"):
        transforms.rotate90(x, side=3)
    with pytest.raises(ValueError, match="shape"):
        transforms.hflip(np.zeros(16, np.float32))
    with pytest.raises(TypeError, match="floating-point"):
        transforms.invert(np.zeros((2, 4), np.uint8))
    with pytest.raises(ValueError, match="max_shift"):
        transforms.jitter(np.zeros((2, 4), np.float32), max_shift=-1, seed=0)
    with pytest.raises(ValueError, match="sigma"):
        transforms.add_noise(np.zeros((2, 4), np.float32), sigma=-0.1, seed=0)
