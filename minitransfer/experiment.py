"""Measure the document's claims: does transfer cut the data and the compute a target needs?

``make_task`` builds a source task and a target task from one data set; ``compare`` pretrains
once per seed, then fine-tunes a copy with every strategy at every k labelled target examples
per class. Three parts of the target data, never mixed: the k examples are drawn from the
training pool; the learning curve is measured on a fixed validation set carved from that pool
*before* the k examples are drawn (``split_target``); the held-out test set is read once per
run, at the end. ``summarize`` turns the runs into mean ± std, the gain over scratch with a 95%
interval and its verdict (``stats``), a negative-transfer flag, and the steps needed to reach
an accuracy.
"""

import copy
import time
from dataclasses import dataclass

import numpy as np

from minitransfer import nn, stats
from minitransfer.data import k_per_class, k_per_class_indices, train_test_split, transforms
from minitransfer.results_file import append_result, load_results, rewrite_results, run_key
from minitransfer.train import evaluate
from minitransfer.transfer import fine_tune, pretrain, replace_head

TARGETS = ("jitter", "noise", "rotate", "invert", "hflip", "permute", "none")


@dataclass
class Task:
    """A source task (pretraining) and a target task (fine-tuning, with a held-out test set)."""

    name: str
    source: tuple  # (x, y) used for pretraining
    target_train: tuple  # (x, y): the validation set and the pool of k examples (split_target)
    target_test: tuple  # (x, y) held out: only ever evaluated
    source_classes: int
    target_classes: int
    source_test: tuple = None  # (x, y) held-out source images (forgetting); None if not built
    source_images: np.ndarray = None  # which distinct image each source row was made from
    # (jittered copies share one); None: every row is an image of its own


def target_transform(name, x, seed):
    """The images ``x`` as the target ``name`` sees them (one of ``TARGETS``), drawn from ``seed``."""
    if name == "jitter":
        return transforms.jitter(x, max_shift=2, seed=seed)
    if name == "noise":
        return transforms.add_noise(x, sigma=0.4, seed=seed)
    if name == "rotate":
        return transforms.rotate90(x, k=1)
    if name == "invert":
        return transforms.invert(x)
    if name == "hflip":
        return transforms.hflip(x)
    if name == "permute":
        return transforms.permute_pixels(x, seed=1234)  # one fixed permutation for the task
    if name == "none":
        return x
    raise ValueError(f"target: expected one of {', '.join(TARGETS)}, got {name!r}")


def make_task(data="digits", target="jitter", data_dir=None, source_copies=10, max_source=12000):
    """Source = classes 0–4, target = classes 5–9 with ``target``'s transform, from one data set.

    ``data`` is "digits" (bundled, 8×8) or "fashion" (Fashion-MNIST, 28×28, from ``data_dir``
    or Debian's dataset-fashion-mnist folder: clothing classes 0–4 → 5–9, mostly footwear).
    For ``jitter`` the source images are jittered too (``source_copies`` shifted copies): the
    source then teaches shift-tolerant features, which is what the target needs. For every other
    target the source stays clean, so the target differs from it (data mismatch).
    ``Task.source_images`` says which distinct image each source row was made from (the copies
    of one image share it), so that pretraining data can be counted in images (``scaling``).
    ``source_test`` holds the test images of classes 0–4 (jittered once for ``jitter``): how
    much of the source task a fine-tuned body still solves (``explain.forgetting``).
    """
    from minitransfer.data import digits, mnist_family

    if target not in TARGETS:
        raise ValueError(f"target: expected one of {', '.join(TARGETS)}, got {target!r}")
    if data == "digits":
        ds = digits()
        x_train, x_test, y_train, y_test = train_test_split(ds.x, ds.y, test_fraction=0.5, seed=0)
    elif data == "fashion":
        train, test = (mnist_family(data_dir, name="fashion", split=s) for s in ("train", "test"))
        x_train, y_train, x_test, y_test = train.x, train.y, test.x, test.y
    else:
        raise ValueError(f"data: expected 'digits' or 'fashion', got {data!r}")
    source_rows = np.flatnonzero(y_train < 5)  # where the source's images are in x_train
    copies = source_copies if target == "jitter" else 1
    total = copies * len(source_rows)  # the source's rows: every image, `copies` times over
    keep = (np.random.default_rng(0).permutation(total)[:max_source] if total > max_source
            else np.arange(total))  # Fashion-MNIST: a subsample keeps pretraining to seconds
    # Row r of the full source is copy r // n of image r % n: only the rows kept are made.
    copy_of, images = np.divmod(keep, len(source_rows))  # source_images: row i is image images[i]
    source_y = y_train[source_rows[images]]
    if target == "jitter":  # copy s jittered with seed s (300,000 Fashion-MNIST rows, 12,000 kept)
        clean = x_train[source_rows]
        source_x = np.empty((len(keep), clean.shape[1]), clean.dtype)
        for s in range(copies):
            mine = copy_of == s
            source_x[mine] = transforms.jitter(clean, 2, seed=s, rows=images[mine])
    else:
        source_x = x_train[source_rows[images]]
    t_train = target_transform(target, x_train[y_train >= 5], seed=101)
    t_test = target_transform(target, x_test[y_test >= 5], seed=202)
    s_test = x_test[y_test < 5]  # held out from pretraining, in the source's own domain
    if target == "jitter":
        s_test = transforms.jitter(s_test, 2, seed=303)
    return Task(f"{data}:{target}", (source_x, source_y), (t_train, y_train[y_train >= 5] - 5),
                (t_test, y_test[y_test >= 5] - 5), 5, 5, (s_test, y_test[y_test < 5]),
                source_images=images)


def make_noisy_task(data="auto", data_dir=None, pool_size=None, log=print):
    """The same ten classes in a new domain: a clean source, and a target from a noisy sensor.

    Source: clean images of all ten classes. Target: *other* images of the same classes with
    Gaussian noise (σ = 0.5 on Fashion-MNIST, 0.4 on digits), k labels per class drawn from its
    pool, and a held-out test set. Here transfer pays off on both data sets (lessons 5–8).
    ``data``: "fashion", "digits" or "auto" (Fashion-MNIST when found in ``data_dir`` or
    Debian's folder, else the bundled digits, saying so through ``log``). ``pool_size`` caps
    the Fashion-MNIST target pool (default: 30,000 images).
    """
    from minitransfer.data import digits, mnist_family

    if data not in ("auto", "fashion", "digits"):
        raise ValueError(f"data: expected 'auto', 'fashion' or 'digits', got {data!r}")
    if data != "digits":
        try:
            train, test = (mnist_family(data_dir, name="fashion", split=s) for s in ("train", "test"))
            end = 60000 if pool_size is None else 30000 + pool_size
            source, pool = (train.x[:12000], train.y[:12000]), (train.x[30000:end], train.y[30000:end])
            held_out, sigma, name = (test.x[:3000], test.y[:3000]), 0.5, "Fashion-MNIST clean -> noisy"
        except FileNotFoundError as error:
            if data == "fashion":
                raise
            log(f"Fashion-MNIST not found ({error}).\n"
                f"Falling back to the 8x8 digits bundled with scikit-learn.")
            data = "digits"
    if data == "digits":
        d = digits()
        x_s, x_rest, y_s, y_rest = train_test_split(d.x, d.y, test_fraction=0.5, seed=0)
        x_p, x_t, y_p, y_t = train_test_split(x_rest, y_rest, test_fraction=0.5, seed=1)
        source, pool, held_out, sigma = (x_s, y_s), (x_p, y_p), (x_t, y_t), 0.4
        name = "digits clean -> noisy"
    return Task(name, source, (transforms.add_noise(pool[0], sigma, seed=1), pool[1]),
                (transforms.add_noise(held_out[0], sigma, seed=2), held_out[1]), 10, 10)


# The validation set: this share of the smallest class of the target's training pool, per
# class, at most VALIDATION_MAX_PER_CLASS (digits: 22 per class, leaving 65-69 per class for the
# k examples; Fashion-MNIST: 200 per class). Fixed across seeds and strategies.
VALIDATION_FRACTION = 0.25
VALIDATION_MAX_PER_CLASS = 200
VALIDATION_SEED = 0


def split_target(task):
    """(pool, validation): a fixed, class-balanced validation set carved from the target's
    training pool, and the rest of the pool, from which the k labelled examples are drawn.

    The validation set is chosen before (and independently of) the k examples, with the same
    seed for every run, so every strategy's learning curve is measured on the same images and
    none of them is ever trained on; k = all means the whole rest of the pool.
    """
    x, y = task.target_train
    per_class = min(VALIDATION_MAX_PER_CLASS,
                    max(1, round(VALIDATION_FRACTION * int(np.bincount(y).min()))))
    held = k_per_class_indices(y, per_class, seed=VALIDATION_SEED)
    rest = np.setdiff1d(np.arange(len(y)), held)
    return (x[rest], y[rest]), (x[held], y[held])


def compare(task, strategies, ks, seeds, *, hidden=128, pretrain_steps=2000, finetune_steps=1000,
            batch_size=32, results_path=None, device="cpu", log=print):
    """Every strategy × k × seed: pretrain per seed, fine-tune a copy, evaluate on held-out data.

    k = None means every labelled example of the pool (the target's training pool less the
    validation set, see ``split_target``). Each run records its learning curve on the
    validation set (``curve``) and its accuracy on the held-out test set (``accuracy``), which
    is read once, after fine-tuning. With ``results_path``, each finished run is appended to
    that file at once (so a killed job loses at most the run in progress) and runs already in
    it are skipped: that is how ``--resume`` works. Returns one record per run.
    """
    results = load_results(results_path)
    rewrite_results(results_path, results)
    done = {run_key(r) for r in results}
    dim = task.source[0].shape[1]
    pool, validation = split_target(task)
    for seed in seeds:
        todo = [(k, s) for k in ks for s in strategies if (s, _k_label(k), seed) not in done]
        if not todo:
            continue
        model = nn.MLP([dim, hidden, task.source_classes], generator=seed, device=device)
        started = time.perf_counter()
        pretrain(model, task.source, steps=pretrain_steps, seed=seed)
        source_acc = evaluate(model, task.source)["accuracy"]
        log(f"seed {seed}: pretrained {dim}-{hidden}-{task.source_classes} for {pretrain_steps} steps "
            f"in {time.perf_counter() - started:.1f}s (source train accuracy {source_acc:.3f})")
        for k, strategy in todo:
            x_k, y_k = k_per_class(*pool, k, seed=seed)
            net = copy.deepcopy(model)
            replace_head(net, task.target_classes, generator=seed + 1)
            started = time.perf_counter()
            result = fine_tune(net, (x_k, y_k), strategy, steps=finetune_steps, batch_size=batch_size,
                               seed=seed, eval_data=validation)
            record = {"strategy": strategy, "k": _k_label(k), "seed": seed,
                      "accuracy": evaluate(net, task.target_test)["accuracy"],
                      "train_examples": len(y_k), "steps": result.history.steps,
                      "seconds": round(time.perf_counter() - started, 4),
                      "final_loss": result.history.losses[-1], "curve": result.curve,
                      "trainable_parameters": result.trainable_parameters}
            results.append(record)
            if results_path:
                append_result(results_path, record)
    return results


def _k_label(k):
    return "all" if k is None else int(k)


def confidence_interval(differences):
    """(low, high) of the 95% paired t-interval ``stats.paired_interval(differences)``."""
    interval = stats.paired_interval(differences)
    return (interval.low, interval.high)


def summarize(results, target_accuracy=None, alpha=0.05):
    """One record per (strategy, k), read with ``stats``:

    - ``mean``, ``std``, ``n_seeds``: held-out test accuracy over *every* seed of this strategy;
    - ``gain_vs_scratch``, ``ci95``, ``verdict``: over the ``n_paired`` seeds that scratch also
      ran (paired by seed), all three from that same set: the mean difference, its 95%
      t-interval (NaN bounds with one pair) and ``stats.verdict`` of it (``verdict`` the code,
      ``verdict_text`` the words); ``negative_transfer`` is True when the whole interval lies
      below 0, False when it does not, None when undecided (one pair) or for scratch itself;
    - ``p_value``, ``p_holm``, ``verdict_holm``: the paired t-test, and Holm's correction over
      every comparison of this summary read together (``stats.holm_verdicts`` at ``alpha``);
    - ``trainable_parameters``: how many numbers the strategy trained (``FineTuneResult``);
    - ``steps_to_target``: optimiser steps until the *validation* learning curve first reaches
      ``target_accuracy`` (default: scratch's mean final validation accuracy at that k), mean
      over the ``seeds_reaching_target`` seeds that reached it.
    """
    groups = {}
    for r in results:
        groups.setdefault((r["strategy"], r["k"]), {})[r["seed"]] = r
    summary, differences = [], []
    ks = sorted({k for _, k in groups}, key=lambda k: (k == "all", k if k != "all" else 0))
    strategies = list(dict.fromkeys(s for s, _ in groups))
    for k in ks:
        scratch = groups.get(("scratch", k), {})
        finals = [r["curve"][-1][1] for r in scratch.values() if r["curve"]]
        goal = target_accuracy if target_accuracy is not None else (
            float(np.mean(finals)) if finals else None)
        for strategy in strategies:
            runs = groups.get((strategy, k))
            if not runs:
                continue
            acc = np.array([runs[s]["accuracy"] for s in sorted(runs)])
            paired = [runs[s]["accuracy"] - scratch[s]["accuracy"] for s in sorted(runs) if s in scratch]
            row = {"strategy": strategy, "k": k, "n_seeds": len(acc), "n_paired": len(paired),
                   "mean": float(acc.mean()), "std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
                   **_gain_fields(paired if strategy != "scratch" else [])}
            reached = [_steps_to(runs[s]["curve"], goal) for s in sorted(runs)] if goal is not None else []
            reached = [n for n in reached if n is not None]
            counts = [r["trainable_parameters"] for r in runs.values() if "trainable_parameters" in r]
            row.update({"trainable_parameters": counts[0] if counts else None, "target_accuracy": goal,
                        "steps_to_target": float(np.mean(reached)) if reached else None,
                        "seeds_reaching_target": len(reached)})
            summary.append(row)
            if row["gain_vs_scratch"] is not None:
                differences.append((row, paired))
    for (row, _), comparison in zip(differences, stats.holm_verdicts([d for _, d in differences], alpha)):
        row.update({"p_value": comparison.p_value, "p_holm": comparison.p_adjusted,
                    "verdict_holm": comparison.verdict.code})
    return summary


def _gain_fields(paired):
    """The gain over scratch, its interval and verdict, all from the same paired differences."""
    if not paired:
        return {"gain_vs_scratch": None, "ci95": None, "negative_transfer": None, "verdict": None,
                "verdict_text": None, "p_value": None, "p_holm": None, "verdict_holm": None}
    interval = stats.paired_interval(paired)
    words = interval.verdict()
    return {"gain_vs_scratch": interval.estimate, "ci95": [interval.low, interval.high],
            "negative_transfer": None if words.code == stats.UNDECIDED else words.code == stats.HURT,
            "verdict": words.code, "verdict_text": words.text}


def _steps_to(curve, goal):
    for step, accuracy in curve:
        if accuracy >= goal:
            return step
    return None
