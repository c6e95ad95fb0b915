"""The main job: ``minitransfer run`` (what ``make demo`` runs), ``pretrain`` and ``finetune``.

``run`` builds the source and target tasks, compares the strategies over k and seeds, prints
the table and writes a run folder: ``results.jsonl`` (one line per finished run, appended as
it goes), ``config.json``, ``report.json``, ``report.md`` and the PNG plots.
"""

import json
import os
import time

import numpy as np

from minitransfer import checkpoint, nn
from minitransfer.commands.common import UsageError, make_folder
from minitransfer.experiment import compare, make_task, split_target, summarize
from minitransfer.fileio import atomic_write_bytes
from minitransfer.report import format_table, write_report
from minitransfer.train import evaluate
from minitransfer.transfer import fine_tune, pretrain, replace_head

QUICK = {"ks": [5, 25], "seeds": [0, 1], "pretrain_steps": 300, "finetune_steps": 60}


def _check_k(task, ks):
    """k must fit the pool the k examples are drawn from: the training pool less the validation set."""
    (_, pool_y), (_, validation_y) = split_target(task)
    counts = np.bincount(pool_y)
    for k in ks:
        if k is not None and k > counts.min():
            raise UsageError(f"--ks: k={k} labelled examples per class asked for, but the target's "
                             f"training pool has only {counts.min()} examples of its smallest class "
                             f"(class {int(counts.argmin())}) once {len(validation_y) // len(counts)} per "
                             f"class are set aside for validation")


def _task(args):
    """The source and target tasks; a missing, corrupt or wrong data file is a UsageError."""
    try:
        return make_task(args.data, args.target, data_dir=args.data_dir)
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(f"--data {args.data}: {error}") from None


# What a fresh run (without --resume) replaces in its folder: a report left there by an earlier
# run must not be mistaken for this run's if this one is interrupted.
_STALE = ("report.json", "report.md", "accuracy_vs_k.png", "learning_curves.png")


def _check_save_path(path, option):
    """Refuse, before any training, a checkpoint path that save() would refuse afterwards."""
    try:
        checkpoint.check_save_path(path)
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(f"{option}: {error}") from None


def _save_checkpoint(state, path, option, sha256=False):
    """checkpoint.save, with a bad path reported as a UsageError naming the option."""
    try:
        return checkpoint.save(state, path, sha256=sha256)
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(f"{option}: {error}") from None


def _load_checkpoint(path, sha256=None):
    """checkpoint.load (checking the SHA-256 digest when asked), with a missing, damaged or
    tampered file reported as a UsageError."""
    try:
        return checkpoint.load(path, sha256=sha256)
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(f"--checkpoint: {error}") from None


def run(args, log=print):
    """Compare strategies on one source→target pair and write the report; return its paths."""
    task = _task(args)
    _check_k(task, args.ks)
    ks = ["all" if k is None else k for k in args.ks]
    config = {"task": task.name, "strategies": args.strategies, "ks": ks,
              "seeds": args.seeds, "hidden": args.hidden, "pretrain_steps": args.pretrain_steps,
              "finetune_steps": args.finetune_steps, "device": args.device,
              "target_accuracy": args.target_accuracy}
    make_folder(args.out)
    results_path = os.path.join(args.out, "results.jsonl")
    config_path = os.path.join(args.out, "config.json")
    if args.resume:
        _check_resumable(args.out, config_path, results_path, config)
    else:  # a fresh run: earlier results and reports in this folder are replaced
        for name in ("results.jsonl", *_STALE):
            if os.path.exists(os.path.join(args.out, name)):
                os.remove(os.path.join(args.out, name))
    atomic_write_bytes(config_path, json.dumps(config, indent=2).encode())
    log(f"{task.name}: source {len(task.source[1])} examples ({task.source_classes} classes), target pool "
        f"{len(task.target_train[1])}, held-out target test {len(task.target_test[1])}")
    started = time.perf_counter()
    results = compare(task, args.strategies, args.ks, args.seeds, hidden=args.hidden,
                      pretrain_steps=args.pretrain_steps, finetune_steps=args.finetune_steps,
                      results_path=results_path, device=args.device, log=log)
    wanted = {(s, "all" if k is None else k, seed) for s in args.strategies for k in args.ks
              for seed in args.seeds}
    results = sorted((r for r in results if (r["strategy"], r["k"], r["seed"]) in wanted),
                     key=lambda r: (args.strategies.index(r["strategy"]), str(r["k"]), r["seed"]))
    summary = summarize(results, args.target_accuracy)
    log("")
    log(format_table(summary))
    paths = write_report(args.out, config, results, summary)
    log(f"\n{len(results)} runs in {time.perf_counter() - started:.1f}s; wrote "
        + ", ".join(os.path.basename(p) for p in paths.values()) + f" to {args.out}")
    return paths


def _check_resumable(out, config_path, results_path, config):
    """--resume continues only runs of the same configuration (else the report would mix them)."""
    if not os.path.exists(config_path):
        if os.path.exists(results_path):
            raise UsageError(f"--resume: {out} holds results.jsonl but no config.json, so its runs "
                             f"cannot be matched to this configuration; use another --out")
        return  # nothing to resume: a fresh run
    try:
        with open(config_path, encoding="utf-8") as f:
            previous = json.load(f)
    except (OSError, ValueError) as error:
        raise UsageError(f"--resume: cannot read {config_path} ({error})") from None
    if previous != config:
        changed = sorted(key for key in set(config) | set(previous) if previous.get(key) != config.get(key))
        raise UsageError(f"--resume: {out} holds runs of a different configuration (differs in "
                         f"{', '.join(changed)}); use another --out or drop --resume")


def pretrain_command(args, log=print):
    """Pretrain on the source task once and save the weights, to fine-tune many times later."""
    _check_save_path(args.out, "--out")
    task = _task(args)
    dim = task.source[0].shape[1]
    model = nn.MLP([dim, args.hidden, task.source_classes], generator=args.seed, device=args.device)
    history = pretrain(model, task.source, steps=args.steps, seed=args.seed)
    state = model.state_dict()
    state["meta.sizes"] = np.array(model.sizes, dtype=np.int64)  # the architecture, for finetune
    digest = _save_checkpoint(state, args.out, "--out", sha256=getattr(args, "sha256", False))
    log(f"pretrained {model.sizes} on {task.name} source for {history.steps} steps in "
        f"{history.seconds:.1f}s (final loss {history.losses[-1]:.4f}); saved {args.out}")
    if digest:
        log(f"SHA-256 {digest} (in {args.out}.sha256)")


def load_pretrained(path, task, sha256=None):
    """The MLP saved by ``minitransfer pretrain`` at ``path``, checked against ``task``'s images.

    A missing, damaged or foreign checkpoint (no ``meta.sizes``, weights that do not fit it, an
    input size other than the task's) is a UsageError naming --checkpoint. ``sha256``: a hex
    digest (or True: the ``PATH.sha256`` file beside it) the file must match before it is read.
    """
    state = _load_checkpoint(path, sha256)
    sizes = state.pop("meta.sizes", None)
    if sizes is None or sizes.ndim != 1 or sizes.dtype.kind not in "iu" or len(sizes) < 2:
        raise UsageError(f"--checkpoint: {path} was not written by 'minitransfer pretrain' "
                         f"(expected a meta.sizes entry listing the layer sizes)")
    try:
        model = nn.MLP([int(n) for n in sizes.numpy()])
        model.load_state_dict(state)
    except ValueError as error:  # load_state_dict lists one problem per line: join them
        problems = str(error).replace(":\n  ", ": ").replace("\n  ", "; ")
        raise UsageError(f"--checkpoint: {path} does not fit its own meta.sizes: "
                         f"{problems}") from None
    if task.source[0].shape[1] != model.sizes[0]:
        raise UsageError(f"--checkpoint: the model takes {model.sizes[0]} inputs but {task.name} images "
                         f"have {task.source[0].shape[1]} pixels")
    return model


def finetune_command(args, log=print):
    """Load a pretrained checkpoint, replace its head, fine-tune on k examples per class."""
    if args.save:
        _check_save_path(args.save, "--save")
    task = _task(args)
    model = load_pretrained(args.checkpoint, task, getattr(args, "sha256", None))
    model.to(args.device)
    _check_k(task, [args.k])
    from minitransfer.data import k_per_class

    log(str(replace_head(model, task.target_classes, generator=args.seed + 1)))
    pool, _ = split_target(task)  # the pool `run` draws from: the same k examples for a seed
    x_k, y_k = k_per_class(*pool, args.k, seed=args.seed)
    result = fine_tune(model, (x_k, y_k), args.strategy, steps=args.steps, seed=args.seed)
    accuracy = evaluate(model, task.target_test)["accuracy"]
    log(f"{args.strategy} on {len(y_k)} target examples for {result.history.steps} steps, training "
        f"{result.trainable_parameters:,} parameters: held-out accuracy {100 * accuracy:.1f}%")
    if args.save:
        _save_checkpoint(model.state_dict(), args.save, "--save")
        log(f"saved the fine-tuned model to {args.save}")
    return accuracy
