"""LoRA: fine-tune a low-rank update of each body Linear instead of the Linear (Hu et al., 2022).

A Linear computes z = x Wᵀ + b with W of shape (out, in). LoRA keeps W and b frozen and adds

    z = x Wᵀ + b + (α/r) · (x Aᵀ) Bᵀ,      so that the layer's weight is W + ΔW,  ΔW = (α/r) B A,

with A of shape (r, in) and B of shape (out, r), r ≪ min(in, out). ΔW has rank at most r and
costs r·(in + out) trainable numbers instead of in·out. A is drawn like a Linear's weight
(kaiming uniform, bound 1/√in) and B starts at 0, so ΔW = 0: training starts exactly at the
pretrained function, and the first step moves only B (dL/dA = (α/r) Bᵀ (dL/dz)ᵀ x is 0 while
B = 0). α/r scales the update so that changing r does not change how far a step moves ΔW.

``add_lora(model, r, alpha)`` replaces every Linear of ``model.body`` by a ``LoRALinear`` that
holds the *same* W and b parameters (keys ``body.0.weight``, ``body.0.bias``) beside
``body.0.lora_A`` and ``body.0.lora_B``. ``merge_lora(model)`` folds ΔW into W and puts plain
Linears back: the model is then an ordinary MLP with the usual state-dict keys, and it computes
the same function (up to rounding). The forward pass uses the engine's ``Affine`` op three
times (x Wᵀ + b, x Aᵀ, then · Bᵀ): no new primitive op, and the captured step replays it.
The names follow PEFT (``LoraConfig(r=..., lora_alpha=...)``, ``lora_A``, ``lora_B``,
``merge_and_unload``).
"""

import math
import numbers
from dataclasses import dataclass

import numpy as np

from minitransfer import backend
from minitransfer import functions as F
from minitransfer.autograd import no_grad
from minitransfer.nn import Linear, Module, Parameter, init
from minitransfer.tensor import Tensor


@dataclass(frozen=True)
class LoRAConfig:
    """The LoRA settings ``fine_tune(..., strategy="lora", lora=LoRAConfig(...))`` reads."""

    r: int = 4  # the rank of ΔW
    alpha: float = 8.0  # ΔW = (alpha / r) B A
    merge: bool = True  # fold ΔW into W at the end of fine_tune (a plain MLP comes back)


class LoRALinear(Module):
    """z = x Wᵀ + b + (α/r)(x Aᵀ) Bᵀ, W and b frozen (taken from ``base``), A and B trained.

    Gradients (g = dL/dz): dA = (α/r) (g B)ᵀ x,  dB = (α/r) gᵀ (x Aᵀ),  dx = g (W + (α/r) B A);
    W and b receive none (``requires_grad=False``). Built from ``base``, an ``nn.Linear``.
    """

    def __init__(self, base, r=4, alpha=8.0, generator=None):
        super().__init__()
        check_rank(base, r, "LoRALinear")
        check_alpha(alpha, "LoRALinear")
        self.in_features, self.out_features = base.in_features, base.out_features
        self.r, self.alpha = r, alpha
        self.scaling = alpha / r
        self.weight = base.weight  # the same Parameter objects as base's, frozen
        self.register_parameter("bias", base.bias)
        for p in (self.weight, self.bias):
            if p is not None:
                p.requires_grad_(False)
        dtype, device = base.weight.dtype, base.weight.device
        self.lora_A = Parameter(Tensor(np.zeros((r, self.in_features)), dtype=dtype).to(device))
        self.lora_B = Parameter(Tensor(np.zeros((self.out_features, r)), dtype=dtype).to(device))
        # Linear's rule for an (r, in) weight: U(−1/√in, 1/√in). B stays 0.
        init.kaiming_uniform_(self.lora_A, a=math.sqrt(5), generator=backend.get_generator(generator))

    def _name(self):
        return f"LoRALinear(in_features={self.in_features}, out_features={self.out_features}, r={self.r})"

    def forward(self, x):
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"{self._name()}: expected a Tensor of shape (batch, {self.in_features}), "
                             f"got {type(x).__name__} of shape {getattr(x, 'shape', None)}")
        if x.dtype != self.weight.dtype:
            raise TypeError(f"{self._name()}: expected input of dtype "
                            f"{backend.dtype_name(self.weight.dtype)} like the layer's weight, got "
                            f"{backend.dtype_name(x.dtype)}")
        frozen = F.Affine.apply(x, self.weight, self.bias) if self.bias is not None else \
            F.Affine.apply(x, self.weight)
        low_rank = F.Affine.apply(F.Affine.apply(x, self.lora_A), self.lora_B)  # (x Aᵀ) Bᵀ
        return frozen + low_rank * self.scaling

    def delta_weight(self):
        """ΔW = (α/r) B A as an array of the weight's shape (rank ≤ r)."""
        return (self.lora_B.data @ self.lora_A.data) * self.scaling

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, r={self.r}, "
                f"alpha={self.alpha}")


def check_rank(linear, r, caller, name="the layer"):
    """r must be an integer from 1 to min(in_features, out_features) of ``linear``."""
    limit = min(linear.in_features, linear.out_features)
    if isinstance(r, bool) or not isinstance(r, numbers.Integral) or not 1 <= r <= limit:
        raise ValueError(f"{caller}: r: expected an integer from 1 to {limit} (min(in_features, "
                         f"out_features) of {name}, Linear({linear.in_features}, "
                         f"{linear.out_features})), got {r!r}")


def check_alpha(alpha, caller):
    if (isinstance(alpha, bool) or not isinstance(alpha, numbers.Real)
            or not (alpha > 0 and math.isfinite(alpha))):
        raise ValueError(f"{caller}: alpha: expected a positive number (ΔW = (alpha / r) B A), got {alpha!r}")


def _replace(root, path, new):
    """Put ``new`` where the module at ``path`` (relative to ``root``) was."""
    parent = root
    *parents, last = path.split(".")
    for part in parents:
        parent = getattr(parent, part)
    setattr(parent, last, new)


def add_lora(model, r=4, alpha=8.0, generator=None):
    """Replace every Linear of ``model.body`` by a LoRALinear (rank ``r``, scale ``alpha / r``).

    Every layer is checked before any is replaced (a rank too large for one layer changes
    nothing). The A matrices are drawn in layer order from ``generator``. Returns the replaced
    layers' names, e.g. ["body.0", "body.2"].
    """
    linears = [(name, m) for name, m in model.body.named_modules(prefix="body")
               if isinstance(m, (Linear, LoRALinear))]
    check_alpha(alpha, "add_lora")
    for name, module in linears:
        if isinstance(module, LoRALinear):
            raise ValueError(f"add_lora: {name} already has LoRA factors; merge_lora(model) first")
        check_rank(module, r, "add_lora", name)
    generator = backend.get_generator(generator)
    for name, module in linears:
        _replace(model, name, LoRALinear(module, r, alpha, generator))
    return [name for name, _ in linears]


def lora_parameters(model):
    """The LoRA factors A and B of every LoRALinear in ``model``, in layer order."""
    return [p for m in model.modules() if isinstance(m, LoRALinear) for p in (m.lora_A, m.lora_B)]


def merge_lora(model):
    """Fold each LoRALinear's update into its weight, W ← W + (α/r) B A, and put a plain
    ``nn.Linear`` back in its place (the same bias Parameter; the weight keeps its
    ``requires_grad``). The model then has the usual keys and computes the same function up to
    rounding. Returns the merged layers' names."""
    merged = [(name, m) for name, m in model.named_modules() if isinstance(m, LoRALinear)]
    for name, lora in merged:
        linear = Linear(lora.in_features, lora.out_features, bias=lora.bias is not None,
                        generator=0, dtype=lora.weight.dtype, device=lora.weight.device)
        with no_grad():
            weight = Parameter(Tensor(lora.weight.data + lora.delta_weight()),
                               requires_grad=lora.weight.requires_grad)
        linear.weight = weight
        if lora.bias is not None:
            linear.bias = lora.bias
        _replace(model, name, linear)
    return [name for name, _ in merged]
