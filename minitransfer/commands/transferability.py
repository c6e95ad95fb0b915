"""``minitransfer transferability``: do the scores predict transfer, and does the advisor help?

A grid of source → target pairs: every target of ``experiment.TARGETS`` (each with its own
source: jittered for the jitter target, clean for the others), several checkpoints of
different quality (the --hidden body pretrained for a few, some or many steps: ``--budgets``;
and the checkpoint ``minitransfer pretrain`` writes by default, one hidden layer of 128 units
pretrained for 2,000 steps, the kind ``advise`` is asked about), k labelled target examples per
class (``--ks``). For each pair: the four scores of ``transferability`` on the k
examples *before* fine-tuning (the source head still on), then each strategy fine-tuned from a
copy of the checkpoint for the same number of steps, and its accuracy on the held-out test set.

Read from it: each score's Kendall τ against the accuracy after LP-FT and after the linear
probe, with bootstrap intervals (``stats``); the advisor's regret and hit rate, leave one target
out, against "always LP-FT" and "always full" (``advisor``); LoRA and BitFit against full
fine-tuning at equal steps. ``--fit`` writes the rule fitted on every pair to the package's
``advisor_rule.json`` (what ``minitransfer advise`` reads).
"""

import argparse
import copy
import hashlib
import os
import time

import numpy as np

from minitransfer import advisor
from minitransfer.commands import options
from minitransfer.commands.common import (
    UsageError,
    hidden_sizes,
    load_task,
    make_model,
    output_folder,
    settings_of,
    targets_of,
    write_outputs,
)
from minitransfer.commands.transferability_report import markdown, peft_table, plot, tau_table

NAME = "transferability"
CANDIDATES = ("scratch", "linear_probe", "lp_ft", "full", "bitfit", "lora")
ALWAYS_RUN = ("linear_probe", "lp_ft", "full")  # the τ table and the fixed choices read them
DEFAULTS = {"budgets": [30, 300, 2000], "finetune_steps": 300, "n_resamples": 2000}
QUICK = {"budgets": [30], "finetune_steps": 100, "n_resamples": 500}
PRETRAIN_COMMAND_CHECKPOINT = ((128,), 2000)  # `minitransfer pretrain`'s default body and steps


def checkpoint_label(hidden, steps):
    """'128-64@300': the body's hidden widths and the pretraining steps."""
    return f"{'-'.join(str(h) for h in hidden)}@{steps}"


def add_parser(subparsers):
    from minitransfer.transfer import STRATEGIES

    parser = subparsers.add_parser(NAME, help="validate the transferability scores on a grid of "
                                   "source -> target pairs; --fit regenerates the advisor's rule")
    options.add_experiment_options(parser, target=None, strategies=(STRATEGIES, CANDIDATES),
                                   ks_default=[10, 25], seeds_default=1)
    parser.add_argument("--budgets", type=positive_ints, default=None,
                        help="pretraining steps of the checkpoints, e.g. 30,300,2000 (default; "
                             "--quick: 30,1000)")
    parser.add_argument("--finetune-steps", type=positive_int, default=None,
                        help="optimiser steps of every fine-tuning run (default 300; --quick 100)")
    parser.add_argument("--fit", action="store_true",
                        help=f"write the rule fitted on every pair to {advisor.RULE_PATH}")
    parser.set_defaults(handler=run)
    return parser


def positive_ints(text):
    """'30,300' -> [30, 300]."""
    try:
        values = [int(item) for item in text.split(",")]
        if not values or min(values) < 1:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected positive integers separated by commas (e.g. 30,300,2000), got {text!r}") from None
    return list(dict.fromkeys(values))


def positive_int(text):
    """'300' -> 300."""
    values = positive_ints(text)
    if len(values) != 1:
        raise argparse.ArgumentTypeError(f"expected one positive integer, got {text!r}")
    return values[0]


def _fingerprint(source):
    """Same source data, same checkpoint: the jitter target has its own (jittered) source."""
    x, y = source
    return hashlib.sha1(np.ascontiguousarray(x).tobytes() + np.ascontiguousarray(y).tobytes()).hexdigest()


def run_grid(tasks, checkpoints, ks, seeds, strategies, finetune_steps, device="cpu", log=print):
    """Scores and accuracies for every (target, checkpoint, k, seed); returns (records, seconds).

    ``tasks``: {target: experiment.Task}; ``checkpoints``: (hidden widths, pretraining steps)
    pairs. Each checkpoint is pretrained once per source and seed; scratch (which re-draws every
    weight) is run once per target, body, k and seed and shared by the checkpoints of that body.
    """
    from minitransfer.data import k_per_class
    from minitransfer.experiment import split_target
    from minitransfer.train import evaluate
    from minitransfer.transfer import fine_tune, pretrain, replace_head
    from minitransfer.transferability import all_scores

    pretrained, scratch, records = {}, {}, []
    seconds = {"pretrain": 0.0, "scores": 0.0, "fine_tune": 0.0}
    for target, task in tasks.items():
        pool, _ = split_target(task)
        source_key = _fingerprint(task.source)
        for seed in seeds:
            for hidden, budget in checkpoints:
                key = (source_key, tuple(hidden), budget, seed)
                if key not in pretrained:
                    started = time.perf_counter()
                    model = make_model(task, hidden, seed, device)
                    pretrain(model, task.source, steps=budget, seed=seed)
                    pretrained[key] = model
                    seconds["pretrain"] += time.perf_counter() - started
                checkpoint, label = pretrained[key], checkpoint_label(hidden, budget)
                for k in ks:
                    x_k, y_k = k_per_class(*pool, k, seed=seed)
                    started = time.perf_counter()
                    scores = all_scores(checkpoint, x_k, y_k)
                    seconds["scores"] += time.perf_counter() - started
                    accuracy, trainable = {}, {}
                    started = time.perf_counter()
                    for strategy in strategies:
                        scratch_key = (target, tuple(hidden), k, seed)
                        cached = scratch.get(scratch_key) if strategy == "scratch" else None
                        if cached is None:
                            net = copy.deepcopy(checkpoint)
                            replace_head(net, task.target_classes, generator=seed + 1)
                            result = fine_tune(net, (x_k, y_k), strategy, steps=finetune_steps, seed=seed)
                            cached = (evaluate(net, task.target_test)["accuracy"],
                                      result.trainable_parameters)
                            if strategy == "scratch":
                                scratch[scratch_key] = cached
                        accuracy[strategy], trainable[strategy] = cached
                    seconds["fine_tune"] += time.perf_counter() - started
                    records.append({"target": target, "checkpoint": label, "k": _k_label(k), "seed": seed,
                                    "scores": scores, "accuracy": accuracy, "trainable": trainable})
                log(f"{target:<8} checkpoint {label:<11} seed {seed}: " + "  ".join(
                    f"k={r['k']}: LogME {r['scores']['logme']:+.3f} LP-FT {100 * r['accuracy']['lp_ft']:.1f}%"
                    for r in records[-len(ks):]))
    return records, seconds


def _k_label(k):
    return "all" if k is None else int(k)


def average_over_seeds(records):
    """One pair per (target, checkpoint, k): scores and accuracies averaged over the seeds."""
    groups = {}
    for record in records:
        groups.setdefault((record["target"], record["checkpoint"], record["k"]), []).append(record)
    pairs = []
    for (target, checkpoint, k), group in groups.items():
        pairs.append({"target": target, "checkpoint": checkpoint, "k": k, "seeds": len(group),
                      "scores": {m: float(np.mean([r["scores"][m] for r in group]))
                                 for m in group[0]["scores"]},
                      "accuracy": {s: float(np.mean([r["accuracy"][s] for r in group]))
                                   for s in group[0]["accuracy"]},
                      "trainable": group[0]["trainable"]})
    return pairs


def check_ks(tasks, ks):
    """Each k: at least 2 (the scores compare classes' spreads), at most the smallest class of
    every target's pool (the training pool less the validation set)."""
    from minitransfer.experiment import split_target

    for k in ks:
        if k is not None and k < 2:
            raise UsageError(f"--ks: the scores need at least 2 labelled examples per class, got k={k}")
    largest = max((k for k in ks if k is not None), default=None)
    for task in tasks.values():
        (_, pool_y), _ = split_target(task)
        smallest = int(np.bincount(pool_y).min())
        if largest is not None and largest > smallest:
            raise UsageError(f"--ks: k={largest} labelled examples per class asked for, but the pool "
                             f"of {task.name} has only {smallest} examples of its smallest class")


def run(args, log=print):
    """Run the grid; write transferability.json, .md, .png (and with --fit the rule). Returns 0."""
    from minitransfer.transfer import DEFAULT_LR

    preset = QUICK if args.quick else DEFAULTS
    budgets = args.budgets or preset["budgets"]
    hidden = hidden_sizes(args)
    checkpoints = [(hidden, b) for b in budgets]
    if PRETRAIN_COMMAND_CHECKPOINT not in checkpoints:
        checkpoints.append(PRETRAIN_COMMAND_CHECKPOINT)
    finetune_steps = args.finetune_steps or preset["finetune_steps"]
    strategies = list(dict.fromkeys([*args.strategies, *ALWAYS_RUN]))
    candidates = list(dict.fromkeys([*args.strategies, *advisor.FIXED_CHOICES]))
    from minitransfer.experiment import TARGETS

    targets = targets_of(args, TARGETS)
    if len(targets) < 2:
        raise UsageError(f"--targets: leaving one target out needs at least 2 targets, got "
                         f"{','.join(targets)}")
    tasks = {target: load_task(args, target) for target in targets}
    check_ks(tasks, args.ks)
    out = output_folder(args, NAME)
    started = time.perf_counter()
    log(f"{len(tasks)} targets x {len(checkpoints)} checkpoints x {len(args.ks)} values of k x "
        f"{len(args.seeds)} seed(s); {len(strategies)} strategies x {finetune_steps} steps each")
    records, seconds = run_grid(tasks, checkpoints, args.ks, args.seeds, strategies, finetune_steps,
                                args.device, log)
    pairs = average_over_seeds(records)
    grid_seconds = time.perf_counter() - started
    taus = tau_table(pairs, [_k_label(k) for k in args.ks], n_resamples=preset["n_resamples"])
    rows, rules = advisor.leave_one_target_out(pairs, candidates)
    held_out = advisor.summarize_held_out(rows, n_resamples=preset["n_resamples"])
    rule = advisor.fit_rule(pairs, candidates)
    peft = peft_table(pairs)
    settings = settings_of(args, targets=targets, budgets=budgets, finetune_steps=finetune_steps,
                           hidden=list(hidden), checkpoints=[checkpoint_label(h, b) for h, b in checkpoints],
                           strategies=strategies, candidates=candidates,
                           learning_rates={s: DEFAULT_LR[s] for s in strategies})
    settings.pop("fit")  # what was measured does not depend on where the rule is written
    payload = {"settings": settings, "records": records, "pairs": pairs, "tau": taus,
               "advisor": {"rule_on_all_pairs": rule.to_dict(), "held_out": held_out, "held_out_rows": rows,
                           "rules_per_held_out_target": {t: r.to_dict() for t, r in rules.items()}},
               "peft": peft}
    text = markdown(payload)
    timings = {**{k: round(v, 2) for k, v in seconds.items()}, "grid": round(grid_seconds, 2),
               "total": round(time.perf_counter() - started, 2)}
    json_path, md_path = write_outputs(out, NAME, payload, text, timings)
    figure = plot(pairs, taus, os.path.join(out, f"{NAME}.png"))
    log("")
    log(text)
    if args.fit:
        rule_document = {"rule": rule.to_dict(), "fitted_on": settings, "held_out": held_out,
                         "candidates": candidates}
        rule_path = write_rule(out, rule_document)
        log(f"wrote the advisor's rule ({rule}) to {rule_path}"
            + (" (fitted on the small --quick grid)" if args.quick else ""))
    log(f"wrote {', '.join(os.path.basename(p) for p in (json_path, md_path, figure) if p)} to {out} "
        f"in {timings['total']:.1f}s")
    return 0


def write_rule(out, document):
    """The rule's JSON into --out, then over the package's ``advisor_rule.json`` (atomically)."""
    from minitransfer.fileio import atomic_write_bytes

    local, _ = write_outputs(out, "advisor_rule", document, "")
    os.remove(os.path.join(out, "advisor_rule.md"))
    with open(local, "rb") as f:
        atomic_write_bytes(advisor.RULE_PATH, f.read())
    return advisor.RULE_PATH
