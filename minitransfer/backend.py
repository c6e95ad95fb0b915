"""The only module that knows NumPy from CuPy.

Engine code never writes ``np.`` on data arrays. It asks this module for the array
namespace ``xp`` of the data it holds and calls the Python array API standard's names on
it (``xp.matmul``, ``xp.sum``, ``xp.permute_dims`` ...). NumPy 2 and CuPy both implement
those names, and so does ``array_api_strict``, which the tests use as a stand-in for a GPU
library on machines without one.

Randomness is drawn on the host from a seeded ``numpy.random.Generator`` and then moved to
the device, so the same seed gives the same weights on CPU and GPU.
"""

import math

import numpy as np

_cupy_module = None  # the imported CuPy module once a usable GPU was found
_cupy_problem = None  # why CuPy cannot be used, once we have looked


def namespace(array):
    """Return the array API namespace of ``array`` (``numpy``, ``cupy``, ``array_api_strict``)."""
    if type(array) is np.ndarray:  # the common case, answered without a method call
        return np
    if _is_cupy(array):  # CuPy's main namespace mirrors NumPy 2's array API names
        import cupy

        return cupy
    return array.__array_namespace__()


def _is_cupy(obj):
    return type(obj).__module__.startswith("cupy")


def is_array(obj):
    """True for NumPy, CuPy and other array API arrays (anything with ``__array_namespace__``)."""
    return isinstance(obj, np.ndarray) or hasattr(obj, "__array_namespace__") or _is_cupy(obj)


def device_of(array):
    """'cuda' for CuPy arrays, 'cpu' for everything else."""
    return "cuda" if _is_cupy(array) else "cpu"


def cupy_problem():
    """Return None when CuPy and a GPU are usable, else a sentence saying what is missing.

    The answer is found once (``_probe_cupy``) and remembered.
    """
    global _cupy_module, _cupy_problem
    if _cupy_module is None and _cupy_problem is None:
        _cupy_module, _cupy_problem = _probe_cupy()
    return _cupy_problem


def _probe_cupy():
    """(the cupy module, None) when CuPy and a GPU are usable, else (None, what is missing).

    CuPy is imported lazily and checked in three steps, each inside try/except so that a
    broken driver never crashes ``import minitransfer``: import, device count, a tiny kernel.
    """
    try:
        import cupy
    except Exception as error:  # ImportError, or a CUDA library that fails to load
        return None, (f"CuPy is not installed or failed to import ({type(error).__name__}: "
                      f"{error}); install it with e.g. 'pip install cupy-cuda12x'")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:
        return None, f"CuPy is installed but found no CUDA driver or device ({error})"
    if count < 1:
        return None, "CuPy is installed but no CUDA device is visible"
    try:
        check = cupy.arange(4, dtype=cupy.float32) * 2
        assert float(check.sum()) == 12.0
    except Exception as error:
        return None, f"CuPy found a GPU but could not run a kernel on it ({error})"
    return cupy, None


def gpu_available():
    """True when ``Tensor.to('cuda')`` will work."""
    return cupy_problem() is None


def check_device(device):
    """Normalise a device name ('cpu', 'cuda', 'cuda:0', 'gpu') or raise a clear error."""
    name = str(device).lower()
    if name == "cpu":
        return "cpu"
    if name in ("cuda", "gpu") or name.startswith("cuda:"):
        problem = cupy_problem()
        if problem is not None:
            raise RuntimeError(f"device='{device}' needs a usable GPU, but {problem}")
        return "cuda"
    raise ValueError(f"device: expected 'cpu' or 'cuda', got {device!r}")


def is_on(array, device):
    """True when ``array`` is already what ``to_device(array, device)`` gives (no copy needed)."""
    return device_of(array) == device and (device == "cuda" or isinstance(array, np.ndarray))


def to_device(array, device):
    """Copy ``array`` to ``device`` ('cpu' gives a NumPy array, 'cuda' a CuPy array)."""
    device = check_device(device)
    if is_on(array, device):
        return array
    if device == "cpu":
        return to_numpy(array)
    return _cupy_module.asarray(to_numpy(array))


def to_numpy(array):
    """A host NumPy array holding the same values (a copy for GPU data)."""
    if isinstance(array, np.ndarray):
        return array
    if device_of(array) == "cuda":
        return array.get()
    return np.asarray(array)


def asarray_like(host_array, like):
    """Move a host NumPy array into the namespace (and device) of the array ``like``."""
    return namespace(like).asarray(np.asarray(host_array))


def as_array(data, dtype=None):
    """The array behind ``Tensor(data, dtype=dtype)``, following PyTorch's dtype rules.

    Arrays (NumPy scalars included) keep their dtype, Python floats become float32, ``dtype``
    overrides both; anything that is not bool, int or float is refused.
    """
    from_python = not is_array(data)
    array = np.asarray(data) if from_python or isinstance(data, np.generic) else data
    kind = getattr(array.dtype, "kind", None) or np.dtype(dtype_name(array.dtype)).kind
    if kind not in "biuf":
        raise TypeError(f"Tensor: expected numbers (bool, int or float), got data of dtype "
                        f"{array.dtype} from {type(data).__name__}")
    if from_python and array.dtype == np.float64:
        array = array.astype(np.float32)  # Python floats -> float32, like torch.tensor
    if dtype is not None and dtype_name(array.dtype) != dtype_name(dtype):
        array = namespace(array).astype(array, dtype_like(dtype, array))
    return array


def owns_memory(array):
    """True for a writeable NumPy or CuPy array that is no view of another (a fresh op result)."""
    writeable = array.flags.writeable if type(array) is np.ndarray else _is_cupy(array)
    return writeable and array.base is None


def copy(array):
    """A new array with the same values, on the same device."""
    return array.copy() if type(array) is np.ndarray or _is_cupy(array) else namespace(array).asarray(
        array, copy=True)


def dtype_name(dtype):
    """'float32' for np.float32, np.dtype('float32') or array_api_strict.float32."""
    try:
        return np.dtype(dtype).name
    except TypeError:  # array_api_strict's dtypes print as 'array_api_strict.float32'
        return str(dtype).rsplit(".", 1)[-1]


def dtype_like(dtype, like):
    """The dtype named like ``dtype`` (e.g. float32) in the namespace of ``like``."""
    return getattr(namespace(like), dtype_name(dtype))


def dtype_kind(dtype):
    """NumPy's kind letter of any library's dtype: 'f' float, 'i'/'u' integer, 'b' bool."""
    return np.dtype(dtype_name(dtype)).kind


def is_floating(array):
    """True when the array's dtype is a real floating-point type."""
    return dtype_kind(array.dtype) == "f"


# ---- indexing ------------------------------------------------------------------------------
def host_key(key):
    """An index (an int, slice, None, ..., array or list, or a tuple of them) with each array
    or list in it as a NumPy array, which NumPy and CuPy both accept."""
    parts = tuple(to_numpy(k) if is_array(k) else np.asarray(k) if isinstance(k, list) else k
                  for k in (key if isinstance(key, tuple) else (key,)))
    return parts if isinstance(key, tuple) else parts[0]


def _positions(shape, key):
    """The flat position, in an array of ``shape``, of each element that ``[key]`` picks."""
    return np.arange(math.prod(shape)).reshape(shape)[host_key(key)]


def index(array, key):
    """``array[key]`` for every key NumPy accepts: ints, slices, None, ..., integer arrays (repeats
    allowed), boolean masks, and mixes of them. The array API standard makes some of these
    optional (integer arrays beside slices), so other libraries gather by flat position."""
    if type(array) is np.ndarray or _is_cupy(array):
        return array[host_key(key)]
    xp = namespace(array)
    picked = _positions(array.shape, key)
    flat = xp.take(xp.reshape(array, (-1,)), xp.asarray(picked.reshape(-1)), axis=0)
    return xp.reshape(flat, picked.shape)


def scatter_add(shape, key, values):
    """Zeros of ``shape`` with ``values`` added at ``key``: out[key] += values, where an element
    that ``key`` picks k times receives the sum of its k values (plain ``out[key] = values``
    would keep only the last). The backward of indexing: ``np.add.at`` on NumPy,
    ``cupyx.scatter_add`` on CuPy, and for any other library a one-hot product,
    out_flat = values_flat @ P with P[j, i] = 1 where element j of ``[key]`` is element i."""
    xp = namespace(values)
    out = xp.zeros(shape, dtype=values.dtype)
    if xp is np:
        np.add.at(out, host_key(key), values)
    elif _is_cupy(values):
        import cupyx

        cupyx.scatter_add(out, host_key(key), values)
    else:
        picked = _positions(shape, key).reshape(-1, 1)
        one_hot = xp.astype(xp.asarray(picked == np.arange(math.prod(shape))), values.dtype)
        out = xp.reshape(xp.matmul(xp.reshape(values, (1, -1)), one_hot), shape)
    return out


# ---- host randomness -----------------------------------------------------------------------
_default_generator = np.random.default_rng(0)


def manual_seed(seed):
    """Reseed the package's default generator in place (NumPy's global RNG is never touched).

    In place, so that objects already holding the default generator (a ``DataLoader`` made
    with ``seed=None``) follow the new seed too, as in PyTorch.
    """
    _default_generator.bit_generator.state = np.random.default_rng(seed).bit_generator.state
    return _default_generator


def get_generator(generator=None):
    """Turn ``None`` (the default generator), an int seed or a Generator into a Generator."""
    if generator is None:
        return _default_generator
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    raise TypeError(f"generator: expected None, an int seed or numpy.random.Generator, "
                    f"got {type(generator).__name__}")
