"""``minitransfer attack``: the security of transfer, measured per fine-tuning strategy.

White-box FGSM/PGD accuracy against ε, attacks crafted on the public teacher alone, a poisoned
(BadNets) pretrained model with and without fine-pruning, and adversarial fine-tuning's
trade-off, over seeds (``minitransfer.security``). Writes attack.json, attack.md and three
PNGs into ``--out`` (default runs/attack).
"""

import argparse
import os
import time

import numpy as np

from minitransfer.commands.common import (
    UsageError,
    hidden_sizes,
    load_task,
    new_figure,
    output_folder,
    settings_of,
    write_outputs,
)
from minitransfer.commands.options import add_experiment_options, positive_floats

DEFAULT_STRATEGIES = ("scratch", "linear_probe", "full", "lp_ft", "l2sp")
# --quick: fewer seeds, steps and radii; the same logic.
QUICK = {"seeds": [0, 1], "pretrain_steps": 300, "finetune_steps": 150, "eps": [0.0, 0.1]}


def _positive_float(text):
    try:
        value = float(text)
        if not value > 0 or value != value or value == float("inf"):
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0 (e.g. 0.1), got {text!r}") from None
    return value


def add_parser(subparsers):
    """The ``attack`` subcommand (cli.py calls this once)."""
    from minitransfer.transfer import STRATEGIES

    parser = subparsers.add_parser("attack", help="adversarial examples, teacher-crafted attacks, a "
                                   "poisoned pretrained model and two defences, per strategy")
    add_experiment_options(parser, target="none", strategies=(STRATEGIES, DEFAULT_STRATEGIES), k=25,
                           seeds_default=5)
    parser.add_argument("--eps", type=positive_floats, default=[0.0, 0.05, 0.1, 0.2],
                        help="L-infinity radii in the data's units [0, 1] (0 is always added; "
                             "default 0,0.05,0.1,0.2)")
    parser.add_argument("--adversarial-eps", type=_positive_float, default=0.1,
                        help="epsilon of adversarial fine-tuning (default 0.1)")
    parser.add_argument("--pretrain-steps", type=int, default=1000)
    parser.add_argument("--finetune-steps", type=int, default=500)
    parser.set_defaults(handler=main)
    return parser


def main(args):
    run(args)
    return 0


def settings_from(args):
    """security.Settings from the parsed flags (--quick applied; scratch always in, as control)."""
    from minitransfer.security import Settings

    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    strategies = list(args.strategies)
    if "scratch" not in strategies:
        strategies.insert(0, "scratch")  # the control every comparison is made against
    return Settings(k=args.k, hidden=hidden_sizes(args), pretrain_steps=args.pretrain_steps,
                    finetune_steps=args.finetune_steps, eps=tuple(sorted({0.0, *args.eps})),
                    adversarial_eps=args.adversarial_eps, device=args.device,
                    strategies=tuple(strategies), seeds=tuple(args.seeds))


def _check_k(task, k):
    """k must fit the pool the k examples are drawn from (the validation set is set aside first:
    the attacker's images come from it)."""
    from minitransfer.experiment import split_target

    counts = np.bincount(split_target(task)[0][1])
    if k is not None and k > counts.min():
        raise UsageError(f"--k: k={k} labelled examples per class asked for, but the target's training "
                         f"pool has only {counts.min()} examples of its smallest class (class "
                         f"{int(counts.argmin())}) once the validation set is set aside")


def run(args, log=print):
    """Run the experiment and write attack.json, attack.md and the PNGs; return their paths."""
    from minitransfer import security
    from minitransfer.report import save_figure
    from minitransfer.security.report import markdown, plot_accuracy_vs_eps, plot_examples
    from minitransfer.security.summary import summarize

    started = time.perf_counter()
    settings = settings_from(args)
    task = load_task(args)
    _check_k(task, settings.k)
    out = output_folder(args, "attack")
    log(f"{task.name}: attacking {', '.join(settings.strategies)} over seeds "
        f"{', '.join(map(str, settings.seeds))} (scratch is the control)")
    records, examples, seconds = security.run(task, settings, log=log)
    summary = summarize(records, settings)
    n_eval = min(settings.max_eval, len(task.target_test[1]))
    text = markdown(summary, settings, task.name, n_eval)
    payload = {"task": task.name, "settings": settings_of(args, **settings.as_dict()),
               "n_eval": n_eval, "records": records, "summary": summary}
    timings = {"seconds_per_seed": seconds, "seconds": round(time.perf_counter() - started, 3)}
    paths = list(write_outputs(out, "attack", payload, text, timings))
    paths.append(plot_accuracy_vs_eps(summary, settings, os.path.join(out, "accuracy_vs_eps.png"),
                                      new_figure, save_figure))
    paths += plot_examples(examples, settings, out, new_figure, save_figure)
    log(text)
    log(f"wrote {', '.join(os.path.basename(p) for p in paths if p)} to {out} in "
        f"{time.perf_counter() - started:.1f}s")
    return [p for p in paths if p]
