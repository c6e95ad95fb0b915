"""Adam and AdamW, with PyTorch's exact update rules."""

import math

from minitransfer import aligned, backend
from minitransfer.optim.optimizer import (
    Optimizer,
    check_non_negative,
    scale_in_place,
    subtract_in_place,
    write_into,
)


class Adam(Optimizer):
    r"""Adam: a step along running averages of the gradient, scaled per coordinate.

    For each parameter θ at step t = 1, 2, ... (η = lr, β₁, β₂ = betas, λ = weight_decay),
    exactly as ``torch.optim.Adam``:

        g ← ∇θ + λ θ                       (Adam: L2 decay folded into the gradient)
        m ← β₁ m + (1 − β₁) g              (first moment, m₀ = 0)
        v ← β₂ v + (1 − β₂) g ⊙ g          (second moment, v₀ = 0)
        m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)   (undo the bias towards 0 of the first steps)
        θ ← θ − η m̂ / (√v̂ + ε)

    At t = 1, m̂ = g and v̂ = g ⊙ g, so every coordinate moves by about η, whatever the
    gradient's scale.
    """

    decoupled_weight_decay = False  # AdamW sets True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group):
        name = type(self).__name__
        for key in ("lr", "eps", "weight_decay"):
            check_non_negative(group, key, name)
        betas = group["betas"]
        if len(betas) != 2 or not all(0 <= float(beta) < 1 for beta in betas):
            raise ValueError(f"{name}: betas must be two numbers in [0, 1), got {betas!r}")

    def _update(self):
        for group in self.param_groups:
            # Python floats keep float32 arrays float32 (a NumPy float64 scalar would not).
            lr, eps = float(group["lr"]), float(group["eps"])
            weight_decay = float(group["weight_decay"])
            beta1, beta2 = (float(beta) for beta in group["betas"])
            for p in self._parameters_to_update(group):
                self._update_one(p, lr, eps, weight_decay, beta1, beta2)

    def _update_one(self, p, lr, eps, weight_decay, beta1, beta2):
        """The rule above for one parameter, in place: temporaries go into two work arrays."""
        xp = backend.namespace(p.data)
        g = p.grad.data  # read only: p.grad must be left as it is
        l2 = weight_decay != 0 and not self.decoupled_weight_decay
        work, spare = self._work(p, 2) if l2 else (self._work(p, 1)[0], None)
        if weight_decay != 0:
            if self.decoupled_weight_decay:
                scale_in_place(p, 1 - lr * weight_decay)  # AdamW: shrink θ itself, outside the moments
            else:
                g = write_into(spare, xp.multiply, p.data, weight_decay)  # g = λθ + ∇θ, in ``spare``
                g += p.grad.data
        state = self.state.setdefault(p, {})
        if not state:
            state["step"] = 0
            state["exp_avg"] = aligned.zeros_like(p.data)
            state["exp_avg_sq"] = aligned.zeros_like(p.data)
        state["step"] += 1
        t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        m *= beta1  # the moment buffers are ours alone: updating them in place is safe
        m += write_into(work, xp.multiply, g, 1 - beta1)
        v *= beta2
        squared = write_into(work, xp.multiply, g, g)
        squared *= 1 - beta2
        v += squared
        bias_correction1 = 1 - beta1**t
        bias_correction2 = 1 - beta2**t
        denominator = write_into(work, xp.sqrt, v)  # √v̂ + ε = √v / √(1 − β₂ᵗ) + ε
        denominator /= math.sqrt(bias_correction2)
        denominator += eps
        step = write_into(work, xp.divide, m, denominator)  # m / (√v̂ + ε), over the denominator
        step *= lr / bias_correction1
        subtract_in_place(p, step)


class AdamW(Adam):
    r"""Adam with *decoupled* weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``:

        θ ← θ − η λ θ                      (decay the weights directly ...)
        then the Adam step above with g = ∇θ   (... not through the gradient)

    With Adam's L2 term, a weight's decay is divided by √v̂ like its gradient, so weights with
    large gradients are barely decayed; AdamW decays every weight at the same rate ηλ.
    The default weight_decay is 1e-2, as in PyTorch.
    """

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
