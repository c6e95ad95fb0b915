"""Lesson 03's exercises: the backward of a linear layer, and of cross-entropy, written yourself.

03.1 ``affine_backward(g, x, weight)``: for z = x Wᵀ + b with x of shape (N, in), W (out, in),
     b (out,) and g = dL/dz of shape (N, out), return (dL/dx, dL/dW, dL/db) as NumPy arrays.
     The check puts your function in the backward of an op whose forward is x Wᵀ + b (a
     ``functions.Function``, as ``functions.Affine`` is) and runs ``mt.gradcheck`` on that op:
     your VJPs against central differences, with a random upstream gradient.
03.2 ``cross_entropy_grad(logits, labels, reduction)``: dL/dz for L = cross-entropy of the
     logits z (N, C) and integer labels, with reduction "mean" or "sum", computed stably
     (logits of ±1000 must work). Compared with ``backward()`` of ``mt.cross_entropy``.
"""

import numpy as np

import minitransfer as mt
from exercises import attempted, grade
from minitransfer.functions import Function

__all__ = ["check_affine_backward", "check_cross_entropy_grad"]


def _op_with_your_backward(affine_backward):
    class YourAffine(Function):
        """z = x Wᵀ + b; the backward is the learner's ``affine_backward``."""

        def forward(self, x, weight, bias):
            self.x, self.weight = x, weight
            return x @ weight.T + bias

        def backward(self, g):
            grads = attempted(affine_backward(g, self.x, self.weight))
            if not isinstance(grads, (tuple, list)) or len(grads) != 3:
                raise TypeError(f"expected a tuple (dL/dx, dL/dW, dL/db), got {grads!r}")
            return tuple(np.asarray(grad, dtype=np.float64) for grad in grads)

    return YourAffine


# (N, in, out): a batch, a single row, a square layer (where W and Wᵀ have the same shape)
_SHAPES = [(4, 5, 3), (1, 3, 2), (6, 4, 4)]


def check_affine_backward(affine_backward):
    """Exercise 03.1: the three VJPs of z = x Wᵀ + b, checked by ``mt.gradcheck``."""

    def check(answer):
        op = _op_with_your_backward(answer)
        for n, n_in, n_out in _SHAPES:
            seed = 10 * n + n_in
            x = mt.randn(n, n_in, generator=seed, dtype=mt.float64, requires_grad=True)
            weight = mt.randn(n_out, n_in, generator=seed + 1, dtype=mt.float64, requires_grad=True)
            bias = mt.randn(n_out, generator=seed + 2, dtype=mt.float64, requires_grad=True)
            result = mt.gradcheck(op.apply, x, weight, bias, raise_exception=False,
                                  name=f"your Affine, x {(n, n_in)}, W {(n_out, n_in)}")
            if not result.passed:
                names = "input 0 is x, input 1 is W, input 2 is b"
                return f"{result.message} ({names})"
        return None

    result = grade("03.1", check, affine_backward)
    if result.passed:
        print(f"  gradcheck passed for your op on {len(_SHAPES)} layer shapes")
    return result


_CASES = [  # logits, labels, reduction
    (np.array([[0.2, -1.0, 0.5], [1.5, 0.3, -0.7], [0.0, 0.0, 0.0], [2.0, -2.0, 1.0]]), [0, 2, 1, 2], "mean"),
    (np.array([[0.2, -1.0, 0.5], [1.5, 0.3, -0.7]]), [1, 0], "sum"),
    (np.array([[1000.0, 0.0, -1000.0], [3.0, 1.0, 2.0]]), [1, 0], "mean"),
]


def check_cross_entropy_grad(cross_entropy_grad):
    """Exercise 03.2: dL/dz = (softmax(z) − onehot(y)) / N for "mean", without 1/N for "sum"."""

    def check(answer):
        for logits, labels, reduction in _CASES:
            z = mt.tensor(logits, dtype=mt.float64, requires_grad=True)
            mt.cross_entropy(z, labels, reduction=reduction).backward()
            with np.errstate(all="ignore"):  # an unstable answer overflows: that is the feedback
                yours = np.asarray(attempted(cross_entropy_grad(logits.copy(), np.array(labels), reduction)))
            if yours.shape != logits.shape:
                return f"expected an array of the logits' shape {logits.shape}, got {yours.shape}"
            right = z.grad.numpy()
            if not np.allclose(yours, right, rtol=1e-9, atol=1e-12):
                return (f"logits {logits.tolist()}, labels {labels}, reduction {reduction!r}: you give "
                        f"{np.round(yours, 4).tolist()}, backward() gives {np.round(right, 4).tolist()}")
        return None

    return grade("03.2", check, cross_entropy_grad)


# --- what tests/test_exercises.py runs: mistakes each check must catch ---

def _weight_transposed(g, x, weight):
    """Wrong: dL/dW = xᵀ g, the transpose of the right (out, in) matrix."""
    return g @ weight, x.T @ g, g.sum(axis=0)


def _x_with_weight_transposed(g, x, weight):
    """Wrong: dL/dx = g Wᵀ (right only when the shapes force it)."""
    return g @ weight.T, g.T @ x, g.sum(axis=0)


def _bias_mean(g, x, weight):
    """Wrong: the bias gradient averaged over the batch instead of summed."""
    return g @ weight, g.T @ x, g.mean(axis=0)


def _no_bias_gradient(g, x, weight):
    """Wrong: forgets the bias: no gradient flows to b."""
    return g @ weight, g.T @ x, np.zeros(weight.shape[0])


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _always_mean(logits, labels, reduction):
    """Wrong: divides by N for "sum" too."""
    return (_softmax(logits) - np.eye(logits.shape[1])[labels]) / len(labels)


def _no_one_hot(logits, labels, reduction):
    """Wrong: the softmax alone, forgetting the −onehot(y) of −z_y."""
    return _softmax(logits) / (len(labels) if reduction == "mean" else 1)


def _unstable(logits, labels, reduction):
    """Wrong: exp(z) without subtracting the row maximum first: overflows at z = 1000."""
    e = np.exp(logits)
    grad = e / e.sum(axis=1, keepdims=True) - np.eye(logits.shape[1])[labels]
    return grad / (len(labels) if reduction == "mean" else 1)


SELF_TEST = [
    (check_affine_backward, "03_linear_relu_cross_entropy.py:affine_backward",
     [_weight_transposed, _x_with_weight_transposed, _bias_mean, _no_bias_gradient]),
    (check_cross_entropy_grad, "03_linear_relu_cross_entropy.py:cross_entropy_grad",
     [_always_mean, _no_one_hot, _unstable]),
]
