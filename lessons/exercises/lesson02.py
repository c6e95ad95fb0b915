"""Lesson 02's exercises: central differences and ``unbroadcast``, written yourself.

02.1 ``numerical_gradient(f, x, eps)``: the central difference (f(x + εeⱼ) − f(x − εeⱼ)) / 2ε for
     every element j of the float64 array ``x`` (any shape), where ``f`` maps an array of x's
     shape to one number; returns an array of x's shape and leaves ``x`` as it found it.
02.2 ``unbroadcast(grad, shape)``: ``grad`` summed over the axes that broadcasting created or
     stretched, returned with exactly ``shape``.
"""

import numpy as np

from exercises import attempted, grade
from minitransfer.functions import unbroadcast as engine_unbroadcast

__all__ = ["check_numerical_gradient", "check_unbroadcast"]

_U = np.array([[0.5, -1.2, 2.0], [1.5, 0.3, -0.7]])

# f, its exact gradient, the point x: smooth functions whose second and third derivatives are
# not small, so a one-sided difference (error ~ ε) shows while a central one (~ ε²) does not.
_FUNCTIONS = {
    "sum(u * exp(x))": (lambda x: float(np.sum(_U * np.exp(x))), lambda x: _U * np.exp(x),
                        np.array([[0.2, -1.0, 1.3], [0.7, -0.4, 1.9]])),
    "sum(sin(x) * x**2)": (lambda x: float(np.sum(np.sin(x) * x**2)),
                           lambda x: np.cos(x) * x**2 + 2 * x * np.sin(x),
                           np.array([1.1, -2.3, 0.6, 2.9])),
    "log(sum(exp(x)))": (lambda x: float(np.log(np.sum(np.exp(x)))),
                         lambda x: np.exp(x) / np.sum(np.exp(x)), np.array([[1.0, -0.5], [2.0, 0.25]])),
}
EPS = 1e-4  # large enough that a one-sided difference is visibly off, small enough for ε²


def check_numerical_gradient(numerical_gradient):
    """Exercise 02.1: central differences, one element at a time, with the ε given."""

    def check(answer):
        for name, (f, exact, x) in _FUNCTIONS.items():
            point = x.copy()
            yours = np.asarray(attempted(answer(f, point, EPS)), dtype=np.float64)
            if not np.array_equal(point, x):
                return f"for {name}, your function changed x (put each element back after nudging it)"
            if yours.shape != x.shape:
                return f"for {name}, expected an array of shape {x.shape}, got {yours.shape}"
            worst = float(np.max(np.abs(yours - exact(x))))
            if worst > 1e-7:
                return (f"for {name} with eps = {EPS:g}, your gradient is off the exact one by up to "
                        f"{worst:.1e}; central differences are off by about eps² = {EPS**2:.0e}")
        return None

    return grade("02.1", check, numerical_gradient)


_SHAPES = [((3, 4), (4,)), ((3, 4), (3, 1)), ((2, 3, 4), (3, 1)), ((2, 3, 4), ()),
           ((2, 3, 4), (1, 4)), ((2, 1, 4), (1, 1, 4)), ((5,), (1,)), ((3, 4), (3, 4))]


def check_unbroadcast(unbroadcast):
    """Exercise 02.2: sum over the stretched axes, return exactly ``shape``."""

    def check(answer):
        rng = np.random.default_rng(2)
        for grad_shape, shape in _SHAPES:
            g = rng.standard_normal(grad_shape)
            yours = np.asarray(attempted(answer(g.copy(), shape)))
            right = engine_unbroadcast(g, shape)
            if yours.shape != tuple(shape):
                return f"grad of shape {grad_shape} to shape {shape}: got an array of shape {yours.shape}"
            if not np.allclose(yours, right, rtol=1e-12, atol=1e-12):
                return (f"grad of shape {grad_shape} to shape {shape}: got {np.round(yours, 3).tolist()}, "
                        f"expected {np.round(right, 3).tolist()}")
        return None

    return grade("02.2", check, unbroadcast)


# --- what tests/test_exercises.py runs: mistakes each check must catch ---

def _forward_difference(f, x, eps):
    """Wrong: one-sided (f(x + εeⱼ) − f(x)) / ε, error of order ε."""
    out, base = np.empty_like(x), f(x)
    for j in np.ndindex(x.shape):
        old = x[j]
        x[j] = old + eps
        out[j] = (f(x) - base) / eps
        x[j] = old
    return out


def _divided_by_eps(f, x, eps):
    """Wrong: the central difference divided by ε instead of 2ε (twice the gradient)."""
    out = np.empty_like(x)
    for j in np.ndindex(x.shape):
        old = x[j]
        x[j] = old + eps
        plus = f(x)
        x[j] = old - eps
        out[j] = (plus - f(x)) / eps
        x[j] = old
    return out


def _not_restored(f, x, eps):
    """Wrong: nudges each element and never puts it back."""
    out = np.empty_like(x)
    for j in np.ndindex(x.shape):
        x[j] += eps
        plus = f(x)
        x[j] -= 2 * eps
        out[j] = (plus - f(x)) / (2 * eps)
    return out


def _leading_axes_only(grad, shape):
    """Wrong: sums the new leading axes but not the stretched axes of length 1."""
    lead = grad.ndim - len(shape)
    return grad.sum(axis=tuple(range(lead))) if lead else grad


def _dropped_axes(grad, shape):
    """Wrong: sums the right axes but drops them, so (3, 4) -> (3, 1) comes back as (3,)."""
    lead = grad.ndim - len(shape)
    stretched = [lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1]
    return grad.sum(axis=tuple(range(lead)) + tuple(stretched))


def _mean_instead_of_sum(grad, shape):
    """Wrong: averages the copies' gradients instead of adding them."""
    lead = grad.ndim - len(shape)
    stretched = tuple(lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    return np.reshape(grad.mean(axis=tuple(range(lead)) + stretched), shape)


SELF_TEST = [
    (check_numerical_gradient, "02_broadcasting_and_gradcheck.py:numerical_gradient",
     [_forward_difference, _divided_by_eps, _not_restored]),
    (check_unbroadcast, "02_broadcasting_and_gradcheck.py:unbroadcast",
     [_leading_axes_only, _dropped_axes, _mean_instead_of_sum]),
]
