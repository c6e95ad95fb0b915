"""Lesson 11's exercise: a stable log-softmax that runs on any array library (11.1)."""

import numpy as np

from exercises import attempted, grade


def _expected(x):
    """log softmax along the last axis, in float64: x − max − log Σ exp(x − max)."""
    x = np.asarray(x, dtype=np.float64)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _cases():
    rng = np.random.default_rng(0)
    return [("random float32 logits", rng.standard_normal((4, 5)).astype(np.float32)),
            ("logits of 1000 and -1000",
             np.array([[1000.0, 0.0, -1000.0], [3.0, 1000.0, 2.0]], dtype=np.float32)),
            ("float64 logits", rng.standard_normal((2, 7)) * 30)]


def _log_softmax_problem(answer):
    for description, x in _cases():
        result = attempted(answer(x.copy()))
        if type(result) is not np.ndarray or result.shape != x.shape:
            return f"for {description} expected a NumPy array of shape {x.shape}, got {type(result).__name__}"
        if result.dtype != x.dtype:
            return (f"for {description} ({x.dtype}) your result is {result.dtype}: a float64 NumPy scalar "
                    f"(np.max(...) of a float64 array, np.float64(...)) promotes float32 arrays")
        if not np.all(np.isfinite(result)) or not np.allclose(result, _expected(x), rtol=1e-5, atol=1e-4):
            return (f"for {description} your result is {np.round(result, 4).tolist()}, expected "
                    f"{np.round(_expected(x), 4).tolist()} (subtract the row's maximum before exp)")
    try:
        import array_api_strict as strict  # the tests' stand-in for CuPy: only array-API names
    except ImportError:
        print("(array_api_strict is not installed: the case that stands in for a GPU array was skipped)")
        return None
    x = _cases()[0][1]
    result = attempted(answer(strict.asarray(x)))
    if type(result) is not type(strict.asarray(x)):
        return (f"given an array_api_strict array your function returned {type(result).__module__}."
                f"{type(result).__name__}: it left the array's library (on a GPU, that copies to the host "
                f"or fails); use xp = backend.namespace(x) and xp's functions")
    if not np.allclose(np.asarray(result), _expected(x), rtol=1e-5, atol=1e-4):
        return "on an array_api_strict array your result differs from the log-softmax"
    return None


def check_log_softmax(answer):
    """11.1: ``answer(x)`` returns log softmax(x) along the last axis, in x's own library and dtype."""
    return grade("11.1", _log_softmax_problem, answer)


# Plausible mistakes the check must reject (tests/test_exercises.py).
def _naive(x):
    """log(exp(x) / Σ exp(x)): exp(1000) overflows."""
    from minitransfer import backend

    xp = backend.namespace(x)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        e = xp.exp(x)
        return xp.log(e / xp.sum(e, axis=-1, keepdims=True))


def _numpy_only(x):
    """Right on NumPy, but np.* turns any other library's array into a NumPy one."""
    shifted = x - np.max(x, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def _promotes_to_float64(x):
    from minitransfer import backend

    xp = backend.namespace(x)
    shifted = x - np.float64(1.0) * xp.max(x, axis=-1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))


SELF_TEST = [
    (check_log_softmax, "11_gpu_with_cupy.py:log_softmax", [_naive, _numpy_only, _promotes_to_float64]),
]
