"""``minitransfer scale``: how much pretraining buys, and when it pays for itself (issue 19).

    minitransfer scale [--data ...] [--target ...] [--ms 10,30,100,all] [--pretrain-steps
                       10,30,100,300,1000] [--k 25] [--seeds 5] [--out DIR] [--quick]

The measurements are ``scaling.measure`` (one record per seed and run) and
``scaling.summarize_scaling`` (gains, intervals, verdicts, compute, break-even counts). This
file reads the command line and writes scale.json, scale.md and three PNGs into --out
(the tables and plots: commands/scale_report.py).
"""

import argparse
import time

import numpy as np

from minitransfer.commands import common, options
from minitransfer.commands.scale_report import draw_figures, markdown
from minitransfer.experiment import split_target

NAME = "scale"
STRATEGIES = ("full", "linear_probe", "lp_ft")  # their compute per step is known (scaling)
QUICK = {"seeds": [0, 1], "ms": [25, None], "pretrain_steps": [30, 300], "finetune_steps": 150}


def ms(text):
    """'10,30,all' -> [10, 30, None] (None: every distinct source image), smallest first."""
    values = options.counts_or_all(text, "m must be a positive number of distinct source images")
    return sorted(values, key=lambda m: (m is None, m or 0))


def step_counts(text):
    """'10,100,1000' -> [10, 100, 1000]: positive step counts, sorted."""
    try:
        values = sorted({int(item) for item in text.split(",")})
        if min(values) < 1:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected positive step counts separated by commas "
                                         f"(e.g. 100,1000), got {text!r}") from None
    return values


def temperature(text):
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a temperature T > 0 (e.g. 4), got {text!r}")
    return value


def add_parser(subparsers):
    """The ``scale`` subcommand and its flags (the shared ones from ``options``)."""
    parser = subparsers.add_parser(NAME, help="how the gain grows with pretraining data and "
                                              "steps; when pretraining pays; efficient pretraining")
    options.add_experiment_options(parser, target="jitter", strategies=(STRATEGIES, STRATEGIES),
                                   k=25, seeds_default=5)
    parser.add_argument("--ms", type=ms, default=[10, 30, 100, None],
                        help="distinct source images to pretrain on (each with its jittered "
                             "copies), e.g. 10,30,100,all (default)")
    parser.add_argument("--pretrain-steps", type=step_counts, default=[10, 30, 100, 300, 1000],
                        help="pretraining budgets in optimizer steps; the largest is the budget of "
                             "the m curve and the methods (default 10,30,100,300,1000)")
    parser.add_argument("--finetune-steps", type=int, default=300,
                        help="fine-tuning steps of every run (default 300)")
    parser.add_argument("--temperature", type=temperature, default=4.0,
                        help="distillation temperature T (default 4)")
    parser.set_defaults(handler=run)
    return parser


def _check(args, task):
    """Refuse, before any training, an m or a k the data cannot give (UsageError, exit 2)."""
    from minitransfer import pretraining
    from minitransfer.scaling import distinct_images, image_ids

    available = distinct_images(task)
    classes = len(np.unique(task.source[1][np.unique(image_ids(task), return_index=True)[1]]))
    for m in args.ms:
        if m is not None:
            try:
                pretraining.check_subset_size(m, available, classes, argument="--ms",
                                              unit="distinct images")
            except ValueError as error:
                raise common.UsageError(str(error)) from None
    (_, pool_y), _ = split_target(task)
    counts = np.bincount(pool_y)
    if args.k is None or args.k > counts.min():
        raise common.UsageError(f"--k: expected at most {counts.min()} labelled examples per class "
                                f"(the target pool's smallest class, once the validation set is set "
                                f"aside), got {args.k or 'all'}")
    if args.finetune_steps < 1:
        raise common.UsageError(f"--finetune-steps: expected a positive integer, got {args.finetune_steps}")


def settings_from(args):
    from minitransfer.scaling import ScaleSettings

    return ScaleSettings(ms=tuple(args.ms), pretrain_steps=tuple(args.pretrain_steps), k=args.k,
                         strategies=tuple(args.strategies), finetune_steps=args.finetune_steps,
                         temperature=args.temperature, device=args.device)


def run(args, log=print):
    """Measure, summarize, write scale.json / scale.md / PNGs; print the tables. Returns 0."""
    from minitransfer.report import save_figure
    from minitransfer.scaling import distinct_images, measure, summarize_scaling

    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    started = time.perf_counter()
    task = common.load_task(args)
    _check(args, task)
    out = common.output_folder(args, NAME)
    hidden = common.hidden_sizes(args)
    settings = settings_from(args)
    log(f"{task.name}: {distinct_images(task)} distinct source images ({len(task.source[1])} rows), "
        f"model {[task.source[0].shape[1], *hidden, task.source_classes]}, k = {args.k}, "
        f"seeds {args.seeds}")
    records, seconds = measure(task, hidden, args.seeds, settings, log=log)
    tables = summarize_scaling(records, settings)
    context = {"task": task.name, "distinct_images": distinct_images(task),
               "source_rows": len(task.source[1]), "hidden": list(hidden), "seeds": list(args.seeds),
               "budget": settings.budget, "seconds": seconds}
    text = markdown(tables, settings, context)
    figures = draw_figures(tables, settings)
    for name, fig in figures.items():
        save_figure(fig, f"{out}/{name}")
    seconds["total"] = round(time.perf_counter() - started, 3)
    payload = {"settings": common.settings_of(args, budget=settings.budget,
                                               hidden=list(hidden)),
               "task": task.name, "distinct_images": distinct_images(task), "tables": tables,
               "runs": records}
    json_path, md_path = common.write_outputs(out, NAME, payload, text, timings=seconds)
    log(text)
    log(f"wrote {json_path}, {md_path}" + "".join(f", {out}/{name}" for name in figures)
        + f" in {seconds['total']:.1f}s")
    return 0
