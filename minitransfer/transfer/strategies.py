"""Fine-tuning (§3.3.2) and the strategies that decide *which* θ move, and how fast.

All of them minimise the target risk (1/n) Σ_{i≤n} L(yᵢ, f_θ(xᵢ)) from the pretrained θ⁰;
they differ in the update rule θ ← θ − η ∇θ:

| strategy          | what changes                                                        |
|-------------------|---------------------------------------------------------------------|
| scratch           | θ re-drawn at random first: the baseline every comparison needs     |
| linear_probe      | body frozen (η_body = 0): only the head learns                      |
| full              | every θ with one rate η                                             |
| lp_ft             | linear probe for half the steps, then everything at η/100           |
| discriminative    | each layer its own rate: head η, layers below η·γ, η·γ², ...        |
| gradual_unfreeze  | the head first, then one more body layer per stage (top down)       |
| l2sp              | full, plus the penalty α/2‖θ_body − θ⁰_body‖² + β/2‖θ_head‖²        |
"""

import copy
from dataclasses import dataclass, field

import numpy as np

from minitransfer import backend, nn
from minitransfer.tensor import Tensor
from minitransfer.train import History, as_xy, evaluate, fit, model_device
from minitransfer.transfer.workflow import (
    freeze,
    layer_groups,
    make_loader,
    make_optimizer,
    unfreeze,
)

STRATEGIES = ("scratch", "linear_probe", "full", "lp_ft", "discriminative", "gradual_unfreeze", "l2sp")

# Learning rates that worked across targets with Adam (see shared/notes/transfer-measurements.md):
# a frozen body lets the head take a 10x larger step; LP-FT's second phase moves gently.
DEFAULT_LR = {"scratch": 1e-3, "linear_probe": 1e-2, "full": 1e-3, "lp_ft": 1e-2,
              "discriminative": 1e-3, "gradual_unfreeze": 1e-3, "l2sp": 1e-3}


@dataclass
class FineTuneResult:
    strategy: str
    history: History
    curve: list = field(default_factory=list)  # (step, accuracy on eval_data) pairs
    frozen_unchanged: bool = True  # frozen parameters were checked bit-identical afterwards


def l2sp_penalty(model, reference, alpha=0.01, beta=0.01):
    """Ω(θ) = α/2 ‖θ_body − θ⁰_body‖² + β/2 ‖θ_head‖²   (Li, Grandvalet & Davoine, 2018).

    Pulls the body back towards the pretrained weights θ⁰ (``reference``: name → array) instead
    of towards zero as plain weight decay would; the new head gets ordinary decay.
    Gradient: ∂Ω/∂θ_body = α (θ_body − θ⁰_body),  ∂Ω/∂θ_head = β θ_head.
    """
    total = None
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name.startswith("head."):
            term = (p * p).sum() * (beta / 2)
        else:
            delta = p - Tensor(reference[name])
            term = (delta * delta).sum() * (alpha / 2)
        total = term if total is None else total + term
    return total


def _snapshot_frozen(model):
    return {name: backend.to_numpy(p.data).copy() for name, p in model.named_parameters()
            if not p.requires_grad}


def _frozen_unchanged(model, snapshot):
    params = dict(model.named_parameters())
    return all(np.array_equal(backend.to_numpy(params[name].data), values)
               for name, values in snapshot.items())


def fine_tune(model, target, strategy="full", *, steps=300, lr=None, batch_size=32, optimizer="adam",
              seed=0, eval_data=None, eval_every=25, alpha=0.01, beta=0.01, decay=0.5, progress=False):
    """Fine-tune ``model`` (pretrained body + new head) on ``target`` (x, y) with ``strategy``.

    Fine-tuning (§3.3.2) minimises the target risk min_θ (1/n) Σ_{i≤n} L(yᵢ, f_θ(xᵢ)) over the n
    target examples, starting from the pretrained θ⁰ (``scratch`` starts from random θ instead).

    Trains in place for ``steps`` optimiser steps in total and returns a ``FineTuneResult``;
    when ``eval_data`` is given, accuracy on it is recorded every ``eval_every`` steps (the
    learning curve used to count the steps needed to reach an accuracy). Parameters that the
    strategy freezes are checked to be bit-identical afterwards (a RuntimeError otherwise).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy: expected one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"fine_tune: steps must be a positive integer, got {steps!r}")
    lr = DEFAULT_LR[strategy] if lr is None else lr
    loader = make_loader(target, batch_size, seed, model_device(model))
    if eval_data is not None:
        as_xy(eval_data)  # checked now (shapes, finite values), not after the first steps
    ce = nn.CrossEntropyLoss()
    curve, offset = [], [0]

    def record(step, loss):
        step += offset[0]
        if eval_data is not None and (step % eval_every == 0 or step == steps):
            curve.append((step, evaluate(model, eval_data)["accuracy"]))
        return False

    def phase(groups_or_params, n_steps, loss_fn=ce, phase_lr=lr):
        opt = make_optimizer(groups_or_params, optimizer, phase_lr)
        hist = fit(model, loss_fn, opt, loader, steps=n_steps, progress=progress, on_step=record)
        offset[0] += hist.steps
        return hist

    histories = []
    if strategy == "scratch":
        generator = np.random.default_rng(seed + 10_000)
        for module in model.modules():
            if isinstance(module, nn.Linear):
                module.reset_parameters(generator)
        unfreeze(model)
        histories.append(phase(model.parameters(), steps))
    elif strategy == "full":
        unfreeze(model)
        histories.append(phase(model.parameters(), steps))
    elif strategy == "linear_probe":
        freeze(model.body)
        snapshot = _snapshot_frozen(model)
        histories.append(phase(model.head.parameters(), steps))
    elif strategy == "lp_ft":
        freeze(model.body)
        histories.append(phase(model.head.parameters(), steps // 2))
        unfreeze(model.body)
        histories.append(phase(model.parameters(), steps - steps // 2, phase_lr=lr / 100))
    elif strategy == "discriminative":
        unfreeze(model)
        histories.append(phase(layer_groups(model, lr, decay), steps))
    elif strategy == "gradual_unfreeze":
        histories += _gradual_unfreeze(model, steps, lr, phase)
    elif strategy == "l2sp":
        unfreeze(model)
        reference = {name: copy.deepcopy(p.data) for name, p in model.named_parameters()
                     if not name.startswith("head.")}

        def penalised(logits, y):
            return ce(logits, y) + l2sp_penalty(model, reference, alpha, beta)

        histories.append(phase(model.parameters(), steps, loss_fn=penalised))
    result = FineTuneResult(strategy, _merge(histories), curve)
    if strategy == "linear_probe":
        result.frozen_unchanged = _frozen_unchanged(model, snapshot)
        if not result.frozen_unchanged:
            raise RuntimeError("linear_probe: a frozen body parameter changed during fine-tuning")
    return result


def _gradual_unfreeze(model, steps, lr, phase):
    """Stage 0 trains the head; stage s also trains the s body Linear layers nearest the head."""
    linears = [m for m in model.body.modules() if isinstance(m, nn.Linear)]
    stages = len(linears) + 1
    freeze(model.body)
    histories = []
    for stage in range(stages):
        if stage > 0:
            unfreeze(linears[-stage])
        n_steps = steps // stages + (1 if stage < steps % stages else 0)
        if n_steps:
            trainable = [p for p in model.parameters() if p.requires_grad]
            histories.append(phase(trainable, n_steps))
    return histories


def _merge(histories):
    merged = History()
    for h in histories:
        merged.losses += h.losses
        merged.epochs += h.epochs
        merged.steps += h.steps
        merged.seconds += h.seconds
    return merged
