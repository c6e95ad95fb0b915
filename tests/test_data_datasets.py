"""digits(), TensorDataset and ImageDataset."""

import sys

import numpy as np
import pytest

from minitransfer.data import ImageDataset, TensorDataset, digits


def test_digits_shape_dtype_range_labels():
    pytest.importorskip("sklearn")
    data = digits()
    assert isinstance(data, ImageDataset) and isinstance(data, TensorDataset)
    assert data.x.shape == (1797, 64) and data.x.dtype == np.float32
    assert data.y.shape == (1797,) and data.y.dtype == np.int64
    assert data.x.min() == 0.0 and data.x.max() == 1.0
    np.testing.assert_array_equal(np.unique(data.y), np.arange(10))
    assert data.image_shape == (8, 8) and data.num_classes == 10
    assert len(data) == 1797 and data[3][1] == data.y[3]


def test_digits_without_scikit_learn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"pip install minitransfer\[data\]"):
        digits()


def test_tensor_dataset_indexing_and_errors():
    x, y = np.zeros((4, 3), np.float32), np.arange(4)
    data = TensorDataset(x, y)
    assert len(data) == 4 and data[1][1] == 1
    assert data[np.array([0, 2])][0].shape == (2, 3)
    with pytest.raises(ValueError, match=r"same first dimension.*\[4, 3\]"):
        TensorDataset(x, np.arange(3))
    with pytest.raises(ValueError, match="at least one array"):
        TensorDataset()
    with pytest.raises(TypeError, match="numbers"):
        TensorDataset(np.array([None, 1.0]))
    with pytest.raises(TypeError, match="numbers"):
        TensorDataset(np.array(["a", "b"]))


def test_image_dataset_checks_its_arguments():
    x, y = np.zeros((2, 4), np.float64), np.array([0, 1], np.int32)
    data = ImageDataset(x, y, image_shape=(2, 2), class_names=["a", "b"])
    assert data.x.dtype == np.float32 and data.y.dtype == np.int64  # PyTorch's default dtypes
    with pytest.raises(ValueError, match=r"image_shape.*H\*W = 4"):
        ImageDataset(x, y, image_shape=(3, 3))
    with pytest.raises(TypeError, match="floating-point"):
        ImageDataset(x.astype(np.uint8), y, image_shape=(2, 2))
    with pytest.raises(TypeError, match="integer labels"):
        ImageDataset(x, y.astype(np.float32), image_shape=(2, 2))
    with pytest.raises(ValueError, match="class_names"):
        ImageDataset(x, y, image_shape=(2, 2), class_names=["only one"])
