"""digits(), TensorDataset and ImageDataset."""

import importlib.machinery
import importlib.util
import subprocess
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
    monkeypatch.setitem(sys.modules, "sklearn", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"pip install minitransfer\[data\]"):
        digits()


def test_digits_read_from_scikit_learns_file_equal_load_digits_and_import_nothing_heavy():
    """digits() reads scikit-learn's csv itself (no 1.5 s import): the same arrays as load_digits,
    also by load_digits itself where the file is not at its usual place."""
    code = ("import sys; from minitransfer.data import digits; d = digits(); "
            "print('sklearn' in sys.modules, d.x.shape)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "(1797,", "64)"]
    load_digits = pytest.importorskip("sklearn.datasets").load_digits
    bunch, data = load_digits(), digits()
    np.testing.assert_array_equal(data.x, (bunch.data / 16.0).astype(np.float32))
    np.testing.assert_array_equal(data.y, bunch.target)


def test_digits_falls_back_to_load_digits_when_the_file_moved(monkeypatch, tmp_path):
    pytest.importorskip("sklearn")
    expected = digits()
    elsewhere = importlib.machinery.ModuleSpec("sklearn", None, origin=str(tmp_path / "__init__.py"))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: elsewhere if name == "sklearn" else real_find_spec(name, *args))
    data = digits()
    np.testing.assert_array_equal(data.x, expected.x)
    np.testing.assert_array_equal(data.y, expected.y)


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
