"""DataLoader: batch sizes, drop_last, shuffling under a seed, one visit per example per epoch."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minitransfer import Tensor, gpu_available, manual_seed
from minitransfer.data import DataLoader, ImageDataset, TensorDataset


def numbered(n):
    """x[i] = [i, i] as float32, y[i] = i as int64, so a batch says which examples it holds."""
    x = np.repeat(np.arange(n, dtype=np.float32)[:, None], 2, axis=1)
    return TensorDataset(x, np.arange(n, dtype=np.int64))


def seen(loader):
    """The example indices of one epoch, batch by batch."""
    return [yb.numpy().tolist() for _, yb in loader]


@given(n=st.integers(1, 40), batch_size=st.integers(1, 12), drop_last=st.booleans(),
       shuffle=st.booleans())
def test_batch_sizes_and_one_visit_per_epoch(n, batch_size, drop_last, shuffle):
    if drop_last and batch_size > n:
        return  # refused with a ValueError, tested below
    loader = DataLoader(numbered(n), batch_size=batch_size, shuffle=shuffle, seed=0, drop_last=drop_last)
    for _ in range(2):  # two epochs
        batches = seen(loader)
        assert len(batches) == len(loader)
        sizes = [len(b) for b in batches]
        full, rest = divmod(n, batch_size)
        expected = [batch_size] * full + ([rest] if rest and not drop_last else [])
        assert sizes == expected
        indices = sorted(i for b in batches for i in b)
        if drop_last:
            assert len(set(indices)) == len(indices) == full * batch_size  # no repeats
        else:
            assert indices == list(range(n))  # every example exactly once


def test_batches_are_tensors_with_the_data_dtypes():
    data = ImageDataset(np.random.default_rng(0).random((10, 4)), np.arange(10) % 3, image_shape=(2, 2))
    xb, yb = next(iter(DataLoader(data, batch_size=4)))
    assert isinstance(xb, Tensor) and isinstance(yb, Tensor)
    assert xb.shape == (4, 4) and xb.dtype == np.float32 and yb.dtype == np.int64
    assert xb.device == "cpu" and not xb.requires_grad
    np.testing.assert_array_equal(xb.numpy(), data.x[:4])
    xb.data[:] = -1.0  # a batch is a copy: changing it leaves the data set alone
    assert data.x.min() >= 0.0


def test_no_shuffle_keeps_the_order_and_len():
    loader = DataLoader(numbered(10), batch_size=4)
    assert len(loader) == 3 and seen(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert len(DataLoader(numbered(10), batch_size=4, drop_last=True)) == 2


def test_shuffle_is_deterministic_under_a_seed_and_reshuffles_each_epoch():
    a = DataLoader(numbered(30), batch_size=7, shuffle=True, seed=5)
    b = DataLoader(numbered(30), batch_size=7, shuffle=True, seed=5)
    epochs_a = [seen(a) for _ in range(3)]
    assert epochs_a == [seen(b) for _ in range(3)]  # same seed: same batches, epoch by epoch
    assert epochs_a[0] != epochs_a[1]  # a new order every epoch
    assert seen(DataLoader(numbered(30), batch_size=7, shuffle=True, seed=6)) != epochs_a[0]
    assert epochs_a[0] != seen(DataLoader(numbered(30), batch_size=7))  # really shuffled


def test_seed_none_uses_the_package_generator():
    manual_seed(11)
    first = seen(DataLoader(numbered(20), batch_size=5, shuffle=True))
    manual_seed(11)
    assert seen(DataLoader(numbered(20), batch_size=5, shuffle=True)) == first
    np.random.seed(0)  # NumPy's global RNG has no influence
    manual_seed(11)
    assert seen(DataLoader(numbered(20), batch_size=5, shuffle=True)) == first


def test_non_finite_data_names_the_array_and_the_index():
    x = np.ones((6, 3), np.float32)
    x[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"array 0.*nan at index \(4, 1\)"):
        DataLoader(TensorDataset(x, np.arange(6)))
    x[4, 1] = 1.0
    x[2, 0] = np.inf
    with pytest.raises(ValueError, match=r"dataset x: .*inf at index \(2, 0\)"):
        DataLoader(ImageDataset(x.copy()[:, :1].repeat(4, axis=1), np.arange(6), image_shape=(2, 2)))


def test_bad_arguments():
    with pytest.raises(ValueError, match="empty"):
        DataLoader(TensorDataset(np.zeros((0, 2), np.float32)))
    with pytest.raises(ValueError, match="batch_size: expected an int >= 1, got 0"):
        DataLoader(numbered(3), batch_size=0)
    with pytest.raises(TypeError, match="batch_size"):
        DataLoader(numbered(3), batch_size=2.0)
    with pytest.raises(ValueError, match="drop_last"):
        DataLoader(numbered(3), batch_size=4, drop_last=True)
    with pytest.raises(TypeError, match="TensorDataset"):
        DataLoader((np.zeros(3), np.zeros(3)))
    with pytest.raises(ValueError, match="device"):
        DataLoader(numbered(3), device="tpu")


@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a GPU")
def test_batches_move_to_the_gpu():
    xb, yb = next(iter(DataLoader(numbered(8), batch_size=4, device="cuda")))
    assert xb.device == "cuda" and yb.device == "cuda"
    np.testing.assert_array_equal(yb.numpy(), [0, 1, 2, 3])
