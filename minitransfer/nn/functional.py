"""``minitransfer.nn.functional``: the function forms, under PyTorch's ``torch.nn.functional`` name.

They live in ``minitransfer/functional.py``; this module only re-exports them so that
``import minitransfer.nn.functional as F`` reads as it does in PyTorch.
"""

from minitransfer.functional import (
    cross_entropy,
    linear,
    log_softmax,
    logsumexp,
    mse_loss,
    relu,
    softmax,
)

__all__ = ["cross_entropy", "linear", "log_softmax", "logsumexp", "mse_loss", "relu", "softmax"]
