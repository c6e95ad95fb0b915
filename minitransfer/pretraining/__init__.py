"""Efficient pretraining, and what pretraining costs (issue 19; the document's §2.1 and §5.1).

| question                                       | where                                          |
|------------------------------------------------|------------------------------------------------|
| how much compute does a training step take?    | ``compute``: multiply-adds per example, F + B  |
| after how many tasks does pretraining pay?     | ``compute.break_even``                         |
| stop when the held-out loss stops improving    | ``early_stopping.EarlyStopping``, used by      |
|                                                | ``transfer.pretrain(..., val=, patience=)``    |
| warm up, then decay the learning rate          | ``warmup_cosine`` (for ``pretrain(lr_lambda=)``) |
| pretrain on a subset chosen by a rule          | ``coreset``: class-balanced random, k-center   |
| a small student that mimics a large teacher    | ``distillation``: loss with temperature T, distill |

``minitransfer scale`` (commands/scale.py) measures each of them against plain pretraining.
"""

import math

from minitransfer.pretraining.compute import (
    backward_macs,
    break_even,
    finetune_compute,
    format_macs,
    forward_macs,
    linear_layers,
    training_compute,
    training_macs,
)
from minitransfer.pretraining.coreset import (
    RULES,
    check_subset_size,
    choose_images,
    class_quotas,
    k_center_greedy,
    k_center_macs,
    rows_of,
    select_coreset,
    source_images,
)
from minitransfer.pretraining.distillation import (
    DistillationLoss,
    check_temperature,
    distill,
    distillation_loss,
    teacher_logits,
)
from minitransfer.pretraining.early_stopping import EarlyStopping, check_patience


def warmup_cosine(total_steps, warmup_steps):
    """The factor f(t) of a linear warm-up then a cosine decay, for ``LambdaLR`` (lr(t) = lr₀ f(t)):

        f(t) = (t + 1) / w                                  for t < w (the warm-up)
        f(t) = (1 + cos(π (t − w) / (T − w))) / 2           for w ≤ t < T

    with T = ``total_steps`` and w = ``warmup_steps`` (Goyal et al., 2017, for the warm-up;
    Loshchilov & Hutter, 2017, for the cosine). Call the scheduler once per optimizer step.
    """
    for name, value in (("total_steps", total_steps), ("warmup_steps", warmup_steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"warmup_cosine: {name}: expected a whole number >= 0, got {value!r}")
    if not warmup_steps < total_steps:
        raise ValueError(f"warmup_cosine: expected warmup_steps < total_steps, got {warmup_steps} "
                         f"and {total_steps}")

    def factor(t):
        if t < warmup_steps:
            return (t + 1) / warmup_steps
        return (1 + math.cos(math.pi * (t - warmup_steps) / (total_steps - warmup_steps))) / 2

    return factor


__all__ = [
    "forward_macs", "backward_macs", "training_macs", "training_compute", "linear_layers",
    "finetune_compute", "break_even",
    "format_macs", "RULES", "select_coreset", "source_images", "choose_images", "rows_of",
    "class_quotas", "k_center_greedy", "k_center_macs",
    "check_subset_size", "distillation_loss", "DistillationLoss", "distill", "teacher_logits",
    "check_temperature", "EarlyStopping", "check_patience", "warmup_cosine",
]
