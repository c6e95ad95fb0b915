"""How much pretraining buys, and when it pays for itself (issue 19; the document's §2.1, §5.1).

On one task (``experiment.make_task``: source classes 0–4, target classes 5–9), paired by seed:

1. the target accuracy after fine-tuning, and its gain over scratch, as the pretraining data
   grows (m distinct source images, each with its jittered copies) and as the pretraining
   budget grows (optimizer steps);
2. compute in one unit, multiply-adds (``pretraining.compute``): pretrain once then fine-tune
   vs train from scratch, each until it reaches scratch's accuracy, and the number of target
   tasks after which one shared pretraining is the cheaper way;
3. efficient pretraining (early stopping, warm-up + cosine, coresets, distillation), each as
   (pretraining compute, target gain) against plain pretraining.

Pretrain once, fine-tune many: for each seed the plain model is pretrained once, and every
strategy, every point of the steps curve (snapshots of that one run) and the distillation
teacher start from it. ``measure`` returns one record per (seed, what was pretrained, how it was
fine-tuned); ``summarize_scaling`` reads them (``experiment.summarize``: gains, intervals,
verdicts, Holm, steps to scratch's accuracy) and adds the compute.
"""

import copy
import time
from dataclasses import dataclass

import numpy as np

from minitransfer import nn, pretraining
from minitransfer.data import k_per_class
from minitransfer.experiment import split_target, summarize
from minitransfer.pretraining import break_even, finetune_compute
from minitransfer.train import evaluate, fit
from minitransfer.transfer import fine_tune, make_loader, make_optimizer, pretrain, replace_head


@dataclass
class ScaleSettings:
    """What ``measure`` runs. The largest of ``pretrain_steps`` is the budget B of every
    pretraining except the steps curve's; m = None means every distinct source image."""

    ms: tuple = (10, 30, 100, None)
    pretrain_steps: tuple = (10, 30, 100, 300, 1000)
    k: int = 25
    strategies: tuple = ("full", "linear_probe", "lp_ft")  # the first fine-tunes every curve
    finetune_steps: int = 300
    pretrain_batch: int = 64
    finetune_batch: int = 32
    eval_every: int = 10  # steps between points of the fine-tuning learning curve
    patience: int = 3  # early stopping: evaluations without improvement
    patience_every: int = 50  # early stopping: steps between evaluations
    val_fraction: float = 0.1  # early stopping: share of source images held out
    warmup_fraction: float = 0.1  # warm-up steps of the cosine schedule, as a share of B
    coreset_fractions: tuple = (0.25, 0.5)
    student_shrink: int = 2  # the student's hidden widths: the teacher's divided by this
    temperature: float = 4.0
    device: str = "cpu"

    @property
    def budget(self):
        return max(self.pretrain_steps)


def image_ids(task):
    """Which distinct image each source row was made from (``Task.source_images``)."""
    if task.source_images is None:
        return np.arange(len(task.source[1]))
    return np.asarray(task.source_images)


def distinct_images(task):
    """How many distinct images the source holds (the largest m)."""
    return len(np.unique(image_ids(task)))


def pretrain_snapshots(model, source, steps_list, *, seed=0, batch_size=64):
    """Pretrain ``model`` once for max(steps_list) steps (Adam, constant rate, as ``pretrain``);
    return {s: the weights after step s} for each s listed.

    With a constant rate, the first s steps of a long run are exactly a run of s steps (the
    same batches in the same order, the same optimizer state): one run gives the whole curve.
    """
    wanted, snapshots = set(steps_list), {}
    loader = make_loader(source, batch_size, seed, next(model.parameters()).device)
    optimizer = make_optimizer(model.parameters(), "adam", 1e-3)

    def keep(step, loss):
        if step in wanted:
            snapshots[step] = copy.deepcopy(model.state_dict())
        return False

    fit(model, nn.CrossEntropyLoss(), optimizer, loader, steps=max(wanted), progress=False, on_step=keep,
        capture=True)
    return snapshots


def _phase_trains(phase, n_layers):
    """Which Linear layers train in a fine-tuning phase, from its optimizer's group names."""
    names = {name for name, _ in phase.learning_rates}
    if names == {"head"}:
        return [False] * (n_layers - 1) + [True]
    if names == {"all"}:
        return [True] * n_layers
    raise ValueError(f"scale: cannot count the compute of phase {phase.name!r} (groups {sorted(names)})")


def _fine_tuned(model, target, validation, test, strategy, s, seed):
    """Fine-tune a copy of ``model`` (new head) on ``target``: accuracy, curve, compute per phase."""
    net = copy.deepcopy(model)
    replace_head(net, int(np.max(target[1])) + 1, generator=seed + 1)
    result = fine_tune(net, target, strategy, steps=s.finetune_steps, batch_size=s.finetune_batch,
                       seed=seed, eval_data=validation, eval_every=s.eval_every)
    layers = len(pretraining.linear_layers(net))
    phase_macs = [[p.steps, pretraining.training_macs(net, _phase_trains(p, layers))]
                  for p in result.phases]
    return {"accuracy": evaluate(net, test)["accuracy"], "curve": result.curve,
            "phase_macs": phase_macs, "sizes": net.sizes}


def _model(task, hidden, seed, s):
    return nn.MLP([task.source[0].shape[1], *hidden, task.source_classes], generator=seed,
                  device=s.device)


def _plain_cost(model, steps, s):
    return pretraining.training_compute(model, steps, s.pretrain_batch)


def _early_stopping(task, hidden, seed, s):
    """Plain pretraining that stops when the loss on held-out source images stops improving."""
    x, y = task.source
    ids = image_ids(task)
    n_held = max(task.source_classes, round(s.val_fraction * distinct_images(task)))
    held = pretraining.choose_images(task.source, ids, n_held, seed=seed)
    is_val = np.isin(ids, held)  # every copy of a held-out image is held out
    model = _model(task, hidden, seed, s)
    history = pretrain(model, (x[~is_val], y[~is_val]), steps=s.budget, batch_size=s.pretrain_batch,
                       seed=seed, val=(x[is_val], y[is_val]), patience=s.patience,
                       eval_every=s.patience_every)
    stop = history.early_stopping
    evaluations = len(stop.evaluations) * int(is_val.sum()) * pretraining.forward_macs(model)
    return ("early stopping", model, _plain_cost(model, history.steps, s) + evaluations,
            {"steps": history.steps, "best_step": stop.best_step, "evaluation_macs": evaluations})


def _warmup_cosine(task, hidden, seed, s):
    """B steps with a linear warm-up over the first tenth, then a cosine decay to 0."""
    model = _model(task, hidden, seed, s)
    warmup = max(1, round(s.warmup_fraction * s.budget))
    pretrain(model, task.source, steps=s.budget, batch_size=s.pretrain_batch, seed=seed,
             lr_lambda=pretraining.warmup_cosine(s.budget, warmup))
    return ("warm-up + cosine", model, _plain_cost(model, s.budget, s), {"warmup_steps": warmup})


def _coreset(task, hidden, seed, s, rule, fraction):
    """Pretraining on a ``fraction`` of the source images chosen by ``rule``, for the same number
    of passes over its data as plain pretraining (fraction × B steps)."""
    ids, labels = image_ids(task), task.source[1][np.unique(image_ids(task), return_index=True)[1]]
    size = max(task.source_classes, round(fraction * len(labels)))
    chosen = pretraining.choose_images(task.source, ids, size, rule=rule, seed=seed)
    steps = max(1, round(fraction * s.budget))
    model = _model(task, hidden, seed, s)
    pretrain(model, pretraining.rows_of(task.source, ids, chosen), steps=steps,
             batch_size=s.pretrain_batch, seed=seed)
    selection = 0
    if rule == "k_center":
        chosen_labels = labels[np.searchsorted(np.unique(ids), chosen)]
        selection = pretraining.k_center_macs(labels, chosen_labels, task.source[0].shape[1])
    name = "coreset random" if rule == "random" else "coreset k-center"
    return (f"{name} m/{round(1 / fraction)}", model, _plain_cost(model, steps, s) + selection,
            {"images": size, "steps": steps, "selection_macs": selection})


def _distilled(task, plain, small, seed, s):
    """A student with the ``small`` body pretrained to match ``plain``'s logits at temperature T.

    The teacher is already paid for (pretrain once); its logits are computed once per row."""
    student = _model(task, small, seed, s)
    pretraining.distill(student, plain, task.source[0], temperature=s.temperature, steps=s.budget,
                        batch_size=s.pretrain_batch, seed=seed)
    teacher = len(task.source[0]) * pretraining.forward_macs(plain)
    return (f"distilled student {'-'.join(map(str, small))}", student,
            _plain_cost(student, s.budget, s) + teacher, {"teacher_macs": teacher})


def _small_plain(task, small, seed, s):
    """The student's network pretrained on the labels instead: what distillation must beat."""
    model = _model(task, small, seed, s)
    pretrain(model, task.source, steps=s.budget, batch_size=s.pretrain_batch, seed=seed)
    return (f"small {'-'.join(map(str, small))}, labels", model, _plain_cost(model, s.budget, s), {})


def _methods(task, plain, hidden, seed, s):
    """[(label, pretrained model, pretraining compute, parts)] of each efficient method."""
    small = tuple(max(1, w // s.student_shrink) for w in hidden)
    return [_early_stopping(task, hidden, seed, s), _warmup_cosine(task, hidden, seed, s),
            *[_coreset(task, hidden, seed, s, rule, fraction)
              for rule in ("random", "k_center") for fraction in s.coreset_fractions],
            _distilled(task, plain, small, seed, s), _small_plain(task, small, seed, s)]


def measure(task, hidden, seeds, settings=None, log=print):
    """Every measurement of this module for each seed; returns (records, seconds).

    A record: ``table`` ("scratch", "m", "steps", "strategy" or "method"), ``strategy`` (the
    row label ``experiment.summarize`` groups by), ``k``, ``seed``, test ``accuracy``,
    validation ``curve``, ``x`` (m or steps on a curve), ``pretrain_macs``, ``phase_macs``
    ([steps, multiply-adds per example] of each fine-tuning phase), ``sizes`` and ``parts``
    (what the pretraining compute is made of).
    """
    s = settings or ScaleSettings()
    records, seconds = [], {}
    for seed in seeds:
        started = time.perf_counter()
        seed_records, seconds[f"seed {seed}: plain pretraining (once)"] = _measure_seed(
            task, hidden, seed, s)
        records += seed_records
        seconds[f"seed {seed}"] = round(time.perf_counter() - started, 3)
        others = len([m for m in s.ms if m is not None]) + 8
        log(f"seed {seed}: {len(seed_records)} fine-tunings from one plain pretraining and "
            f"{others} other pretrainings in {seconds[f'seed {seed}']:.1f}s")
    return records, seconds


def _measure_seed(task, hidden, seed, s):
    """The records of one seed, and the seconds its one plain pretraining took."""
    pool, validation = split_target(task)
    target, ids, records = k_per_class(*pool, s.k, seed=seed), image_ids(task), []

    def add(table, label, model, macs, strategy=s.strategies[0], parts=None, x=None):
        record = _fine_tuned(model, target, validation, task.target_test, strategy, s, seed)
        records.append({"table": table, "strategy": label, "k": s.k, "seed": seed, "x": x,
                        "pretrain_macs": int(macs), "parts": parts or {}, **record})

    add("scratch", "scratch", _model(task, hidden, seed, s), 0, strategy="scratch")
    plain = _model(task, hidden, seed, s)
    started = time.perf_counter()
    snapshots = pretrain_snapshots(plain, task.source, s.pretrain_steps, seed=seed,
                                   batch_size=s.pretrain_batch)
    plain_seconds = round(time.perf_counter() - started, 3)
    for steps in sorted(s.pretrain_steps):
        plain.load_state_dict(snapshots[steps])
        add("steps", f"{steps} steps", plain, _plain_cost(plain, steps, s), x=steps)
    plain_macs = _plain_cost(plain, s.budget, s)  # plain now holds the weights after B steps
    for strategy in s.strategies:
        add("strategy", strategy, plain, plain_macs, strategy=strategy)
    for m in s.ms:
        model = plain
        if m is not None:
            model = _model(task, hidden, seed, s)
            pretrain(model, pretraining.source_images(task.source, ids, m, seed=seed),
                     steps=s.budget, batch_size=s.pretrain_batch, seed=seed)
        size = m or distinct_images(task)
        add("m", f"m={size}", model, plain_macs, x=size)
    add("method", "plain", plain, plain_macs)
    for label, model, macs, parts in _methods(task, plain, hidden, seed, s):
        add("method", label, model, macs, parts=parts)
    return records, plain_seconds


TABLES = ("m", "steps", "strategy", "method")


def summarize_scaling(records, settings=None):
    """{table: rows}: ``experiment.summarize`` of each table's runs with scratch's, plus compute.

    Each row gains ``pretrain_macs`` (mean over seeds; 0 for scratch), ``finetune_macs`` (to
    reach scratch's mean final validation accuracy, at the mean step it was first reached;
    None when no seed reached it), ``per_step_macs`` (fine-tuning, first phase) and
    ``break_even_tasks`` (None: never). A method's row also gets ``vs_plain``: its paired
    difference from plain pretraining, with Holm's correction over the methods read together.
    """
    from minitransfer import stats

    s = settings or ScaleSettings()
    scratch_runs = [r for r in records if r["table"] == "scratch"]
    tables = {}
    for table in TABLES:
        runs = scratch_runs + [r for r in records if r["table"] == table]
        rows = summarize(runs)
        for row in rows:
            mine = [r for r in runs if r["strategy"] == row["strategy"]]
            row["pretrain_macs"] = float(np.mean([r["pretrain_macs"] for r in mine]))
            row["per_step_macs"] = mine[0]["phase_macs"][0][1] * s.finetune_batch
            row["finetune_macs"] = finetune_compute(mine[0]["phase_macs"], row["steps_to_target"],
                                                    s.finetune_batch)
            row["sizes"], row["x"] = mine[0]["sizes"], mine[0]["x"]
            row["parts"] = [r["parts"] for r in mine]  # per seed, in seed order
        scratch = next(row for row in rows if row["strategy"] == "scratch")
        for row in rows:
            reached = row["seeds_reaching_target"] >= max(1, scratch["seeds_reaching_target"])
            row["reaches_target"] = reached
            row["break_even_tasks"] = (None if row is scratch else break_even(
                row["pretrain_macs"], row["finetune_macs"] if reached else None, scratch["finetune_macs"]))
        tables[table] = rows
    by_seed = {}
    for r in records:
        if r["table"] == "method":
            by_seed.setdefault(r["strategy"], {})[r["seed"]] = r["accuracy"]
    plain = by_seed.get("plain", {})
    others = [row for row in tables["method"] if row["strategy"] not in ("scratch", "plain")]
    differences = [[by_seed[row["strategy"]][seed] - plain[seed] for seed in sorted(plain)]
                   for row in others]
    for row, comparison in zip(others, stats.holm_verdicts(differences)):
        interval = comparison.interval
        row["vs_plain"] = {"difference": interval.estimate, "ci95": [interval.low, interval.high],
                           "verdict": interval.verdict().code, "verdict_holm": comparison.verdict.code,
                           "verdict_holm_text": comparison.verdict.text}
    return tables
