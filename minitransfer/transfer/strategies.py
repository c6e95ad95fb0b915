"""Fine-tuning (§3.3.2) and the strategies that decide *which* θ move, and how fast.

All of them minimise the target risk (1/n) Σ_{i≤n} L(yᵢ, f_θ(xᵢ)) from the pretrained θ⁰;
they differ in the update rule θ ← θ − η ∇θ. Each is one short function below, named for what
its paper calls it, and ``STRATEGY_FUNCTIONS`` maps the strategy's name to it:

| strategy          | function                    | what changes                                  |
|-------------------|-----------------------------|-----------------------------------------------|
| scratch           | train_from_scratch          | θ re-drawn at random first: the baseline      |
| linear_probe      | linear_probe                | body frozen (η_body = 0): only the head learns |
| full              | full_fine_tuning            | every θ with one rate η                       |
| lp_ft             | linear_probe_then_fine_tune | linear probe for half the steps, then every θ |
|                   |                             | at η/100 (Kumar et al., 2022)                 |
| discriminative    | discriminative_fine_tuning  | each layer its own rate: head η, layers below |
|                   |                             | η·γ, η·γ², ... (Howard & Ruder, 2018)         |
| gradual_unfreeze  | gradual_unfreezing          | the head first, then one more body layer per  |
|                   |                             | stage, top down (Howard & Ruder, 2018)        |
| l2sp              | l2_sp                       | full, plus α/2‖θ_body − θ⁰_body‖² + β/2‖θ_head‖² |
|                   |                             | (Li, Grandvalet & Davoine, 2018)              |
| bitfit            | bitfit                      | only the body's biases and the head           |
|                   |                             | (Ben Zaken, Ravfogel & Goldberg, 2022)        |
| lora              | low_rank_adaptation         | W + (α/r)·B·A on each body Linear, only A, B  |
|                   |                             | and the head train (Hu et al., 2022; lora.py) |

The head is ``model.head`` and the body ``model.body``; parameters are told apart by identity,
not by name. A "layer" is what ``body_layers`` returns. ``FineTuneResult.trainable_parameters``
counts the numbers the strategy trained (bitfit and lora: a few percent of full's).
"""

import copy
from dataclasses import dataclass, field

import numpy as np

from minitransfer import backend, nn
from minitransfer.attacks import AdversarialBatches
from minitransfer.tensor import Tensor
from minitransfer.train import History, as_xy, evaluate, fit, model_device
from minitransfer.transfer.lora import LoRAConfig, add_lora, lora_parameters, merge_lora
from minitransfer.transfer.workflow import (
    body_layers,
    check_body_head,
    freeze,
    layer_groups,
    make_loader,
    make_optimizer,
    unfreeze,
)

# Default learning rates (Adam), and why. Measured (digits, jitter target, k = 25 labels per
# class, a 64-128-5 MLP pretrained for 2,000 steps, 1,000 fine-tuning steps, batch 32, seeds
# 0-4; accuracy on the 110-image validation set of experiment.split_target, never the test set):
#   linear_probe  lr 1e-3: 56.7 ± 1.9%   lr 1e-2: 59.3 ± 2.4%   paired gain +2.5 [+0.7, +4.4]
#   lp_ft         lr 1e-3: 54.9 ± 2.6%   lr 1e-2: 60.2 ± 1.3%   paired gain +5.3 [+3.1, +7.4]
#   full          lr 1e-3: 57.3 ± 2.3%   lr 1e-2: 56.9 ± 2.8%   paired gain −0.4 [−2.4, +1.7]
# (95% t-intervals; with Holm's correction over the three, the first two still hold.) A frozen
# body lets the new head take the 10× larger step; for a network trained whole, 1e-2 measured
# no better, so full keeps 1e-3, which moves the pretrained weights less. LP-FT's second phase
# runs at lr/100 (not swept here). The sweep: a loop over these settings with fine_tune and
# evaluate, about 15 s with one BLAS thread. The same sweep for the parameter-efficient two:
#   bitfit        lr 1e-3: 57.1 ± 1.6%   lr 1e-2: 59.5 ± 1.9%   paired gain +2.4 [−0.2, +5.0]
#   lora (r 4, α 8) 1e-3: 50.2 ± 2.8%   lr 1e-2: 48.0 ± 4.4%   paired gain −2.2 [−9.6, +5.2]
# Neither interval excludes 0; bitfit, a frozen body but for its biases, takes the probe's
# 1e-2, and lora the lower 1e-3 (3e-4 and 3e-3 measured lower still: 50.9% and 47.9%, 3 seeds).
DEFAULT_LR = {"scratch": 1e-3, "linear_probe": 1e-2, "full": 1e-3, "lp_ft": 1e-2,
              "discriminative": 1e-3, "gradual_unfreeze": 1e-3, "l2sp": 1e-3,
              "bitfit": 1e-2, "lora": 1e-3}


@dataclass
class Phase:
    """One stretch of training with one optimizer, as it was built (read back from it)."""

    name: str
    steps: int
    learning_rates: list  # (group name, lr) of each parameter group of the optimizer
    parameters: int = 0  # how many numbers (parameter elements) this phase trained


@dataclass
class FineTuneResult:
    strategy: str
    history: History
    curve: list = field(default_factory=list)  # (step, accuracy on eval_data) pairs
    frozen_unchanged: bool = True  # frozen parameters were checked bit-identical afterwards
    phases: list = field(default_factory=list)  # the Phases, in order
    trainable_parameters: int = 0  # numbers trained in any phase (each parameter counted once)


def _head_ids(model):
    return {id(p) for p in model.head.parameters()}


def l2sp_penalty(model, reference, alpha=0.01, beta=0.01):
    """Ω(θ) = α/2 ‖θ_body − θ⁰_body‖² + β/2 ‖θ_head‖²   (Li, Grandvalet & Davoine, 2018).

    Pulls the body back towards the pretrained weights θ⁰ (``reference``: name → array) instead
    of towards zero as plain weight decay would; the new head (``model.head``) gets ordinary
    decay. Gradient: ∂Ω/∂θ_body = α (θ_body − θ⁰_body),  ∂Ω/∂θ_head = β θ_head.
    """
    head, total = _head_ids(model), None
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if id(p) in head:
            term = (p * p).sum() * (beta / 2)
        else:
            delta = p - Tensor(reference[name])
            term = (delta * delta).sum() * (alpha / 2)
        total = term if total is None else total + term
    return total


def _group(name, params):
    return [{"params": list(params), "name": name}]


@dataclass
class _Run:
    """What every strategy function needs: the model, its budget and options, and ``train``."""

    model: object
    steps: int
    lr: float
    seed: int
    alpha: float
    beta: float
    decay: float
    lora: object  # a lora.LoRAConfig
    train: object  # train(phase name, param groups, steps, lr=None, loss_fn=None)


def train_from_scratch(run):
    """The baseline: forget the pretrained weights (fresh PyTorch-style init), then train all."""
    generator = np.random.default_rng(run.seed + 10_000)
    for module in run.model.modules():
        if isinstance(module, nn.Linear):
            module.reset_parameters(generator)
    unfreeze(run.model)
    run.train("all, re-initialised", _group("all", run.model.parameters()), run.steps)


def linear_probe(run):
    """Freeze the body; train only the new head (a linear classifier on the body's features)."""
    freeze(run.model.body)
    run.train("head", _group("head", run.model.head.parameters()), run.steps)


def full_fine_tuning(run):
    """The document's fine-tuning (§3.3.2): every parameter, one learning rate."""
    unfreeze(run.model)
    run.train("all", _group("all", run.model.parameters()), run.steps)


def linear_probe_then_fine_tune(run):
    """LP-FT (Kumar et al., 2022): a linear probe for steps // 2, then everything at lr/100.

    The probe first gives the head sensible weights, so the full fine-tuning that follows
    does not distort the pretrained features through a random head's large gradients.
    """
    freeze(run.model.body)
    run.train("linear probe", _group("head", run.model.head.parameters()), run.steps // 2)
    unfreeze(run.model.body)
    run.train("fine-tune", _group("all", run.model.parameters()), run.steps - run.steps // 2,
              lr=run.lr / 100)


def discriminative_fine_tuning(run):
    """Every parameter, each layer at its own rate (``layer_groups``: ×decay per layer down)."""
    unfreeze(run.model)
    run.train("all, per-layer rates", layer_groups(run.model, run.lr, run.decay), run.steps)


def gradual_unfreezing(run):
    """Stage 0 trains the head; stage s also trains the s body layers nearest the head.

    The steps are shared as evenly as possible over the B + 1 stages; a stage with no step
    (fewer steps than stages) still unfreezes its layer.
    """
    layers = body_layers(run.model)
    stages, trained = len(layers) + 1, ["head"]
    freeze(run.model.body)
    for stage in range(stages):
        if stage > 0:
            name, layer = layers[-stage]  # top down: the layer nearest the head first
            unfreeze(layer)
            trained.append(name)
        trainable = [p for p in run.model.parameters() if p.requires_grad]
        n_steps = run.steps // stages + (1 if stage < run.steps % stages else 0)
        run.train(f"stage {stage}: " + " + ".join(trained), _group("trainable", trainable), n_steps)


def l2_sp(run):
    """Full fine-tuning with the L2-SP penalty pulling the body back to θ⁰ (``l2sp_penalty``)."""
    model, head = run.model, _head_ids(run.model)
    unfreeze(model)
    reference = {name: copy.deepcopy(p.data) for name, p in model.named_parameters()
                 if id(p) not in head}  # a copy: θ⁰ must not follow the weights as they train
    cross_entropy = nn.CrossEntropyLoss()

    def penalised(logits, y):
        return cross_entropy(logits, y) + l2sp_penalty(model, reference, run.alpha, run.beta)

    run.train("all + L2-SP penalty", _group("all", model.parameters()), run.steps, loss_fn=penalised)


def bitfit(run):
    """BitFit (Ben Zaken et al., 2022): every body weight frozen; the body's biases and the head
    train. A bias shifts a layer's units, so the pretrained features can move a little for the
    price of a few hundred numbers."""
    freeze(run.model.body)
    biases = [layer.bias for _, layer in body_layers(run.model) if getattr(layer, "bias", None) is not None]
    for bias in biases:
        bias.requires_grad_(True)
    run.train("body biases + head", _group("biases + head", [*biases, *run.model.head.parameters()]),
              run.steps)


def low_rank_adaptation(run):
    """LoRA (Hu et al., 2022): W + (α/r)·B·A on each body Linear (``lora.add_lora``, which checks
    r first), W and b frozen, A, B and the head trained; merged into W at the end unless
    ``LoRAConfig(merge=False)``."""
    add_lora(run.model, run.lora.r, run.lora.alpha, generator=run.seed + 20_000)
    factors = lora_parameters(run.model)
    run.train("LoRA factors + head", _group("lora + head", [*factors, *run.model.head.parameters()]),
              run.steps)
    if run.lora.merge:
        merge_lora(run.model)


STRATEGY_FUNCTIONS = {
    "scratch": train_from_scratch,
    "linear_probe": linear_probe,
    "full": full_fine_tuning,
    "lp_ft": linear_probe_then_fine_tune,
    "discriminative": discriminative_fine_tuning,
    "gradual_unfreeze": gradual_unfreezing,
    "l2sp": l2_sp,
    "bitfit": bitfit,
    "lora": low_rank_adaptation,
}
STRATEGIES = tuple(STRATEGY_FUNCTIONS)


def _copy_parameters(module):
    return {name: backend.to_numpy(p.data).copy() for name, p in module.named_parameters()}


def _unchanged(module, saved):
    return all(np.array_equal(backend.to_numpy(p.data), saved[name])
               for name, p in module.named_parameters())


def fine_tune(model, target, strategy="full", *, steps=300, lr=None, batch_size=32, optimizer="adam",
              seed=0, eval_data=None, eval_every=25, alpha=0.01, beta=0.01, decay=0.5, lora=None,
              progress=False, adversarial=None, capture=True):
    """Fine-tune ``model`` (pretrained body + new head) on ``target`` (x, y) with ``strategy``.

    Fine-tuning (§3.3.2) minimises the target risk min_θ (1/n) Σ_{i≤n} L(yᵢ, f_θ(xᵢ)) over the n
    target examples, starting from the pretrained θ⁰ (``scratch`` starts from random θ instead).

    Trains in place for ``steps`` optimiser steps in total (any steps ≥ 1, shared among the
    strategy's phases; a phase left with no step is skipped) and returns a ``FineTuneResult``
    whose ``phases`` record each optimizer's groups and learning rates. When ``eval_data`` is
    given, accuracy on it is recorded every ``eval_every`` steps and after the last (the
    learning curve used to count the steps needed to reach an accuracy). Parameters that
    ``linear_probe`` freezes are checked to be bit-identical afterwards (a RuntimeError otherwise).
    ``lora``: a ``transfer.lora.LoRAConfig`` (default r = 4, α = 8, merged at the end).
    ``capture=True`` (the default) trains with the captured step of ``replay.capture``, which
    gives the same numbers as the eager step without rebuilding the graph at every step.

    ``adversarial=ε`` (adversarial fine-tuning, a defence): in every batch, half the examples
    are replaced by PGD examples of radius ε made on the model as it is at that step
    (``attacks.AdversarialBatches``); the target's x must then lie in [0, 1].
    """
    if strategy not in STRATEGY_FUNCTIONS:
        raise ValueError(f"strategy: expected one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"fine_tune: steps must be a positive integer, got {steps!r}")
    check_body_head(model, "fine_tune")
    if lora is not None and not isinstance(lora, LoRAConfig):
        raise TypeError(f"fine_tune: lora: expected a transfer.LoRAConfig, got {type(lora).__name__}")
    lr = DEFAULT_LR[strategy] if lr is None else lr
    loader = make_loader(target, batch_size, seed, model_device(model))
    if adversarial is not None:
        loader = AdversarialBatches(model, loader, adversarial)
    if eval_data is not None:
        as_xy(eval_data)  # checked now (shapes, finite values), not after the first steps
    curve, phases, histories, trained = [], [], [], {}

    def record(step, loss):
        step += sum(h.steps for h in histories)
        if eval_data is not None and (step % eval_every == 0 or step == steps):
            curve.append((step, evaluate(model, eval_data)["accuracy"]))
        return False

    def train(name, groups, n_steps, lr=lr, loss_fn=None):
        if n_steps == 0:
            return
        opt = make_optimizer(groups, optimizer, lr)
        sizes = {id(p): p.numel() for g in opt.param_groups for p in g["params"]}
        trained.update(sizes)
        phases.append(Phase(name, n_steps, [(g["name"], g["lr"]) for g in opt.param_groups],
                            sum(sizes.values())))
        histories.append(fit(model, loss_fn or nn.CrossEntropyLoss(), opt, loader, steps=n_steps,
                             progress=progress, on_step=record, capture=capture))

    body_before = _copy_parameters(model.body) if strategy == "linear_probe" else None
    lora = LoRAConfig() if lora is None else lora
    STRATEGY_FUNCTIONS[strategy](_Run(model, steps, lr, seed, alpha, beta, decay, lora, train))
    result = FineTuneResult(strategy, _merge(histories), curve, phases=phases,
                            trainable_parameters=sum(trained.values()))
    if body_before is not None:
        result.frozen_unchanged = _unchanged(model.body, body_before)
        if not result.frozen_unchanged:
            raise RuntimeError("linear_probe: a frozen body parameter changed during fine-tuning")
    return result


def _merge(histories):
    merged = History()
    for h in histories:
        merged.losses += h.losses
        merged.epochs += h.epochs
        merged.steps += h.steps
        merged.seconds += h.seconds
    return merged
