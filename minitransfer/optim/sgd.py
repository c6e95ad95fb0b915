"""Stochastic gradient descent, with PyTorch's momentum, dampening, Nesterov and weight decay."""

from minitransfer.autograd import no_grad
from minitransfer.optim.optimizer import Optimizer, check_non_negative, copy_array


class SGD(Optimizer):
    r"""θ ← θ − η ∇θ, the document's gradient descent, with PyTorch's optional extras.

    For each parameter θ with gradient ∇θ, at step t (η = lr, λ = weight_decay, μ = momentum,
    τ = dampening), exactly as ``torch.optim.SGD``:

        g ← ∇θ + λ θ                          (weight decay: the gradient of (λ/2)‖θ‖²)
        if μ ≠ 0:
            b ← g                   at t = 1  (the momentum buffer starts at the gradient)
            b ← μ b + (1 − τ) g     at t > 1
            g ← g + μ b             if nesterov, else g ← b
        θ ← θ − η g

    With every extra left at 0 the update is the plain θ ← θ − η ∇θ.
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group):
        name = "SGD"
        for key in ("lr", "weight_decay", "dampening"):
            check_non_negative(group, key, name)
        check_non_negative(group, "momentum", name)
        if not group["momentum"] < 1:
            raise ValueError(f"SGD: momentum must lie in [0, 1), got {group['momentum']!r}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: nesterov momentum needs momentum > 0 and dampening = 0, got "
                             f"momentum={group['momentum']!r}, dampening={group['dampening']!r}")

    @no_grad()
    def _update(self):
        for group in self.param_groups:
            # Python floats keep float32 arrays float32 (a NumPy float64 scalar would not).
            lr, momentum = float(group["lr"]), float(group["momentum"])
            dampening, weight_decay = float(group["dampening"]), float(group["weight_decay"])
            for p in self._parameters_to_update(group):
                g = p.grad.data
                if weight_decay != 0:
                    g = g + weight_decay * p.data  # out of place: never write into p.grad
                if momentum != 0:
                    state = self.state.setdefault(p, {})
                    buffer = state.get("momentum_buffer")
                    if buffer is None:
                        buffer = state["momentum_buffer"] = copy_array(g)  # g may be p.grad's array
                    else:
                        buffer *= momentum  # the buffer is ours alone: in place is safe
                        buffer += (1 - dampening) * g
                    g = g + momentum * buffer if group["nesterov"] else buffer
                # θ −= η g in place: one temporary η g, since p.grad must stay as it is
                p.sub_(g, alpha=lr)
