"""Losses: the L of the document's objective (1/n) Σᵢ L(yᵢ, f_θ(xᵢ)).

Each loss checks its inputs (shapes, dtypes, label values) and raises a ValueError/TypeError
that names the loss, what it expected and what it got, before any computation.
"""

import numpy as np

from minitransfer import backend, functional
from minitransfer.nn.module import Module
from minitransfer.tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction, loss):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{loss}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def _dtype_kind(array):
    """'f' for floats, 'i'/'u' for integers, 'b' for bools (array_api_strict dtypes lack .kind)."""
    kind = getattr(array.dtype, "kind", None)
    return kind if kind is not None else np.dtype(backend.dtype_name(array.dtype)).kind


def _as_label_array(target):
    """The array inside a Tensor, an array as it is, or a list turned into a NumPy array."""
    if isinstance(target, Tensor):
        return target.data
    if backend.is_array(target):
        return target
    return np.asarray(target)


class CrossEntropyLoss(Module):
    """Cross-entropy of raw logits z (N × C) and integer class labels y (N,) in [0, C).

        ℓᵢ = −log softmax(zᵢ)_{yᵢ} = log Σ_c exp(z_ic) − z_{i,yᵢ}

    reduction "mean" returns (1/N) Σ ℓᵢ, "sum" Σ ℓᵢ, "none" the vector ℓ. The log-softmax is
    computed stably (the row maximum is subtracted first) and fused with the negative
    log-likelihood into one op, ``functions.CrossEntropy``, whose backward is
    dL/dz = (softmax(z) − onehot(y)) / N for the mean.
    Pass logits, not probabilities: the softmax is inside the loss, as in PyTorch.
    """

    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = _check_reduction(reduction, "CrossEntropyLoss")

    def forward(self, input, target):
        if not isinstance(input, Tensor):
            raise TypeError(f"CrossEntropyLoss: expected logits as a Tensor, got "
                            f"{type(input).__name__}")
        if input.ndim != 2 or input.shape[0] == 0:
            raise ValueError(f"CrossEntropyLoss: expected logits of shape (N, C) with N >= 1 (one "
                             f"row of class scores per example), got shape {input.shape}")
        if _dtype_kind(input.data) != "f":
            raise TypeError(f"CrossEntropyLoss: expected floating-point logits, got "
                            f"{backend.dtype_name(input.dtype)}")
        labels = _as_label_array(target)
        if _dtype_kind(labels) not in ("i", "u"):
            raise TypeError(f"CrossEntropyLoss: expected integer class labels, got dtype "
                            f"{backend.dtype_name(labels.dtype)} (one-hot or probability targets "
                            f"are not supported; pass class indices, e.g. labels.astype(int))")
        n = input.shape[0]
        if tuple(labels.shape) != (n,):
            raise ValueError(f"CrossEntropyLoss: expected labels of shape ({n},), one per row of "
                             f"the logits, got shape {tuple(labels.shape)}")
        # labels outside [0, C) are refused by the op itself (functions.CrossEntropy), so that
        # the functional form minitransfer.cross_entropy refuses them too
        return functional.cross_entropy(input, labels, reduction=self.reduction)

    def extra_repr(self):
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class MSELoss(Module):
    """Mean squared error: ℓ = (input − target)², averaged over every element ("mean"), summed
    ("sum") or kept elementwise ("none").

    d(mean ℓ)/d input = 2 (input − target) / (number of elements).
    ``target`` must have the input's shape and dtype: no silent broadcasting (a (N, 1) output
    against a (N,) target would otherwise give an N × N loss) and no float64 promotion.
    """

    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = _check_reduction(reduction, "MSELoss")

    def forward(self, input, target):
        if not isinstance(input, Tensor):
            raise TypeError(f"MSELoss: expected input as a Tensor, got {type(input).__name__}")
        if 0 in input.shape:
            raise ValueError(f"MSELoss: expected an input with at least one element, got shape "
                             f"{input.shape}")
        target = target if isinstance(target, Tensor) else Tensor(_as_label_array(target))
        if target.shape != input.shape:
            raise ValueError(f"MSELoss: expected a target of the input's shape {input.shape}, got "
                             f"shape {target.shape}")
        if target.data.dtype != input.data.dtype or not backend.is_floating(input.data):
            raise TypeError(f"MSELoss: expected floating-point input and target of the same "
                            f"dtype, got input {backend.dtype_name(input.dtype)} and target "
                            f"{backend.dtype_name(target.dtype)}")
        return functional.mse_loss(input, target, reduction=self.reduction)

    def extra_repr(self):
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"
