"""Numerical gradient checks: compare ``backward()`` with central differences.

For a function f of tensors x₁…x_k with output z, pick a random upstream gradient u (random,
not ones, so that a wrong sum over an axis cannot hide) and the scalar s = Σ u ⊙ f(x).
``backward(u)`` gives ∂s/∂x analytically; the central difference

    ∂s/∂x_j ≈ (s(x + ε e_j) − s(x − ε e_j)) / 2ε

gives it numerically, with an error of order ε². In float64 with ε = 1e-6 the two agree to
about 1e-8 when the backward is right; a wrong backward is off by order one.

The *directional* mode checks one random direction v instead of every element:
⟨∂s/∂x, v⟩ ≈ (s(x + εv) − s(x − εv)) / 2ε, two forward passes for any number of weights.
"""

from dataclasses import dataclass

import numpy as np

from minitransfer import backend
from minitransfer.autograd import no_grad
from minitransfer.tensor import Tensor


class GradcheckError(AssertionError):
    """Raised when analytic and numerical gradients disagree."""


@dataclass
class GradcheckResult:
    passed: bool
    max_abs_error: float
    max_rel_error: float
    message: str = ""


def _scalar(fn, inputs, upstream):
    """s = Σ u ⊙ f(x) as a Python float (no graph is recorded)."""
    with no_grad():
        out = fn(*inputs)
    return float(backend.to_numpy(backend.namespace(out.data).sum(out.data * upstream)))


def _analytic(fn, inputs, upstream):
    for t in inputs:
        t.grad = None
    out = fn(*inputs)
    out.backward(upstream)
    return [None if t.grad is None or not t.requires_grad else backend.to_numpy(t.grad.data)
            for t in inputs]


def _perturbed(t, delta):
    """A copy of tensor t with ``delta`` (a host array) added to its data."""
    return Tensor(t.data + backend.asarray_like(delta, t.data))


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-6, rtol=1e-4, seed=0, mode="full",
              raise_exception=True, name=None, reference=None):
    """Check ``fn``'s gradients with respect to every input that requires a gradient.

    With a random upstream gradient u and s(x) = Σ u ⊙ fn(x), the analytic ∂s/∂x_j from
    ``backward(u)`` is compared with the central difference (s(x + ε e_j) − s(x − ε e_j)) / 2ε.

    ``reference``: a function whose central differences ``fn``'s backward must match instead
    of ``fn``'s own, for an op whose backward is on purpose not its forward's derivative:
    ``GradientReversal`` (forward x, backward −λ g) is checked against x ↦ −λx. It must give
    an output of ``fn``'s shape.

    ``inputs`` should be float64 tensors; ``mode`` is "full" (every element) or
    "directional" (one random direction per call). Returns a ``GradcheckResult``; raises
    ``GradcheckError`` on failure when ``raise_exception`` is true, with the worst index and
    both values in the message.
    """
    if mode not in ("full", "directional"):
        raise ValueError(f"mode: expected 'full' or 'directional', got {mode!r}")
    for i, t in enumerate(inputs):
        if t.requires_grad and backend.dtype_name(t.dtype) != "float64":
            raise TypeError(f"gradcheck: input {i} is {backend.dtype_name(t.dtype)}; "
                            f"use float64 so that rounding does not swamp the check")
    label = name or getattr(fn, "__name__", "fn")
    rng = np.random.default_rng(seed)
    out = fn(*inputs)
    numeric_fn = fn if reference is None else reference
    if reference is not None and tuple(numeric_fn(*inputs).shape) != tuple(out.shape):
        raise ValueError(f"gradcheck: reference must give an output of fn's shape {tuple(out.shape)}, "
                         f"got {tuple(numeric_fn(*inputs).shape)}")
    upstream = backend.asarray_like(rng.standard_normal(out.shape), out.data)
    analytic = _analytic(fn, inputs, upstream)
    worst = GradcheckResult(True, 0.0, 0.0)
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            continue
        if analytic[i] is None:
            analytic[i] = np.zeros(t.shape)  # no path from the output to this input
        if mode == "directional":
            v = rng.standard_normal(t.shape)
            numeric = np.array(_difference(numeric_fn, inputs, i, v, eps, upstream))
            computed = np.array(np.sum(analytic[i] * v))
        else:
            numeric = _element_differences(numeric_fn, inputs, i, eps, upstream)
            computed = analytic[i]
        abs_err = np.abs(computed - numeric)
        significant = np.abs(numeric) > 1e-6  # relative error means little next to zero
        rel_err = np.where(significant, abs_err / np.where(significant, np.abs(numeric), 1), 0)
        worst.max_abs_error = max(worst.max_abs_error, float(abs_err.max(initial=0.0)))
        worst.max_rel_error = max(worst.max_rel_error, float(rel_err.max(initial=0.0)))
        bad = abs_err > atol + rtol * np.abs(numeric)
        if bad.any() and worst.passed:
            k = np.unravel_index(int(np.argmax(np.where(bad, abs_err, -1))), bad.shape)
            where = "the random direction" if mode == "directional" else f"index {tuple(map(int, k))}"
            worst.passed = False
            worst.message = (f"gradcheck failed for {label}, input {i} (shape {t.shape}) at "
                             f"{where}: backward gives {computed[k]:.10g}, central differences "
                             f"give {numeric[k]:.10g} (abs error {abs_err[k]:.3g}, allowed "
                             f"{atol + rtol * abs(numeric[k]):.3g})")
    if not worst.passed and raise_exception:
        raise GradcheckError(worst.message)
    return worst


def _element_differences(fn, inputs, i, eps, upstream):
    """Central differences for every element of input i, nudging one element of a copy at a time.

    Each element is set to x_j + ε, then x_j − ε, then back to exactly x_j: no new array per
    element, which matters for a layer with 100,000 weights.
    """
    work = Tensor(backend.namespace(inputs[i].data).asarray(inputs[i].data, copy=True))
    args = list(inputs)
    args[i] = work
    numeric = np.zeros(work.shape)
    for j in np.ndindex(*work.shape):
        original = work.data[j]
        work.data[j] = original + eps
        plus = _scalar(fn, args, upstream)
        work.data[j] = original - eps
        minus = _scalar(fn, args, upstream)
        work.data[j] = original
        numeric[j] = (plus - minus) / (2 * eps)
    return numeric


def _difference(fn, inputs, i, direction, eps, upstream):
    """(s(x_i + εv) − s(x_i − εv)) / 2ε with every other input held fixed."""
    plus, minus = list(inputs), list(inputs)
    plus[i] = _perturbed(inputs[i], eps * direction)
    minus[i] = _perturbed(inputs[i], -eps * direction)
    return (_scalar(fn, plus, upstream) - _scalar(fn, minus, upstream)) / (2 * eps)
