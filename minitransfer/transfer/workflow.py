"""The three steps of the document's §3.2, each a function: pretrain, replace the head, fine-tune.

    1. pretrain:      min_θ (1/m) Σ_{i≤m} L(yᵢ, f_θ(xᵢ))   on the m source examples  (§3.3.1)
    2. replace_head:  the last layer is swapped for a new task's output layer          (§3.2)
    3. fine_tune:     min_θ (1/n) Σ_{i≤n} L(yᵢ, f_θ(xᵢ))   on the n target examples,
                      starting from the pretrained θ                                   (§3.3.2)

A model here is anything with a ``body`` (the feature extractor that is reused) and a
``head`` (the last Linear layer, which is task-specific), such as ``nn.MLP``.
"""

from dataclasses import dataclass, field

from minitransfer import backend, nn, optim
from minitransfer.data import DataLoader, TensorDataset
from minitransfer.pretraining.early_stopping import EarlyStopping
from minitransfer.train import History, as_xy, empirical_risk, fit, model_device


def make_loader(data, batch_size, seed, device="cpu"):
    """A shuffling DataLoader over (x, y) arrays, seeded so that runs repeat exactly."""
    x, y = as_xy(data)
    return DataLoader(TensorDataset(x, y), batch_size=min(batch_size, len(x)), shuffle=True,
                      seed=seed, device=device)


def make_optimizer(params, name="adam", lr=1e-3):
    """Adam (the default here: robust across strategies) or SGD with momentum 0.9."""
    if name == "adam":
        return optim.Adam(params, lr=lr)
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=0.9)
    raise ValueError(f"optimizer: expected 'adam' or 'sgd', got {name!r}")


def check_body_head(model, caller):
    """TypeError naming ``caller`` unless ``model`` has a ``body`` and a ``head`` nn.Linear."""
    if not isinstance(getattr(model, "head", None), nn.Linear) or not hasattr(model, "body"):
        raise TypeError(f"{caller}: the model needs a 'body' module and a 'head' nn.Linear "
                        f"(like nn.MLP), got {type(model).__name__}")


@dataclass
class PretrainHistory(History):
    """``fit``'s History, plus the early-stopping record when ``pretrain`` was given ``val``."""

    early_stopping: EarlyStopping = None  # evaluations, best_step, best_loss; None without val


def pretrain(model, source, *, loss_fn=None, steps=1000, lr=1e-3, batch_size=64,
             optimizer="adam", seed=0, progress=False, capture=True, val=None, patience=None,
             eval_every=50, lr_lambda=None):
    """Pretraining (§3.3.1): minimise the source risk (1/m) Σ_{i≤m} L(yᵢ, f_θ(xᵢ)).

    ``source`` is an (x, y) pair or a data set with ``x`` and ``y``; for an autoencoder pass
    ``(x, x)`` and ``loss_fn=nn.MSELoss()``. Trains ``model`` in place; returns a
    ``PretrainHistory`` (fit's History). ``capture=True`` (the default) replays a captured step
    (``replay.capture``): the same numbers as the eager step, without rebuilding the graph at
    every step.

    Early stopping: with ``val`` (held-out source examples, (x, y)) and ``patience``, the
    validation risk is computed every ``eval_every`` steps and after the last; training stops
    at the ``patience``-th evaluation in a row without improvement (patience counts
    evaluations, not steps) and the weights of the best evaluation are restored
    (``pretraining.EarlyStopping``; the record is ``history.early_stopping``).
    ``lr_lambda``: a function f of the step, lr(t) = lr · f(t) (``optim.LambdaLR``, stepped after
    every optimizer step), e.g. ``pretraining.warmup_cosine(steps, warmup_steps)``.
    """
    if (val is None) != (patience is None):
        raise ValueError(f"pretrain: early stopping needs both val (held-out source data) and "
                         f"patience, got val={'given' if val is not None else None} and "
                         f"patience={patience!r}")
    stopper = EarlyStopping(patience) if val is not None else None  # checks patience >= 1
    if val is not None:
        as_xy(val)  # checked now, not after the first evaluation
        if isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 1:
            raise ValueError(f"pretrain: eval_every: expected a whole number of steps >= 1, got "
                             f"{eval_every!r}")
    if lr_lambda is not None and not callable(lr_lambda):
        raise TypeError(f"pretrain: lr_lambda: expected a function of the step, got "
                        f"{type(lr_lambda).__name__}")
    loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
    loader = make_loader(source, batch_size, seed, model_device(model))
    opt = make_optimizer(model.parameters(), optimizer, lr)
    scheduler = optim.lr_scheduler.LambdaLR(opt, lr_lambda) if lr_lambda is not None else None

    def after_step(step, loss):
        if scheduler is not None:
            scheduler.step()  # per optimizer step, not per epoch
        if stopper is not None and (step % eval_every == 0 or step == steps):
            return stopper.update(step, empirical_risk(model, loss_fn, val), model)
        return False

    history = fit(model, loss_fn, opt, loader, steps=steps, progress=progress, capture=capture,
                  on_step=after_step if (stopper or scheduler) else None)
    if stopper is not None:
        stopper.restore(model)
    return PretrainHistory(**vars(history), early_stopping=stopper)


@dataclass
class HeadReport:
    """What ``replace_head`` kept, re-initialised and found frozen, with parameter counts."""

    reused: list = field(default_factory=list)  # (name, shape) of pretrained parameters kept
    reinitialised: list = field(default_factory=list)  # (name, shape) of the new head
    frozen: list = field(default_factory=list)  # names of parameters with requires_grad=False
    old_outputs: int = 0
    new_outputs: int = 0

    @property
    def reused_count(self):
        return sum(_count(shape) for _, shape in self.reused)

    @property
    def reinitialised_count(self):
        return sum(_count(shape) for _, shape in self.reinitialised)

    def __str__(self):
        lines = [f"replace_head: {self.old_outputs} outputs -> {self.new_outputs} outputs"]
        lines += [f"  reused        {name:<16} {str(shape):<12}" for name, shape in self.reused]
        lines += [f"  re-initialised {name:<15} {str(shape):<12}" for name, shape in self.reinitialised]
        lines.append(f"  {self.reused_count:,} pretrained parameters reused, "
                     f"{self.reinitialised_count:,} new, frozen: {', '.join(self.frozen) or 'none'}")
        return "\n".join(lines)


def _count(shape):
    total = 1
    for n in shape:
        total *= n
    return total


def replace_head(model, num_outputs, generator=None):
    """Step 2 of §3.2: give the pretrained body a new, freshly initialised output layer.

    The body's weights are kept exactly (they are the transferred knowledge); the new head
    ``Linear(hidden, num_outputs)`` starts from PyTorch's default initialisation, drawn from
    ``generator``. Works in place and returns a ``HeadReport``.
    """
    check_body_head(model, "replace_head")
    if not isinstance(num_outputs, int) or num_outputs < 1:
        raise ValueError(f"replace_head: num_outputs must be a positive integer, got {num_outputs!r}")
    old = model.head
    model.head = nn.Linear(old.in_features, num_outputs, generator=backend.get_generator(generator),
                           dtype=old.weight.dtype, device=old.weight.device)
    report = HeadReport(old_outputs=old.out_features, new_outputs=num_outputs)
    report.reused = [(name, p.shape) for name, p in model.body.named_parameters(prefix="body")]
    report.reinitialised = [(name, p.shape) for name, p in model.head.named_parameters(prefix="head")]
    report.frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    return report


def freeze(module):
    """Stop training ``module``: its parameters get no gradient and no update.

    Gradients still flow *through* a frozen layer to trainable layers before it: freezing
    only says "do not compute dL/dW for these W".
    """
    for p in module.parameters():
        p.requires_grad_(False)
        p.grad = None
    return module


def unfreeze(module):
    """Train ``module`` again (``requires_grad=True`` on all its parameters)."""
    for p in module.parameters():
        p.requires_grad_(True)
    return module


def param_groups(model, lr, head_lr_mult=10.0, body_lr_mult=1.0):
    """Two optimizer groups: the body at ``lr * body_lr_mult`` and the head at ``lr * head_lr_mult``.

    The new head starts from random weights and must move far; the pretrained body should
    move little. Frozen parameters are left out.
    """
    check_body_head(model, "param_groups")
    body = [p for p in model.body.parameters() if p.requires_grad]
    head = [p for p in model.head.parameters() if p.requires_grad]
    groups = []
    if body:
        groups.append({"params": body, "lr": lr * body_lr_mult, "name": "body"})
    if head:
        groups.append({"params": head, "lr": lr * head_lr_mult, "name": "head"})
    return groups


def body_layers(model):
    """The body's layers, input first: (name, module) for every module of ``model.body`` that
    holds parameters itself (an MLP's Linear layers), e.g. [("body.0", Linear), ("body.2", Linear)].

    This is the one definition of "layer" that discriminative rates and gradual unfreezing
    share. It walks the body's whole tree (``named_modules``), so a body nested in Sequentials
    keeps every layer, and every body parameter belongs to exactly one layer.
    """
    check_body_head(model, "body_layers")
    return [(name, module) for name, module in model.body.named_modules(prefix="body")
            if holds_parameters(module)]


def holds_parameters(module):
    """True for a module with parameters of its own (a Linear), False for ReLU or Sequential."""
    return next(iter(module.parameters(recurse=False)), None) is not None


def layer_groups(model, lr, decay=0.5):
    """Discriminative rates: the head at ``lr``, each body layer ``decay`` times the layer above.

    With B body layers (``body_layers``) numbered l = 1..B from the input:
    η_head = η, η_l = η · γ^(B + 1 − l). Layers near the input are held to carry the most
    general features (edges, strokes), so they change least; whether they do on a given task is
    measured by ``explain.layerwise_transferability`` (``minitransfer explain``). Frozen
    parameters are left out (a group of only frozen parameters is dropped).
    """
    check_body_head(model, "layer_groups")
    groups, rate = [{"params": list(model.head.parameters()), "lr": lr, "name": "head"}], lr
    for name, layer in reversed(body_layers(model)):
        rate *= decay
        groups.append({"params": list(layer.parameters(recurse=False)), "lr": rate, "name": name})
    for group in groups:
        group["params"] = [p for p in group["params"] if p.requires_grad]
    return [group for group in groups if group["params"]]
