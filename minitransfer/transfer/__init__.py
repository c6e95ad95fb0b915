"""Transfer learning, step by step: pretrain (§3.3.1), replace the head (§3.2), fine-tune (§3.3.2).

``workflow`` holds the steps and the freezing / parameter-group tools, ``strategies`` the ways
of fine-tuning (and the L2-SP penalty), ``lora`` the low-rank adapters of the lora strategy,
``kinds`` the document's four kinds of transfer (§2.2).
"""

from minitransfer.transfer.features import body_modules, features, layer_output, num_body_layers
from minitransfer.transfer.lora import (
    LoRAConfig,
    LoRALinear,
    add_lora,
    lora_parameters,
    merge_lora,
)
from minitransfer.transfer.strategies import (
    DEFAULT_LR,
    STRATEGIES,
    FineTuneResult,
    Phase,
    fine_tune,
    l2sp_penalty,
)
from minitransfer.transfer.workflow import (
    HeadReport,
    body_layers,
    check_body_head,
    freeze,
    layer_groups,
    make_loader,
    make_optimizer,
    param_groups,
    pretrain,
    replace_head,
    unfreeze,
)

__all__ = [
    "pretrain", "replace_head", "HeadReport", "freeze", "unfreeze", "param_groups", "layer_groups",
    "make_loader", "make_optimizer", "fine_tune", "FineTuneResult", "STRATEGIES", "DEFAULT_LR",
    "l2sp_penalty", "Phase", "body_layers", "check_body_head", "features", "body_modules",
    "num_body_layers", "layer_output", "LoRAConfig", "LoRALinear", "add_lora", "merge_lora",
    "lora_parameters",
]
