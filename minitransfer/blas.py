"""axpy, y ← αx + y in one pass over memory: the update θ −= η g without a temporary.

NumPy has no fused "multiply, then add into" for arrays. θ −= η g is two passes in NumPy: η g
into an array of its own, then θ minus that array. The product cannot go into g's own memory,
because the gradient must survive the step (``p.grad`` is read after it). BLAS, the library
NumPy's matrix products run on, has had the one-pass form since its first level (Lawson et
al., "Basic Linear Algebra Subprograms for Fortran Usage", ACM TOMS, 1979): ``axpy``, "a x
plus y". PyTorch's SGD makes the same single pass: ``param.add_(grad, alpha=-lr)``.

Measured here (one thread, arrays 64-byte aligned; benchmarks/README.md, issue 20): θ −= η g
on the 128×784 float32 weight took 21–22 µs in NumPy's two passes and 11 µs by ``axpy``
(lesson 17 measures it again). In a captured training step at batch 64 (three runs of 21
rounds), forward and backward took 300–304 µs; the four parameters' updates added 38–43 µs
in two passes and 15–21 µs by axpy.

``axpy`` finds NumPy's BLAS the first time it is called, through NumPy's compiled core, and
calls its C interface, ``cblas_saxpy`` or ``cblas_daxpy``, with ctypes. It only knows OpenBLAS,
the BLAS of NumPy's wheels. Where it cannot do the work as the two NumPy passes would, it
returns False and changes nothing, and the caller makes the two passes: with another BLAS (MKL,
Accelerate) or none, with arrays that are not contiguous NumPy float32 or float64 arrays of
the same shape and dtype, with arrays that overlap, and with α = 0 (OpenBLAS then leaves y
alone, while y + 0·x is NaN wherever x is NaN, in NumPy and in PyTorch).

One pass can differ from two in the last bit of a number: OpenBLAS's kernel rounds αx + y once
(with a fused multiply-add where the CPU has one; 1,816 of the 100,352 weights of the first
layer differed from NumPy's in one trial here), NumPy rounds αx, and then the sum. Every
optimizer step goes through the same function, eager or captured, so the two kinds of step
still agree bit for bit.
"""

import ctypes

import numpy as np

_FUNCTIONS = {}  # dtype -> OpenBLAS's ctypes function; filled on the first call, if found
_SEARCHED = False


def axpy(alpha, x, y):
    """y ← alpha·x + y in y's memory, one pass; False (y untouched) where BLAS cannot do it."""
    call = _call(x, y) if alpha != 0 else None
    if call is None:
        return False
    function, size, x_address, y_address = call
    if size:
        function(size, alpha, x_address, 1, y_address, 1)
    return True


def prepare_axpy(x, y):
    """``axpy(alpha, x, y)`` for the same two arrays at every call, as a function of alpha
    with the checks and the addresses done once (a captured step's update: about 1 µs a call
    beside the arithmetic, against 2.6 µs for ``axpy``); None where ``axpy`` would return
    False. Call it with alpha ≠ 0."""
    call = _call(x, y)
    if call is None:
        return None
    function, size, x_address, y_address = call

    def prepared(alpha):
        function(size, alpha, x_address, 1, y_address, 1)

    prepared.arrays = x, y  # kept alive with the function: their addresses stay valid
    return prepared


def _call(x, y):
    """(the BLAS function, the size, x's address, y's address) for y ← αx + y, or None when
    BLAS cannot do it as NumPy would."""
    if not _SEARCHED:
        _find_blas()
    function = _FUNCTIONS.get(y.dtype) if type(y) is np.ndarray else None
    if function is None or type(x) is not np.ndarray or x.dtype != y.dtype or x.shape != y.shape:
        return None
    x_flags, y_flags = x.flags, y.flags
    if not (x_flags.c_contiguous and y_flags.c_contiguous and y_flags.writeable):
        return None
    if y.size == 0:
        return function, 0, 0, 0
    x_address, y_address = _address(x, x_flags), _address(y, y_flags)
    if abs(x_address - y_address) < y.nbytes:  # the arrays overlap: NumPy's two passes allow it
        return None
    return function, y.size, x_address, y_address


def available():
    """True when ``axpy`` found a BLAS to call (OpenBLAS), False when every call falls back."""
    if not _SEARCHED:
        _find_blas()
    return bool(_FUNCTIONS)


def _address(array, flags):
    """The address of the array's first element: through the buffer protocol when the array is
    writeable (0.4 µs), else from ``array.ctypes`` (1.1 µs)."""
    if flags.writeable:
        return ctypes.addressof(ctypes.c_char.from_buffer(array))
    return array.ctypes.data


def _find_blas():
    """Look for OpenBLAS's functions in the library NumPy's compiled core was linked against,
    once. (A lookup through the core's handle searches the libraries it loaded, so this finds
    the BLAS NumPy's own products run on, whatever its file is called.)"""
    global _SEARCHED
    _SEARCHED = True
    core = getattr(getattr(np, "_core", None), "_multiarray_umath", None)  # NumPy 2's layout
    path = getattr(core, "__file__", None)
    if path is not None:
        _FUNCTIONS.update(_openblas_functions(path))


def _openblas_functions(path):
    """{dtype: cblas_?axpy} from OpenBLAS, looked up through the library at ``path`` (and the
    libraries it loaded), or {} where there is none.

    NumPy's wheels rename OpenBLAS's symbols ("scipy_" before, "64_" after); the integer width
    of the interface (32 or 64 bits) is read from the library's own build string."""
    try:
        library = ctypes.CDLL(path)
    except OSError:
        return {}
    for prefix in ("scipy_", ""):
        for suffix in ("64_", ""):
            config = getattr(library, f"{prefix}openblas_get_config{suffix}", None)
            if config is None:
                continue
            config.restype = ctypes.c_char_p
            integer = ctypes.c_int64 if b"USE64BITINT" in config() else ctypes.c_int
            functions = {}
            for dtype, letter, real in ((np.float32, "s", ctypes.c_float),
                                        (np.float64, "d", ctypes.c_double)):
                function = getattr(library, f"{prefix}cblas_{letter}axpy{suffix}", None)
                if function is None:
                    return {}
                function.restype = None
                function.argtypes = [integer, real, ctypes.c_void_p, integer, ctypes.c_void_p, integer]
                functions[np.dtype(dtype)] = function
            return functions
    return {}
