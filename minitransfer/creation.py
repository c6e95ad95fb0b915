"""Functions that make new tensors: tensor, from_numpy, zeros, ones, randn, rand, arange
(PyTorch's names).

Random values are drawn on the host from a seeded ``numpy.random.Generator`` (the package's
default one, reseeded by ``manual_seed``, or the ``generator=`` given: a Generator or an int
seed), then moved to ``device``: the same seed gives the same numbers on CPU and GPU.
"""

import numpy as np

from minitransfer import backend
from minitransfer.tensor import Tensor

manual_seed = backend.manual_seed


def _shape(shape):
    shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    for n in shape:
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"shape: expected non-negative integers, got {tuple(shape)}")
    return tuple(int(n) for n in shape)


def _make(array, dtype, device, requires_grad):
    t = Tensor(array, dtype=dtype or np.float32)
    if device is not None:
        t = t.to(device)
    return t.requires_grad_(True) if requires_grad else t


def tensor(data, dtype=None, device=None, requires_grad=False):
    """Build a tensor from numbers, lists, arrays or tensors (``minitransfer.tensor([1.0, 2.0])``).

    The tensor gets its own copy of the values, as with ``torch.tensor``: an optimizer step on it
    leaves the caller's array alone. ``from_numpy`` shares the array's memory instead.
    """
    source = data.data if isinstance(data, Tensor) else data
    t = Tensor(source, dtype=dtype)
    if t.data is source:  # the caller's array itself (no conversion made a new one): copy it
        t.data = backend.copy(source)
    if device is not None:
        t = t.to(device)
    return t.requires_grad_(requires_grad) if requires_grad else t


def from_numpy(array):
    """A tensor that shares the memory of a NumPy array, as ``torch.from_numpy``: a change to
    one shows in the other. The array's dtype is kept (float64 stays float64)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


def zeros(*shape, dtype=None, device=None, requires_grad=False):
    return _make(np.zeros(_shape(shape)), dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False):
    return _make(np.ones(_shape(shape)), dtype, device, requires_grad)


def full(shape, value, dtype=None, device=None, requires_grad=False):
    return _make(np.full(_shape((shape,)), value), dtype, device, requires_grad)


def randn(*shape, generator=None, dtype=None, device=None, requires_grad=False):
    """Standard normal samples N(0, 1)."""
    values = backend.get_generator(generator).standard_normal(_shape(shape))
    return _make(values, dtype, device, requires_grad)


def rand(*shape, generator=None, dtype=None, device=None, requires_grad=False):
    """Uniform samples on [0, 1)."""
    values = backend.get_generator(generator).random(_shape(shape))
    return _make(values, dtype, device, requires_grad)


def arange(start, stop=None, step=1, dtype=None, device=None):
    """Integers (int64) by default, floats when ``dtype`` says so, as in PyTorch."""
    values = np.arange(start, stop, step) if stop is not None else np.arange(start)
    return _make(values, dtype or values.dtype, device, False)


def zeros_like(t, dtype=None):
    return _make(np.zeros(t.shape), dtype or t.dtype, t.device, False)


def ones_like(t, dtype=None):
    return _make(np.ones(t.shape), dtype or t.dtype, t.device, False)
