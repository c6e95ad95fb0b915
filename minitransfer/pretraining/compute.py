"""Compute in one unit: multiply-adds per example, counted as the engine computes them.

The matrix products of the Linear layers are where an MLP spends its time, so compute is
counted in multiply-adds (MACs) of those products. For a chain of Linear layers l = 1..L
(an ``nn.MLP``: body, then head), layer l mapping in_l features to out_l, one example costs

    forward    F = Σ_l in_l · out_l                      z_l = h_{l−1} W_lᵀ + b_l
    backward   B = Σ_{l: W_l trains} in_l · out_l        dL/dW_l = g_lᵀ h_{l−1}
                 + Σ_{l: a layer below l trains} in_l · out_l     dL/dh_{l−1} = g_l W_l

and a training step costs F + B per example. The second sum is what the engine computes:
``functions.Affine`` forms dL/dh_{l−1} only when h_{l−1} needs a gradient, which it does when
some parameter below layer l trains. So the input x (the first layer's input) never gets one,
and a frozen body under a trained head (a linear probe) passes no gradient down at all. When
every layer trains, B = Σ_l in_l·out_l + Σ_{l≥2} in_l·out_l: the weight gradients of every
layer and the input gradients of every layer but the first. A frozen layer gets no weight
gradient (its W does not require one) but still passes the gradient down to a trained layer
below it.

Left out, and said so wherever these numbers are printed: the optimizer step (a few operations
per parameter per step, not per example), the biases, ReLU and the loss (O(out_l) per example,
not O(in_l · out_l)), and the evaluations a learning curve makes to *measure* training.
"""

from minitransfer import nn


def linear_layers(model):
    """The model's Linear layers in the order they run (an MLP: body, then head)."""
    layers = [module for module in model.modules() if isinstance(module, nn.Linear)]
    if not layers:
        raise ValueError(f"compute: {type(model).__name__} has no nn.Linear layer to count")
    return layers


def _shapes(model):
    return [(layer.in_features, layer.out_features) for layer in linear_layers(model)]


def forward_macs(model):
    """F = Σ_l in_l · out_l: multiply-adds of one example's forward pass."""
    return sum(n_in * n_out for n_in, n_out in _shapes(model))


def backward_macs(model, trains=None):
    """B: multiply-adds of one example's backward pass (see the module's docstring).

    ``trains``: one bool per Linear layer (True: the layer's parameters get gradients); by
    default read from the model as training would find it now: a weight gradient where
    ``weight.requires_grad``, and an input gradient above any layer with a parameter that
    requires one (a bias alone, as in BitFit, also needs the gradient passed down to it).
    """
    layers = linear_layers(model)
    if trains is None:
        weight_grads = [layer.weight.requires_grad for layer in layers]
        any_grads = [any(p.requires_grad for p in layer.parameters()) for layer in layers]
    else:
        weight_grads = any_grads = [bool(t) for t in trains]
        if len(weight_grads) != len(layers):
            raise ValueError(f"backward_macs: trains: expected one bool per Linear layer "
                             f"({len(layers)}), got {len(weight_grads)}")
    total, below_trains = 0, False
    for layer, weight_grad, any_grad in zip(layers, weight_grads, any_grads):
        size = layer.in_features * layer.out_features
        total += size if weight_grad else 0  # dL/dW = gᵀ h
        total += size if below_trains else 0  # dL/dh = g W, only when a layer below trains
        below_trains = below_trains or any_grad
    return total


def training_macs(model, trains=None):
    """F + B: multiply-adds of one training example (forward and backward; the step is free)."""
    return forward_macs(model) + backward_macs(model, trains)


def training_compute(model, steps, batch_size, trains=None):
    """Multiply-adds of ``steps`` optimizer steps on batches of ``batch_size`` examples."""
    return int(steps) * int(batch_size) * training_macs(model, trains)


def finetune_compute(phase_macs, steps, batch_size):
    """Multiply-adds of the first ``steps`` steps of a training made of phases ``phase_macs``:
    [steps, multiply-adds per example] each, in order (a linear probe, then everything, for LP-FT).
    None when ``steps`` is None (the accuracy was never reached)."""
    if steps is None:
        return None
    total, left = 0.0, float(steps)
    for phase_steps, macs in phase_macs:
        taken = min(left, phase_steps)
        total += taken * batch_size * macs
        left -= taken
    return total


def break_even(pretrain_macs, finetune_macs, scratch_macs):
    """The smallest number N of target tasks with P + N·F < N·S (one shared pretraining P, then
    F per task, against S per task from scratch): ⌊P / (S − F)⌋ + 1. None ("never") when F is
    None (fine-tuning did not reach the accuracy) or F ≥ S (fine-tuning costs as much or more)."""
    if finetune_macs is None or scratch_macs is None or finetune_macs >= scratch_macs:
        return None
    return int(pretrain_macs // (scratch_macs - finetune_macs)) + 1


def format_macs(value):
    """A multiply-add count in short scientific notation: 2.68e9 (None: '—')."""
    if value is None:
        return "—"
    return f"{float(value):.3g}".replace("e+0", "e").replace("e+", "e")
