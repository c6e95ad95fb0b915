"""minitransfer: neural-network transfer learning from scratch, in NumPy.

A hand-written reverse-mode autograd engine (``Tensor``), layers shaped like PyTorch's, and
the pretrain / replace-the-head / fine-tune workflow written from its equations.
``import minitransfer`` needs only NumPy; plots, data sets and the GPU are imported lazily,
and so are the modules above the engine: ``minitransfer.data``, ``train``, ``transfer`` and
``experiment``, ``adapt`` load the first time they are used (``import minitransfer as mt; mt.data``).
"""

import importlib

from minitransfer import nn, optim
from minitransfer.autograd import enable_grad, is_grad_enabled, no_grad
from minitransfer.backend import gpu_available, manual_seed
from minitransfer.creation import (
    arange,
    from_numpy,
    full,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from minitransfer.functional import (
    cross_entropy,
    exp,
    linear,
    log,
    log_softmax,
    logsumexp,
    matmul,
    mse_loss,
    relu,
    softmax,
)
from minitransfer.gradcheck import GradcheckError, gradcheck
from minitransfer.replay import CaptureError, capture
from minitransfer.tensor import Tensor
from minitransfer.threads import get_num_threads, set_num_threads

float32 = "float32"
float64 = "float64"

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "manual_seed",
    "gpu_available", "zeros", "ones", "full", "randn", "rand", "arange", "zeros_like",
    "ones_like", "relu", "exp", "log", "matmul", "log_softmax", "softmax", "logsumexp",
    "cross_entropy", "linear", "mse_loss", "gradcheck", "GradcheckError", "float32", "float64",
    "nn", "optim", "save", "load", "CheckpointError", "from_numpy", "set_num_threads",
    "get_num_threads", "capture", "CaptureError",
]

_LAZY_MODULES = ("data", "train", "transfer", "experiment", "adapt")


# Names whose module is imported on first use: checkpoints pull in zipfile, hashlib and
# tempfile, about 1 MB that a training process that never saves does not need.
_LAZY_NAMES = {"save": "checkpoint", "load": "checkpoint", "CheckpointError": "checkpoint"}


def __getattr__(name):
    """``mt.data`` and the other modules above the engine, imported on first use (PEP 562)."""
    if name in _LAZY_MODULES:
        return importlib.import_module(f"minitransfer.{name}")
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(f"minitransfer.{_LAZY_NAMES[name]}"), name)
    raise AttributeError(f"module 'minitransfer' has no attribute {name!r}")
