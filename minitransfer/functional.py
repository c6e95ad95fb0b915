"""Function forms of the ops, like ``torch.relu`` and ``torch.nn.functional``.

Each is one line that calls an op class of ``functions``; they exist so that code written
for PyTorch (``torch.relu(self.fc1(x))`` in the source document) reads the same here.
"""

import numpy as np

from minitransfer import backend
from minitransfer import functions as F
from minitransfer.tensor import Tensor


def relu(x):
    """max(x, 0), elementwise (``functions.ReLU``)."""
    return F.ReLU.apply(x)


def exp(x):
    return F.Exp.apply(x)


def log(x):
    return F.Log.apply(x)


def matmul(a, b):
    return a @ b


def linear(x, weight, bias=None):
    """x Wᵀ + b, with W of shape (out, in) as in ``torch.nn.functional.linear`` (``functions.Affine``)."""
    if bias is None:
        return F.Affine.apply(x, weight)
    return F.Affine.apply(x, weight, bias)


def log_softmax(x, dim=-1):
    return F.LogSoftmax.apply(x, axis=dim)


def softmax(x, dim=-1):
    return F.Softmax.apply(x, axis=dim)


def logsumexp(x, dim=-1, keepdim=False):
    return F.LogSumExp.apply(x, axis=dim, keepdims=keepdim)


def cross_entropy(logits, target, reduction="mean"):
    """−log softmax(z)_y averaged (or summed) over the batch (``functions.CrossEntropy``).

    ``target`` holds integer class labels (a Tensor, array or list); they are moved to the
    logits' device. Labels outside [0, C) raise a ValueError (in the op); the other checks of
    shapes and dtypes live in ``nn.CrossEntropyLoss``.
    """
    # isinstance, not hasattr(target, "data"): NumPy and CuPy arrays have a .data attribute too
    # (a memory buffer), so only a Tensor may be unwrapped.
    labels = target.data if isinstance(target, Tensor) else target
    if type(labels) is not type(logits.data):  # a list, or an array of another library
        labels = backend.asarray_like(backend.to_numpy(labels) if backend.is_array(labels)
                                      else np.asarray(labels), logits.data)
    return F.CrossEntropy.apply(logits, labels=labels, reduction=reduction)


def mse_loss(input, target, reduction="mean"):
    """Squared error (input − target)², averaged over all elements ("mean"), summed ("sum") or
    kept elementwise ("none"). Built from Sub, Mul and Mean/Sum, so it needs no op of its own.
    Validation of shapes and dtypes lives in ``nn.MSELoss``."""
    difference = input - target
    squared = difference * difference
    if reduction == "mean":
        return squared.mean()
    if reduction == "sum":
        return squared.sum()
    return squared
