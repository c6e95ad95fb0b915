"""Layers, losses and initialisers, shaped like ``torch.nn``.

``from minitransfer import nn`` then ``nn.Linear(784, 128)``, ``nn.CrossEntropyLoss()``,
``nn.init.xavier_uniform_(layer.weight)``, ``nn.functional.relu(x)``.
"""

from minitransfer.nn import functional, init
from minitransfer.nn.layers import MLP, Flatten, GradientReversal, Identity, Linear, ReLU, Sequential
from minitransfer.nn.losses import CrossEntropyLoss, MSELoss
from minitransfer.nn.module import Module
from minitransfer.nn.parameter import Parameter

__all__ = [
    "Module", "Parameter", "Linear", "ReLU", "Identity", "Flatten", "Sequential", "MLP",
    "GradientReversal",
    "CrossEntropyLoss", "MSELoss", "init", "functional",
]
