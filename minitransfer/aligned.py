"""Arrays that start on a 64-byte boundary, for the buffers a training step reuses.

NumPy takes an array's memory from the C library's ``malloc`` (NEP 49), which promises 16-byte
alignment on x86-64: a 400 kB array often starts 16 bytes past a 64-byte boundary. The CPU moves
memory in 64-byte cache lines, and an AVX-512 instruction loads 64 bytes at a time, so on such an
array every wide load straddles two lines. PyTorch's CPU allocator aligns every buffer to 64
bytes for this reason (``c10/core/alignment.h``: gAlignment = 64, "enough for computation up to
AVX512").

Measured here (benchmarks/README.md, issue 20): θ −= η g on the 128×784 float32 weight took
21 µs on 64-byte-aligned arrays and 26–27 µs on arrays 16 or 48 bytes off, with one thread.

An eager op's results are fresh arrays that NumPy places; what is allocated once and reused at
every step is aligned here: a captured step's buffers (``replay``), an optimizer's work arrays
and state (``optim``). CuPy arrays are left to CuPy: GPU allocations are aligned to at least
256 bytes (CUDA C++ Programming Guide, "Device Memory Accesses").
"""

import math

import numpy as np

from minitransfer import backend

ALIGNMENT = 64  # bytes: a cache line, and the width of an AVX-512 register


def empty(shape, dtype, like):
    """An uninitialised array of ``shape`` and ``dtype`` on ``like``'s device; on the CPU its
    first element sits at an address that is a multiple of ``ALIGNMENT``.

    NumPy has no aligned allocation, so a byte buffer ALIGNMENT bytes too long is taken and
    the array starts at its first aligned byte (the array is a view that keeps the buffer)."""
    if type(like) is not np.ndarray:
        return backend.namespace(like).empty(shape, dtype=dtype)
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def empty_like(array):
    """``empty`` with the shape, dtype and device of ``array``."""
    if type(array) is not np.ndarray:
        return backend.namespace(array).empty_like(array)
    return empty(array.shape, array.dtype, array)


def zeros_like(array):
    """Zeros with the shape, dtype and device of ``array``, aligned on the CPU."""
    if type(array) is not np.ndarray:
        return backend.namespace(array).zeros_like(array)
    out = empty_like(array)
    out[...] = 0
    return out


def copy(array):
    """A copy of ``array`` in a buffer of its own, aligned on the CPU."""
    if type(array) is not np.ndarray:
        return backend.copy(array)
    out = empty_like(array)
    out[...] = array
    return out
