"""Two fused ops for the layers every network here uses: ``nn.Linear`` and ``nn.CrossEntropyLoss``.

Each does in one node what the primitives could do in three (Affine = MatMul, Transpose, Add;
CrossEntropy = LogSoftmax, a one-hot product, Sum), with the same gradients: the tests check
both against central differences. Fewer nodes and temporaries make a training step faster.
"""

import numpy as np

from minitransfer import backend
from minitransfer.functions.function import Function
from minitransfer.functions.matmul import matmul_2d


def _sum(x, axis=None, keepdims=False):
    """``xp.sum(x, axis=axis, keepdims=keepdims)``; under NumPy, by the array's own method.

    ``numpy.sum`` and ``numpy.max`` are Python wrappers around that method that cost ~1.5 µs a
    call: more than summing a (64, 10) array. The ops that run at every training step (Affine,
    CrossEntropy) reduce through these two helpers; other arrays take the standard's spelling.
    """
    if type(x) is np.ndarray:
        return x.sum(axis=axis, keepdims=keepdims)
    return backend.namespace(x).sum(x, axis=axis, keepdims=keepdims)


def _max(x, axis=None, keepdims=False):
    """``xp.max(x, axis=axis, keepdims=keepdims)``, by the method under NumPy (see ``_sum``)."""
    if type(x) is np.ndarray:
        return x.max(axis=axis, keepdims=keepdims)
    return backend.namespace(x).max(x, axis=axis, keepdims=keepdims)


class CrossEntropy(Function):
    """Fused log-softmax + negative log-likelihood of integer labels y for logits z (N × C).

    ℓᵢ = −log softmax(zᵢ)_{yᵢ} = logsumexp(zᵢ) − z_{i,yᵢ};  loss = (1/N) Σ ℓᵢ ("mean"), Σ ℓᵢ
    ("sum") or the vector ℓ ("none").
    dL/dzᵢ = gᵢ (softmax(zᵢ) − onehot(yᵢ)), with gᵢ = g/N for "mean" and g for "sum".
    Labels outside [0, C) are refused here, for ``cross_entropy`` and ``nn.CrossEntropyLoss``
    alike: the one-hot row of such a label is all zeros, which would silently add 0 to the loss.
    """

    def forward(self, logits, labels, reduction="mean"):
        xp = backend.namespace(logits)
        classes = logits.shape[1]
        if labels.shape[0]:  # NumPy's min()/max() methods: numpy.min's wrapper costs ~3 µs a step
            low, high = ((int(labels.min()), int(labels.max())) if type(labels) is np.ndarray
                         else (int(xp.min(labels)), int(xp.max(labels))))
            if low < 0 or high >= classes:
                raise ValueError(f"cross_entropy (CrossEntropyLoss): labels must lie in [0, {classes}) "
                                 f"for logits with {classes} classes, got values from {low} to {high}")
        self.reduction = reduction
        shifted = logits - _max(logits, axis=1, keepdims=True)  # no overflow in exp
        self.softmax = xp.exp(shifted)
        total = _sum(self.softmax, axis=1, keepdims=True)
        self.softmax /= total  # saved: it is the gradient, less the one-hot
        log_probs = shifted - xp.log(total)
        # onehot[i, c] = 1 where c = yᵢ: picks each row's log-probability by a product, with
        # no fancy indexing (which the array API standard leaves optional).
        self.one_hot = xp.astype(labels[:, None] == xp.arange(logits.shape[1]), logits.dtype)
        if reduction == "none":
            return -_sum(log_probs * self.one_hot, axis=1)
        loss = -_sum(log_probs * self.one_hot)
        return loss / logits.shape[0] if reduction == "mean" else loss

    def backward(self, g):
        xp = backend.namespace(g)
        grad = self.softmax - self.one_hot  # a fresh array: scaling it in place is safe
        if self.reduction == "none":
            return (grad * xp.reshape(g, (-1, 1)),)
        grad *= g / grad.shape[0] if self.reduction == "mean" else g
        return (grad,)


class Affine(Function):
    """z = x Wᵀ + b: the forward of ``nn.Linear`` as one op (not MatMul, Transpose and Add).

    Shapes: x is (..., in) (a batch of rows, or one row of shape (in,)), W is (out, in) as in
    PyTorch, the optional b is (out,), and z is (..., out). With g = dL/dz:

        dL/dx = g W            (..., out) @ (out, in) -> (..., in)
        dL/dW = gᵀ x           summed over every leading (batch) axis -> (out, in)
        dL/db = Σ_rows g       summed over every leading axis -> (out,)

    One node instead of three saves two graph entries and two temporary arrays per layer; the
    first layer's input needs no gradient, so its ``g W`` product is skipped altogether.
    """

    def forward(self, x, weight, bias=None):
        if x.ndim == 0 or weight.ndim != 2 or x.shape[-1] != weight.shape[1]:
            raise ValueError(f"linear: expected x of shape (..., {weight.shape[-1]}) and weight of "
                             f"shape (out, in), got x {tuple(x.shape)} and weight "
                             f"{tuple(weight.shape)}")
        if bias is not None and tuple(bias.shape) != (weight.shape[0],):
            raise ValueError(f"linear: expected bias of shape ({weight.shape[0]},), got "
                             f"{tuple(bias.shape)}")
        self.x, self.weight = x, weight
        z = backend.namespace(x).matmul(x, weight.T)
        if bias is not None:
            z += bias  # z is a fresh array that we own, so adding in place is safe
        return z

    def backward(self, g):
        xp = backend.namespace(g)
        need_x, need_weight = self.needs_input_grad[:2]
        grad_x = xp.matmul(g, self.weight) if need_x else None
        # The weight and bias gradients sum over all rows: view g and x as 2-D tables of rows.
        rows_g = g if g.ndim == 2 else xp.reshape(g, (-1, g.shape[-1]))
        rows_x = self.x if self.x.ndim == 2 else xp.reshape(self.x, (-1, self.x.shape[-1]))
        grad_weight = matmul_2d(rows_g.T, rows_x) if need_weight else None
        if len(self.needs_input_grad) == 2:
            return grad_x, grad_weight
        return grad_x, grad_weight, _sum(rows_g, axis=0) if self.needs_input_grad[2] else None
