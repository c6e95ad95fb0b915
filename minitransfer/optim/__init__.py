"""Optimizers and learning-rate schedules, shaped like ``torch.optim``.

``from minitransfer import optim`` then ``optim.SGD(model.parameters(), lr=0.01)`` and
``optim.lr_scheduler.StepLR(optimizer, step_size=10)``.
"""

from minitransfer.optim import lr_scheduler
from minitransfer.optim.adam import Adam, AdamW
from minitransfer.optim.optimizer import Optimizer
from minitransfer.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler"]
