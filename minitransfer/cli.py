"""The command line: ``minitransfer gradcheck`` (and ``python -m minitransfer gradcheck``).

Mistakes on the command line get a one-line message and exit code 2, never a traceback.
"""

import argparse
import sys

import numpy as np

from minitransfer.commands import adapt as adapt_command
from minitransfer.commands import advise as advise_command
from minitransfer.commands import attack, scale
from minitransfer.commands import explain as explain_command
from minitransfer.commands import transferability as transferability_command
from minitransfer.commands.options import (
    add_checkpoint_options,
    add_data_options,
    add_thread_option,
    choices,
    fraction,
    ks,
    one_k,
    seeds,
)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"minitransfer: error: {message}\n")


def _gradcheck_command(args):
    from minitransfer.gradcheck import gradcheck
    from minitransfer.op_registry import REGISTRY, make_values
    from minitransfer.tensor import Tensor

    rng = np.random.default_rng(args.seed)
    rows, failures = [], 0
    for case in REGISTRY:
        max_abs = max_rel = 0.0
        passed, message = True, ""
        for shapes in case.examples:
            inputs = [Tensor(make_values(s, case.values, rng), requires_grad=True) for s in shapes]
            result = gradcheck(case.fn, *inputs, name=case.name, raise_exception=False,
                               reference=case.reference)
            max_abs, max_rel = max(max_abs, result.max_abs_error), max(max_rel, result.max_rel_error)
            if not result.passed and passed:
                passed, message = False, result.message
        shapes_text = "; ".join(" ".join(str(s) for s in shapes) for shapes in case.examples)
        rows.append((case.name, case.op.__name__, shapes_text, max_abs, max_rel, passed, message))
        failures += not passed
    width = max(len(r[2]) for r in rows)
    print(f"{'op':<19} {'class':<16} {'shapes tried':<{width}} {'max abs err':>11} "
          f"{'max rel err':>11}  result")
    for name, cls, shapes, max_abs, max_rel, passed, message in rows:
        print(f"{name:<19} {cls:<16} {shapes:<{width}} {max_abs:>11.2e} {max_rel:>11.2e}  "
              f"{'pass' if passed else 'FAIL'}")
        if message:
            print(f"    {message}")
    print(f"{len(rows) - failures} of {len(rows)} ops pass (float64, central differences, "
          f"random upstream gradient)")
    return 1 if failures else 0


def _data_options(parser):
    add_data_options(parser)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--hidden", type=int, default=128, help="hidden units (default 128)")
    add_thread_option(parser)


def build_parser():
    from minitransfer.transfer import STRATEGIES

    parser = _Parser(prog="minitransfer", description="Transfer learning from scratch in NumPy.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    check = commands.add_parser("gradcheck", help="check every op's backward numerically")
    check.add_argument("--seed", type=int, default=0, help="seed for inputs and upstream gradients")
    add_thread_option(check)
    check.set_defaults(handler=_gradcheck_command)

    run = commands.add_parser("run", help="the main job: compare strategies over k and seeds")
    _data_options(run)
    run.add_argument("--strategies", type=choices(STRATEGIES, "strategy"),
                     default=["scratch", "linear_probe", "full", "lp_ft"],
                     help=f"comma-separated, from {', '.join(STRATEGIES)}")
    run.add_argument("--ks", type=ks, default=[5, 10, 25, 50, None],
                     help="labelled target examples per class, e.g. 5,25,all (default 5,10,25,50,all)")
    run.add_argument("--seeds", type=seeds, default=[0, 1, 2, 3, 4],
                     help="how many seeds, or a list (default 5)")
    run.add_argument("--pretrain-steps", type=int, default=2000)
    run.add_argument("--finetune-steps", type=int, default=1000,
                     help="optimiser steps per fine-tuning run, the same for every strategy (default 1000)")
    run.add_argument("--target-accuracy", type=fraction, default=None,
                     help="accuracy (0-1) for 'steps to target' (default: scratch's final mean)")
    run.add_argument("--out", default=None, help="run folder (default runs/DATA-TARGET)")
    run.add_argument("--resume", action="store_true", help="skip runs already in the run folder")
    run.add_argument("--quick", action="store_true", help="a small run (for tests): 2 seeds, k=5,25")
    run.set_defaults(handler=_run_command)

    pre = commands.add_parser("pretrain", help="pretrain on the source task and save a checkpoint")
    _data_options(pre)
    pre.add_argument("--steps", type=int, default=2000)
    pre.add_argument("--seed", type=int, default=0)
    pre.add_argument("--out", default="pretrained.npz", help="checkpoint path (.npz)")
    pre.add_argument("--sha256", action="store_true",
                     help="also write OUT.sha256, the file's SHA-256 digest, for others to check")
    pre.set_defaults(handler=_pretrain_command)

    fine = commands.add_parser("finetune", help="fine-tune a pretrained checkpoint on the target")
    _data_options(fine)
    add_checkpoint_options(fine, "a checkpoint written by 'minitransfer pretrain' (default pretrained.npz)")
    fine.add_argument("--strategy", choices=STRATEGIES, default="full")
    fine.add_argument("--k", type=one_k, default=25, help="examples per class or 'all'")
    fine.add_argument("--steps", type=int, default=1000, help="fine-tuning steps (default 1000, as in run)")
    fine.add_argument("--seed", type=int, default=0)
    fine.add_argument("--save", default=None, help="save the fine-tuned model here (.npz)")
    fine.set_defaults(handler=_finetune_command)

    kinds = commands.add_parser("kinds", help="measure the four kinds of transfer (document §2.2)")
    _data_options(kinds)
    kinds.add_argument("--seeds", type=seeds, default=[0, 1, 2], help="how many seeds, or a list")
    kinds.add_argument("--k", type=one_k, default=10, help="labels per class (target)")
    kinds.add_argument("--pretrain-steps", type=int, default=1500)
    kinds.add_argument("--finetune-steps", type=int, default=300)
    kinds.add_argument("--out", default=None, help="also write the rows to this JSON file")
    kinds.set_defaults(handler=_kinds_command)

    adapt_command.add_parser(commands)
    scale.add_parser(commands)
    attack.add_parser(commands)

    lessons = commands.add_parser("lessons", help="list the lessons, or run one: minitransfer lessons 6")
    lessons.add_argument("number", nargs="?", type=int, default=None, help="the lesson to run")
    lessons.add_argument("--quick", action="store_true", help="a shortened run (MINITRANSFER_QUICK=1)")
    add_thread_option(lessons)
    lessons.set_defaults(handler=_lessons_command)

    explain_command.add_parser(commands)
    transferability_command.add_parser(commands)
    advise_command.add_parser(commands)
    return parser


def _run_command(args):
    from minitransfer import main_job

    if args.quick:
        for key, value in main_job.QUICK.items():
            setattr(args, key, value)
    if args.out is None:
        args.out = f"runs/{args.data}-{args.target}"
    main_job.run(args)
    return 0


def _pretrain_command(args):
    from minitransfer import main_job

    main_job.pretrain_command(args)
    return 0


def _finetune_command(args):
    from minitransfer import main_job

    main_job.finetune_command(args)
    return 0


def _kinds_command(args):
    import json

    from minitransfer.experiment import make_task
    from minitransfer.fileio import atomic_write_bytes
    from minitransfer.main_job import UsageError
    from minitransfer.transfer.kinds import format_kinds, four_kinds

    try:
        task = make_task(args.data, args.target, data_dir=args.data_dir)
    except FileNotFoundError as error:
        raise UsageError(f"--data {args.data}: {error}") from None
    rows = four_kinds(task, seeds=args.seeds, k=args.k, hidden=args.hidden,
                      pretrain_steps=args.pretrain_steps, finetune_steps=args.finetune_steps)
    print(format_kinds(rows))
    if args.out:
        atomic_write_bytes(args.out, json.dumps({"task": task.name, "rows": rows}, indent=2).encode())
    return 0


def _lessons_command(args):
    """The lessons live beside the package in a source checkout (``lessons/NN_name.py``)."""
    import os
    import pathlib
    import subprocess

    from minitransfer.main_job import UsageError

    folder = pathlib.Path(__file__).resolve().parent.parent / "lessons"
    found = sorted(folder.glob("[0-9][0-9]_*.py")) if folder.is_dir() else []
    if not found:
        raise UsageError(f"no lessons found in {folder}: they ship with the source checkout "
                         f"(git clone), not with an installed wheel")
    if args.number is None:
        for path in found:
            title = next((line[4:].strip() for line in path.read_text().splitlines()
                          if line.startswith("# # ")), path.stem)
            print(f"{path.name:<36} {title}")
        return 0
    chosen = [p for p in found if int(p.name[:2]) == args.number]
    if not chosen:
        raise UsageError(f"lesson {args.number}: expected one of "
                         f"{', '.join(str(int(p.name[:2])) for p in found)}")
    env = dict(os.environ, MINITRANSFER_THREADS=str(args.threads))  # the lesson applies it
    if args.quick:
        env["MINITRANSFER_QUICK"] = "1"
    return subprocess.call([sys.executable, str(chosen[0])], env=env)


def apply_threads(args, parser):
    """Set the BLAS thread count for the whole command: --threads, else the default policy."""
    from minitransfer import threads

    if args.threads is None:
        try:
            args.threads = threads.default_num_threads()
        except ValueError as error:  # a bad $MINITRANSFER_THREADS
            parser.error(str(error))
    threads.set_num_threads(args.threads)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    for name in ("steps", "pretrain_steps", "finetune_steps", "hidden"):
        if isinstance(getattr(args, name, None), int) and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    if getattr(args, "device", None) is not None:
        from minitransfer.backend import check_device

        try:
            check_device(args.device)
        except (ValueError, RuntimeError) as error:  # an unknown name, or no usable GPU
            parser.error(f"--device: {error}")
    apply_threads(args, parser)
    from minitransfer.main_job import UsageError

    try:
        return args.handler(args)
    except (UsageError, FileNotFoundError) as error:
        print(f"minitransfer: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        resume = " (finished runs are kept: add --resume to continue)" if args.command == "run" else ""
        print(f"minitransfer: interrupted{resume}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
