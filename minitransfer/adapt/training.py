"""Unsupervised domain adaptation: train on labelled source data while the unlabelled target
images pull the features towards looking alike in both domains.

Every method minimises the source classification risk plus an alignment term on the body's
last features h = body(x) (a source batch S and a target batch T at every step):

| method      | objective                                          | paper                          |
|-------------|----------------------------------------------------|--------------------------------|
| source_only | L_y(S)                                             | the baseline: no target data   |
| dann        | L_y(S) + w · L_d(S, T) through a gradient reversal | Ganin et al., JMLR 2016        |
| coral       | L_y(S) + w · ‖C_s − C_t‖²_F / 4d²                  | Sun & Saenko, 2016 (Deep CORAL)|
| mmd         | L_y(S) + w · MMD²(h_S, h_T)                        | Long et al., 2015 (DAN)        |

DANN: a small domain classifier D (``DomainClassifier``) learns to tell source features
(label 0) from target features (label 1), minimising the cross-entropy L_d. Between the body
and D sits ``nn.GradientReversal``: D's parameters follow −∇L_d as usual, but the body receives
−λ ∇L_d, so it learns features on which D fails. λ follows the paper's schedule
λ_p = 2 / (1 + exp(−γ p)) − 1 with γ = 10 and p the fraction of training done, from 0 to 1
(``dann_lambda``). One difference from the paper: Adam at a fixed rate (the package's
default optimizer) instead of SGD with an annealed rate.

The target's labels are never read: ``adapt`` takes target images only (an (x, y) pair is
accepted and its y ignored), so the same method gives the same weights whatever the labels.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from minitransfer import nn
from minitransfer.adapt.losses import coral_loss, mmd_loss
from minitransfer.data import DataLoader, TensorDataset
from minitransfer.tensor import Tensor
from minitransfer.train import NonFiniteLossError, as_xy, model_device
from minitransfer.transfer.workflow import check_body_head, make_loader, make_optimizer

METHODS = ("source_only", "dann", "coral", "mmd")

# The weight w of the alignment term, per method, chosen without any target label. Rule: the
# largest w of a log grid whose accuracy on the SOURCE validation split (compare_methods' 25%)
# stays within 1 point of source-only's (97.1%), averaged over the default shifts noise, invert
# and jitter (digits, 64-128-64-10, 400 steps, seeds 0-1): alignment lowers the divergence term
# of Ben-David et al.'s bound (target error <= source error + divergence + λ*), so push it as
# far as the other term we can measure, the source error, allows. Measured (noise/invert/jitter):
#   dann  w 0.3: 97.1/95.6/96.2 (mean 96.3)   w 1: 96.7/90.0/95.3 (94.0)   w 3: 94.0/89.6/94.0
#   mmd   w 1: 97.3/97.3/97.6   w 3: 97.8/97.8/97.8   w 10: 52.2/95.1/53.8 (one seed collapsed)
#   coral w 1 ... 10,000: 97.3 to 98.9 on every shift: never lower.
# CORAL's source accuracy cannot see its failure mode (shrinking every feature towards 0 makes
# both covariances small), so its weight follows Sun & Saenko's own rule, "the classification
# and CORAL losses roughly the same at the end of training", read as within a factor 3: the
# CORAL term ends at 0.34× the classification loss with w = 100 on all three shifts, at 0.31×
# with w = 30. (The papers' defaults: DANN 1 with the λ ramp, DAN 1.) The sweep: a loop of
# adapt and train.evaluate over these weights, about 6 minutes on the shared 2-core machine.
DEFAULT_WEIGHT = {"source_only": 0.0, "dann": 0.3, "coral": 100.0, "mmd": 3.0}


def dann_lambda(progress, gamma=10.0):
    """λ_p = 2 / (1 + exp(−γ p)) − 1: 0 at the start (p = 0), 0.987 at p = 0.5, → 1 at p = 1.

    The domain classifier is poor early in training, so its reversed gradient is mostly noise;
    the ramp keeps it out until the classifier has learned something (Ganin et al., 2016).
    """
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


class DomainClassifier(nn.Module):
    """D(h) = MLP(GradientReversal(h)): two logits, "source" (0) and "target" (1), for features h."""

    def __init__(self, in_features, hidden=64, generator=None):
        super().__init__()
        self.reversal = nn.GradientReversal(0.0)
        self.net = nn.MLP([in_features, hidden, 2], generator=generator)

    def forward(self, h):
        return self.net(self.reversal(h))


@dataclass
class AdaptResult:
    """What ``adapt`` did: the method, its weight, and the losses and λ of every step."""

    method: str
    weight: float
    steps: int
    class_losses: list = field(default_factory=list)  # L_y(S) at each step
    alignment_losses: list = field(default_factory=list)  # L_d, CORAL or MMD² (not weighted)
    lambdas: list = field(default_factory=list)  # DANN's λ at each step
    domain_classifier: object = None  # DANN's D after training


def target_images(target_unlabelled):
    """The target's x: an array or Tensor of images, or an (x, y) pair / data set whose y is
    ignored (never read: a target's labels have no place in unsupervised adaptation)."""
    if isinstance(target_unlabelled, (tuple, list)) and len(target_unlabelled) == 2:
        return target_unlabelled[0]
    if hasattr(target_unlabelled, "x") and hasattr(target_unlabelled, "y"):
        return target_unlabelled.x
    return target_unlabelled


def _check(model, source, target_x, method, steps, weight):
    """Every argument of ``adapt`` checked before anything is trained."""
    if method not in METHODS:
        raise ValueError(f"adapt: method must be one of {', '.join(METHODS)}, got {method!r}")
    check_body_head(model, "adapt")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"adapt: steps must be a positive integer, got {steps!r}")
    if weight is not None and (isinstance(weight, bool) or not isinstance(weight, (int, float))
                               or not math.isfinite(weight) or weight < 0):
        raise ValueError(f"adapt: weight must be a finite number >= 0, got {weight!r}")
    xs, ys = as_xy(source)
    target_x = np.asarray(target_x.data if isinstance(target_x, Tensor) else target_x)
    if target_x.ndim != 2 or xs.ndim != 2 or target_x.shape[1] != xs.shape[1]:
        raise ValueError(f"adapt: source and target images must have the same number of features, "
                         f"got source x of shape {xs.shape} and target x of shape {target_x.shape}")
    if method != "source_only" and len(target_x) < 2:
        raise ValueError(f"adapt: method {method!r} needs at least 2 target images, got {len(target_x)}")
    outputs = model.head.out_features
    if int(ys.max()) >= outputs or int(ys.min()) < 0:
        raise ValueError(f"adapt: the source labels run from {int(ys.min())} to {int(ys.max())}, but "
                         f"the model's head has {outputs} outputs (classes 0 to {outputs - 1})")
    return target_x


def _forever(loader):
    while True:
        yield from loader


def adapt(model, source, target_unlabelled, method="dann", *, steps=1000, lr=1e-3, batch_size=64,
          weight=None, seed=0, domain_hidden=64, log=None):
    """Train ``model`` (in place) on the labelled ``source`` while aligning it with the target.

    ``source``: (x, y) or a data set with x and y; ``target_unlabelled``: target images x (an
    (x, y) pair is accepted; y is never read). ``method``: one of ``METHODS`` (see the table
    above); ``weight``: the alignment term's weight w (default ``DEFAULT_WEIGHT[method]``).
    Each step draws one source batch (the same batches, in the same order, as
    ``transfer.pretrain(model, source, steps=, lr=, batch_size=, seed=)``: "source_only" gives
    exactly its weights) and, for the other methods, one target batch. Returns an ``AdaptResult``.
    """
    target_x = _check(model, source, target_images(target_unlabelled), method, steps, weight)
    weight = DEFAULT_WEIGHT[method] if weight is None else float(weight)
    device = model_device(model)
    source_batches = _forever(make_loader(source, batch_size, seed, device))
    target_batches = _forever(DataLoader(TensorDataset(target_x), batch_size=min(batch_size, len(target_x)),
                                         shuffle=True, seed=np.random.default_rng([seed, 1]), device=device))
    params = list(model.parameters())
    domain = None
    if method == "dann":
        width = model.head.in_features
        domain = DomainClassifier(width, domain_hidden, generator=np.random.default_rng([seed, 2])).to(device)
        params += list(domain.parameters())
    optimizer = make_optimizer(params, "adam", lr)
    loss_fn = nn.CrossEntropyLoss()
    result = AdaptResult(method, weight, steps, domain_classifier=domain)
    model.train()
    for step in range(steps):
        xs, ys = next(source_batches)
        optimizer.zero_grad()
        if method == "source_only":
            loss = class_loss = loss_fn(model(xs), ys)  # exactly what train.fit computes
            alignment = None
        else:
            (xt,) = next(target_batches)
            hs, ht = model.body(xs), model.body(xt)
            class_loss = loss_fn(model.head(hs), ys)
            alignment = _alignment(method, hs, ht, domain, step / steps, loss_fn, result)
            loss = class_loss + alignment * weight
        value = loss.item()
        if not math.isfinite(value):
            raise NonFiniteLossError(f"adapt ({method}): the loss became {value} at step {step + 1} "
                                     f"with learning rate {lr}; the step was not applied. Try a "
                                     f"smaller learning rate or weight.")
        loss.backward()
        optimizer.step()
        result.class_losses.append(class_loss.item())
        if alignment is not None:
            result.alignment_losses.append(alignment.item())
        if log is not None and (step + 1) % max(1, steps // 5) == 0:
            log(f"  {method} step {step + 1}/{steps}: class loss {result.class_losses[-1]:.4f}")
    return result


def _alignment(method, hs, ht, domain, progress, loss_fn, result):
    """The method's alignment term on source features hs and target features ht."""
    if method == "coral":
        return coral_loss(hs, ht)
    if method == "mmd":
        return mmd_loss(hs, ht)
    domain.reversal.lambda_ = dann_lambda(progress)
    result.lambdas.append(domain.reversal.lambda_)
    source_domain = np.zeros(hs.shape[0], dtype=np.int64)
    target_domain = np.ones(ht.shape[0], dtype=np.int64)
    return (loss_fn(domain(hs), source_domain) + loss_fn(domain(ht), target_domain)) * 0.5


def dann(model, source, target_unlabelled, **options):
    """Domain-adversarial training (Ganin et al., JMLR 2016): ``adapt(..., method="dann")``."""
    return adapt(model, source, target_unlabelled, method="dann", **options)
