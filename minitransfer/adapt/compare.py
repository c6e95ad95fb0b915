"""The experiment behind ``minitransfer adapt``: the same classes, a shifted domain, no target labels.

``make_shift_task`` keeps all ten classes: the source is clean, the target is the same kind of
images under a shift (``experiment.target_transform``: noise, invert, jitter, ...).
``compare_methods`` trains one network per method and seed from the same initial weights on
the same source batches, and measures three things per run:

- the accuracy on the target's held-out test set: the only place target labels are read;
- the accuracy on a source validation split (does aligning cost the source task?);
- the proxy A-distance between source-validation and target-test features (no labels).

An upper bound is trained on the *labelled* target pool (what adaptation could reach).
``summarize`` pairs each method with source-only by seed, and reads every gain of the run
together: a paired t-interval, and Holm's correction over the whole family (``stats``).
"""

import copy
import time

import numpy as np

from minitransfer import nn, stats
from minitransfer.adapt.distance import proxy_a_distance
from minitransfer.adapt.training import METHODS, adapt
from minitransfer.data import train_test_split
from minitransfer.experiment import TARGETS, Task, target_transform
from minitransfer.train import evaluate
from minitransfer.transfer import features, pretrain

UPPER_BOUND = "target_labels"  # the row trained on labelled target data
SOURCE_VALIDATION_FRACTION = 0.25


def make_shift_task(data="digits", target="noise", data_dir=None):
    """All ten classes; a clean source and a target shifted by ``target`` (labels kept for the test).

    digits: half of the 1,797 images are the source; of the other half, one half is the target
    pool (its images train the adaptation; its labels only the upper bound) and one half the
    target test set. fashion: 12,000 training images as the source, 6,000 others as the pool,
    3,000 test images. The target transforms are those of ``minitransfer run --target``.
    """
    from minitransfer.data import digits, mnist_family

    if target not in TARGETS:
        raise ValueError(f"target: expected one of {', '.join(TARGETS)}, got {target!r}")
    if data == "digits":
        d = digits()
        x_s, x_rest, y_s, y_rest = train_test_split(d.x, d.y, test_fraction=0.5, seed=0)
        x_p, x_t, y_p, y_t = train_test_split(x_rest, y_rest, test_fraction=0.5, seed=1)
    elif data == "fashion":
        train, test = (mnist_family(data_dir, name="fashion", split=s) for s in ("train", "test"))
        x_s, y_s, x_p, y_p = train.x[:12000], train.y[:12000], train.x[30000:36000], train.y[30000:36000]
        x_t, y_t = test.x[:3000], test.y[:3000]
    else:
        raise ValueError(f"data: expected 'digits' or 'fashion', got {data!r}")
    return Task(f"{data}: clean -> {target}", (x_s, y_s),
                (target_transform(target, x_p, seed=101), y_p),
                (target_transform(target, x_t, seed=202), y_t), 10, 10)


def check_same_classes(task):
    """Domain adaptation changes the inputs, not the classes: refuse a task whose target has
    other classes than its source (``make_task``'s 0–4 → 5–9 is fine-tuning's job)."""
    source = sorted(int(c) for c in np.unique(task.source[1]))
    target = sorted({int(c) for c in np.unique(task.target_train[1])} |
                    {int(c) for c in np.unique(task.target_test[1])})
    if task.source_classes != task.target_classes or not set(target) <= set(source):
        raise ValueError(f"adapt: domain adaptation needs the same classes in source and target, got "
                         f"{task.source_classes} source classes {source} and {task.target_classes} "
                         f"target classes {target}; a task with new classes needs labels "
                         f"(transfer.fine_tune)")


def compare_methods(task, methods=METHODS, seeds=(0, 1, 2), *, hidden=(128, 64), steps=600, lr=1e-3,
                    batch_size=64, weights=None, upper_bound=True, pca_points=200, device="cpu",
                    log=print):
    """Every method × seed on one task: a list of run records, and features for a 2-D picture.

    Each seed draws one initial network (``nn.MLP([d, *hidden, 10], generator=seed)``) that
    every method starts from a copy of. Returns ``(records, pictures)``: one record per run
    (method, seed, target_accuracy, source_accuracy, proxy_a_distance, seconds), and for the
    first seed {method: (source features, target features)} of ``pca_points`` examples each.
    """
    check_same_classes(task)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"methods: expected names from {', '.join(METHODS)}, got {unknown}")
    x_train, x_val, y_train, y_val = train_test_split(*task.source, SOURCE_VALIDATION_FRACTION, seed=0)
    target_x = task.target_train[0]  # images only: the labels are never handed to adapt
    test_x, test_y = task.target_test
    labelled = (np.concatenate([x_train, task.target_train[0]]),
                np.concatenate([y_train, task.target_train[1]]))
    runs = [(m, m) for m in methods] + ([(UPPER_BOUND, None)] if upper_bound else [])
    records, pictures = [], {}
    for seed in seeds:
        initial = nn.MLP([x_train.shape[1], *hidden, task.source_classes], generator=seed, device=device)
        for name, method in runs:
            model, started = copy.deepcopy(initial), time.perf_counter()
            if method is None:  # the upper bound: the labelled target pool beside the source
                pretrain(model, labelled, steps=steps, lr=lr, batch_size=batch_size, seed=seed)
            else:
                weight = None if weights is None else weights.get(method)
                adapt(model, (x_train, y_train), target_x, method, steps=steps, lr=lr,
                      batch_size=batch_size, weight=weight, seed=seed)
            fs, ft = features(model, x_val, layer=-1), features(model, test_x, layer=-1)
            records.append({"method": name, "seed": seed,
                            "target_accuracy": evaluate(model, (test_x, test_y))["accuracy"],
                            "source_accuracy": evaluate(model, (x_val, y_val))["accuracy"],
                            "proxy_a_distance": proxy_a_distance(fs, ft, seed=seed),
                            "seconds": time.perf_counter() - started})
            if seed == seeds[0]:
                pictures[name] = (fs[:pca_points], ft[:pca_points])
        if log is not None:
            done = ", ".join(f"{r['method']} {r['target_accuracy']:.3f}" for r in records[-len(runs):])
            log(f"{task.name} seed {seed}: target accuracy {done}")
    return records, pictures


def summarize(records, baseline="source_only", alpha=0.05):
    """One row per (target, method): means over seeds, the paired gain over ``baseline``, its
    95% t-interval, and Holm's correction over every gain of ``records`` read together.

    ``records``: run records with a "target" entry (the shift), as ``compare_methods`` gives
    them plus that entry. A gain row holds ``gain`` (mean paired difference), ``ci95``,
    ``p_value``, ``p_holm``, ``verdict_holm`` (``stats.holm_verdicts``) and ``holm_interval``:
    the paired interval at Holm's level for its rank, 1 − α/(m − r + 1) for the r-th smallest
    p-value of the m tested; Holm calls a gain "helped" when that interval and those of every
    smaller p-value exclude 0. The upper bound and the baseline have no gain rows.
    """
    groups = {}
    for r in records:
        groups.setdefault((r["target"], r["method"]), {})[r["seed"]] = r
    rows, family = [], []
    for (target, method), runs in groups.items():
        seeds = sorted(runs)
        row = {"target": target, "method": method, "n_seeds": len(seeds)}
        for key in ("target_accuracy", "source_accuracy", "proxy_a_distance"):
            values = np.array([runs[s][key] for s in seeds])
            row[key] = float(values.mean())
            row[key + "_std"] = float(values.std(ddof=1)) if len(values) > 1 else None
        base = groups.get((target, baseline), {})
        if method not in (baseline, UPPER_BOUND) and base:
            paired = [runs[s]["target_accuracy"] - base[s]["target_accuracy"] for s in seeds if s in base]
            interval = stats.paired_interval(paired)
            row.update({"gain": interval.estimate, "ci95": [interval.low, interval.high],
                        "n_paired": len(paired)})
            family.append((row, paired))
        rows.append(row)
    comparisons = stats.holm_verdicts([d for _, d in family], alpha) if family else []
    tested = [i for i, c in enumerate(comparisons) if not np.isnan(c.p_value)]
    order = sorted(tested, key=lambda i: comparisons[i].p_value)  # Holm's ranks (stable, like holm)
    for (row, _), comparison in zip(family, comparisons):
        row.update({"p_value": comparison.p_value, "p_holm": comparison.p_adjusted,
                    "verdict_holm": comparison.verdict.code, "verdict_text": comparison.verdict.text,
                    "family_size": len(tested), "holm_level": None, "holm_interval": None})
    for rank, i in enumerate(order, start=1):
        row, paired = family[i]
        level = 1 - alpha / (len(tested) - rank + 1)
        interval = stats.paired_interval(paired, confidence=level)
        row.update({"holm_level": level, "holm_interval": [interval.low, interval.high]})
    return rows
