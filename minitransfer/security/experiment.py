"""The security experiment: for each seed, every attack and defence on every strategy's student.

Per seed, once: a clean teacher and a poisoned teacher (pretrained on the source with and
without BadNets triggers), k labelled target examples, the attacker's images. Per strategy:

  1. **student**: a copy of the clean teacher, a new head, fine-tuned with the strategy;
     white-box FGSM and PGD accuracy at every ε; the teacher-crafted attack's success at every
     ε (the adversarial images are made once per ε, on the teacher alone); the trigger's flip
     rate (the control for 2);
  2. **poisoned**: the same from the poisoned teacher: clean accuracy and flip rate;
  3. **pruned**: the poisoned teacher, fine-pruned on the k clean examples, then fine-tuned;
  4. **adversarial**: the clean teacher fine-tuned with ``fine_tune(..., adversarial=ε_train)``:
     clean accuracy and PGD accuracy at ε_train.

Scratch ignores the pretrained weights, so 2 and 3 are not run for it. Every number is
measured on the target's held-out test images (at most ``max_eval`` of them, a fixed subset).
"""

import copy
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from minitransfer import nn
from minitransfer.attacks import pgd, predict, robust_accuracy
from minitransfer.data import k_per_class
from minitransfer.experiment import split_target
from minitransfer.security.poisoning import (
    backdoor_success,
    fine_prune,
    flip_rate,
    poison_source,
    stamp_trigger,
)
from minitransfer.security.teacher import attack_rates, attack_targets, attacker_images, feature_attack
from minitransfer.transfer import fine_tune, pretrain, replace_head


@dataclass
class Settings:
    """Everything the experiment depends on (written into attack.json)."""

    k: int = 25  # labelled target examples per class (None: the whole pool)
    hidden: tuple = (128, 64)
    pretrain_steps: int = 1000
    finetune_steps: int = 500
    eps: tuple = (0.0, 0.05, 0.1, 0.2)  # white-box and teacher-crafted radii (L∞, data in [0, 1])
    pgd_steps: int = 10  # PGD at evaluation: α = ε / 4, no random start
    feature_steps: int = 20  # the teacher-crafted attack: α = ε / 4
    adversarial_eps: float = 0.1  # ε of adversarial fine-tuning
    poison_fraction: float = 0.1  # triggered copies added, as a fraction of the source set
    poison_class: int = 0  # the source class the trigger points to
    trigger_size: int = 2  # side of the trigger square, in pixels
    prune_fraction: float = 0.5  # of the last body layer's units, in fine-pruning
    max_eval: int = 1000  # held-out target test images attacked (a fixed subset)
    device: str = "cpu"
    strategies: tuple = ("scratch", "linear_probe", "full", "lp_ft", "l2sp")
    seeds: tuple = (0, 1, 2)
    extra: dict = field(default_factory=dict)

    def as_dict(self):
        return {key: (list(value) if isinstance(value, tuple) else value)
                for key, value in asdict(self).items()}


def _student(teacher, strategy, train, settings, seed, adversarial=None, prune_on=None):
    """A copy of ``teacher`` with a new head (fine-pruned first when ``prune_on`` is given),
    fine-tuned on ``train`` with ``strategy``."""
    model = copy.deepcopy(teacher)
    replace_head(model, int(train[1].max()) + 1, generator=seed + 1)
    if prune_on is not None:
        fine_prune(model, prune_on, settings.prune_fraction)
    fine_tune(model, train, strategy, steps=settings.finetune_steps, seed=seed, adversarial=adversarial)
    return model


def _evaluation_set(task, max_eval):
    x, y = task.target_test
    if len(y) > max_eval:
        keep = np.sort(np.random.default_rng(0).permutation(len(y))[:max_eval])
        x, y = x[keep], y[keep]
    return x, y


def _teachers(task, settings, seed):
    """{"clean": model, "poisoned": model}: pretrained on the source, without and with triggers."""
    poisoned_source, _ = poison_source(task.source, settings.poison_fraction, settings.poison_class,
                                       settings.trigger_size, seed=seed)
    teachers = {}
    for name, source in (("clean", task.source), ("poisoned", poisoned_source)):
        sizes = [task.source[0].shape[1], *settings.hidden, task.source_classes]
        teachers[name] = nn.MLP(sizes, generator=seed, device=settings.device)
        pretrain(teachers[name], source, steps=settings.pretrain_steps, seed=seed)
    return teachers


def run_seed(task, settings, seed, log=print):
    """Every measurement of one seed: a dict of plain numbers, and ``examples`` for the figures
    (four test images: clean, under PGD, crafted on the teacher, triggered, with predictions)."""
    size, started, eps_max = settings.trigger_size, time.perf_counter(), max(settings.eps)
    teachers = _teachers(task, settings, seed)
    x_test, y_test = _evaluation_set(task, settings.max_eval)
    pool, validation = split_target(task)
    train = pool if settings.k is None else k_per_class(*pool, settings.k, seed=seed)
    guides = attacker_images(*validation, task.target_classes, seed)  # no student trains on them
    targets = attack_targets(y_test, task.target_classes, seed)
    crafted = {eps: feature_attack(teachers["clean"], x_test, guides[targets], eps,
                                   steps=settings.feature_steps) for eps in settings.eps}
    source_x, source_y = task.source_test if task.source_test is not None else task.source  # held out
    record = {"seed": seed, "strategies": {},
              "backdoor_success": {name: backdoor_success(t, source_x, source_y, settings.poison_class,
                                                          size) for name, t in teachers.items()}}
    shown = slice(0, 4)
    examples = {"x": x_test[shown], "y": y_test[shown], "targets": targets[shown], "eps": eps_max,
                "crafted": crafted[eps_max][shown], "triggered": stamp_trigger(x_test[shown], size),
                "predictions": {}}
    for strategy in settings.strategies:
        student = _student(teachers["clean"], strategy, train, settings, seed)
        row = {"clean": robust_accuracy(student, x_test, y_test, eps=0.0),
               "fgsm": [robust_accuracy(student, x_test, y_test, "fgsm", eps) for eps in settings.eps],
               "pgd": [robust_accuracy(student, x_test, y_test, "pgd", eps, steps=settings.pgd_steps)
                       for eps in settings.eps],
               "flip": flip_rate(student, x_test, size)}
        rates = [attack_rates(student, crafted[eps], y_test, targets) for eps in settings.eps]
        row["teacher_targeted"], row["teacher_untargeted"] = [r[0] for r in rates], [r[1] for r in rates]
        attacked = pgd(student, x_test[shown], y_test[shown], eps_max, eps_max / 4, settings.pgd_steps)
        seen = {"clean": predict(student, examples["x"]), "pgd": predict(student, attacked),
                "crafted": predict(student, examples["crafted"]),
                "triggered": predict(student, examples["triggered"])}
        examples.setdefault("pgd", {})[strategy] = attacked
        if strategy != "scratch":
            for variant, prune_on in (("poisoned", None), ("pruned", train[0])):
                model = _student(teachers["poisoned"], strategy, train, settings, seed, prune_on=prune_on)
                row[variant] = {"clean": robust_accuracy(model, x_test, y_test, eps=0.0),
                                "flip": flip_rate(model, x_test, size)}
                seen[f"{variant}_clean"] = predict(model, examples["x"])
                seen[f"{variant}_triggered"] = predict(model, examples["triggered"])
        hardened = _student(teachers["clean"], strategy, train, settings, seed,
                            adversarial=settings.adversarial_eps)
        row["adversarial"] = {
            "clean": robust_accuracy(hardened, x_test, y_test, eps=0.0),
            "pgd": robust_accuracy(hardened, x_test, y_test, "pgd", settings.adversarial_eps,
                                   steps=settings.pgd_steps),
            "pgd_plain": robust_accuracy(student, x_test, y_test, "pgd", settings.adversarial_eps,
                                         steps=settings.pgd_steps)}
        record["strategies"][strategy] = row
        examples["predictions"][strategy] = seen
    log(f"seed {seed}: {len(settings.strategies)} strategies measured in "
        f"{time.perf_counter() - started:.1f}s")
    return record, examples


def run(task, settings, log=print):
    """``run_seed`` for every seed: (records, the examples of the first seed, seconds per seed)."""
    records, examples, seconds = [], None, {}
    for seed in settings.seeds:
        started = time.perf_counter()
        record, seed_examples = run_seed(task, settings, seed, log)
        records.append(record)
        examples = examples or seed_examples
        seconds[str(seed)] = round(time.perf_counter() - started, 3)
    return records, examples, seconds
