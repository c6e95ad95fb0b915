"""``minitransfer adapt``: unsupervised domain adaptation, measured (issue 18, DESIGN §11).

The same ten classes in source and target; the source is clean, the target shifted (noise,
invert, jitter by default). For each shift and seed every method trains from the same initial
network on the same source batches; target labels are read only for the final test (and by
the upper-bound row, trained on them on purpose). Writes adapt.json, adapt.md (accuracy per
method, the paired gain over source-only with its 95% interval and Holm's correction over every
gain of the run, the proxy A-distance before and after) and adapt_pca.png (2-D PCA of source
and target features, ``stats.pca`` on ``transfer.features``).
"""

import os
import time

import numpy as np

from minitransfer import stats
from minitransfer.commands.common import (
    UsageError,
    hidden_sizes,
    markdown_table,
    new_figure,
    output_folder,
    settings_of,
    targets_of,
    write_outputs,
)
from minitransfer.commands.options import add_experiment_options, choices

NAME = "adapt"
DEFAULT_TARGETS = ("noise", "invert", "jitter")
DEFAULT_STEPS = 400
QUICK = {"seeds": [0, 1], "steps": 150}  # --quick: two seeds, fewer steps, the same shifts


def add_parser(subparsers):
    from minitransfer.adapt import METHODS

    parser = subparsers.add_parser(NAME, help="domain adaptation without target labels: DANN, "
                                              "CORAL, MMD against source-only")
    add_experiment_options(parser, target=None, seeds_default=5)  # --targets default: DEFAULT_TARGETS
    parser.add_argument("--methods", type=choices(METHODS, "method"), default=list(METHODS),
                        help=f"comma-separated, from {', '.join(METHODS)} (default: all)")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                        help=f"training steps of every method and the upper bound (default {DEFAULT_STEPS})")
    parser.set_defaults(handler=run)
    return parser


def shifts_of(args):
    """The shifts to run: --target (one) or --targets (several, default noise, invert, jitter)."""
    return targets_of(args, DEFAULT_TARGETS)


def run(args, log=print):
    """The whole command; returns 0. Bad input is a UsageError raised before anything is trained."""
    from minitransfer.adapt import compare_methods, make_shift_task, summarize

    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    targets = shifts_of(args)
    if "source_only" not in args.methods:
        raise UsageError(f"--methods: source_only is the baseline every gain is measured against; "
                         f"got {','.join(args.methods)}")
    out = output_folder(args, NAME)
    hidden = hidden_sizes(args)
    tasks = {}
    for target in targets:  # every data set is loaded (and checked) before training starts
        try:
            tasks[target] = make_shift_task(args.data, target, data_dir=args.data_dir)
        except (FileNotFoundError, ValueError) as error:
            raise UsageError(f"--data {args.data}: {error}") from None
    started = time.perf_counter()
    records, pictures, seconds = [], {}, {}
    for target, task in tasks.items():
        began = time.perf_counter()
        runs, pictures[target] = compare_methods(task, args.methods, args.seeds, hidden=hidden,
                                                 steps=args.steps, device=args.device, log=log)
        records += [dict(r, target=target) for r in runs]
        seconds[target] = time.perf_counter() - began
    rows = summarize(records)
    timings = {"total_seconds": time.perf_counter() - started, "seconds_per_target": seconds,
               "seconds_per_run": [r["seconds"] for r in records]}
    for record in records:
        record.pop("seconds")  # timings live in "timings": the rest repeats exactly
    settings = settings_of(args, targets=targets, hidden=list(hidden))
    payload = {"settings": settings, "rows": rows, "runs": records}
    text = markdown(rows, settings)
    json_path, md_path = write_outputs(out, NAME, payload, text, timings)
    figure = plot_features(pictures, out)
    log(text)
    log(f"wrote {json_path}, {md_path}" + (f", {figure}" if figure else "") +
        f" in {timings['total_seconds']:.1f}s")
    return 0


def _points(value, std=None):
    """A share as percentage points: '71.2' or '71.2 ± 1.5'."""
    return f"{100 * value:.1f}" if std is None else f"{100 * value:.1f} ± {100 * std:.1f}"


def _interval(bounds):
    if bounds is None or any(b is None or np.isnan(b) for b in bounds):
        return "—"
    return f"[{100 * bounds[0]:+.1f}, {100 * bounds[1]:+.1f}]"


def markdown(rows, settings):
    """adapt.md: the accuracy table, the proxy A-distance table and sentences computed from them."""
    from minitransfer.adapt.compare import UPPER_BOUND

    lines = [f"# Domain adaptation: {settings['data']}, clean source -> shifted target, same 10 classes",
             "",
             f"Seeds {settings['seeds']}, {settings['steps']} steps per method (Adam, lr 1e-3, batch 64 "
             f"source + 64 target images), body {settings['hidden']}. Target labels are read only for "
             f"the test accuracy and by the upper bound ({UPPER_BOUND}: the labelled target pool "
             f"added to the source).", ""]
    gains = [r for r in rows if "gain" in r]
    family = gains[0]["family_size"] if gains else 0
    header = ("shift", "method", "target accuracy %", "source val. accuracy %", "gain (points)",
              "95% interval", "Holm interval (level)", "Holm p", "verdict")
    table = []
    for r in rows:
        cells = [r["target"], r["method"], _points(r["target_accuracy"], r["target_accuracy_std"]),
                 _points(r["source_accuracy"], r["source_accuracy_std"])]
        if "gain" in r:
            level = "" if r["holm_level"] is None else f" ({100 * r['holm_level']:.2f}%)"
            p_holm = "—" if r["p_holm"] is None or np.isnan(r["p_holm"]) else f"{r['p_holm']:.3g}"
            cells += [f"{100 * r['gain']:+.1f}", _interval(r["ci95"]), _interval(r["holm_interval"]) + level,
                      p_holm, r["verdict_holm"]]
        else:
            cells += ["—"] * 5
        table.append(cells)
    lines += ["## Target accuracy, and the gain over source-only (paired by seed)", "",
              markdown_table(header, table), "",
              f"Holm's correction reads the {family} gains of this table together (family-wise "
              f"α = 0.05); 'helped' needs its Holm-adjusted p <= 0.05.", ""]
    lines += ["## Proxy A-distance (2 = the domains are linearly separable, 0 = indistinguishable)", "",
              pad_table(rows), ""]
    lines += ["## What the numbers say", ""] + [f"- {s}" for s in sentences(rows)]
    return "\n".join(lines) + "\n"


def pad_table(rows):
    """Proxy A-distance between source-validation and target-test features: before adaptation
    (source_only) and after (each method), mean ± std over seeds."""
    by = {(r["target"], r["method"]): r for r in rows}
    methods = list(dict.fromkeys(r["method"] for r in rows))
    header = ("shift", *[m + (" (before)" if m == "source_only" else "") for m in methods])
    body = []
    for target in dict.fromkeys(r["target"] for r in rows):
        cells = [target]
        for method in methods:
            mean, std = by[target, method]["proxy_a_distance"], by[target, method]["proxy_a_distance_std"]
            cells.append(f"{mean:.2f}" + ("" if std is None else f" ± {std:.2f}"))
        body.append(cells)
    return markdown_table(header, body)


def sentences(rows):
    """Conclusions computed from the rows (never typed in advance)."""
    from minitransfer.adapt.compare import UPPER_BOUND

    by = {(r["target"], r["method"]): r for r in rows}
    out = []
    for target in dict.fromkeys(r["target"] for r in rows):
        base = by[target, "source_only"]
        helped = [r for r in rows if r["target"] == target and r.get("verdict_holm") == stats.HELPED]
        hurt = [r for r in rows if r["target"] == target and r.get("verdict_holm") == stats.HURT]
        text = f"{target}: source-only reaches {_points(base['target_accuracy'])}% on the target"
        if base["target_accuracy"] < 0.1:
            text += " (below chance, 10%: the source's features send the shifted images to wrong classes)"
        if (target, UPPER_BOUND) in by:
            text += f", the upper bound {_points(by[target, UPPER_BOUND]['target_accuracy'])}%"
        if helped:
            text += "; " + ", ".join(f"{r['method']} helped ({100 * r['gain']:+.1f} points, Holm interval "
                                     f"{_interval(r['holm_interval'])})" for r in helped)
        if hurt:
            text += "; " + ", ".join(f"{r['method']} hurt ({100 * r['gain']:+.1f} points)" for r in hurt)
        if not helped and not hurt:
            text += "; no method made a difference that survives Holm's correction"
        out.append(text + ".")
    winners = [f"{r['method']} on {r['target']}" for r in rows if r.get("verdict_holm") == stats.HELPED]
    out.append("Methods that beat source-only with a Holm-corrected 95% interval above zero: "
               + (", ".join(winners) + "." if winners else
                  "none: with these shifts, seeds and settings no gain over source-only is "
                  "detectable after Holm's correction; the measurement above is the result."))
    return out


def plot_features(pictures, out):
    """adapt_pca.png: for each shift (rows) and method (columns), the first seed's source and target
    features projected on their first two principal components. None without matplotlib."""
    from minitransfer.report import save_figure

    targets = list(pictures)
    methods = list(pictures[targets[0]])
    fig, axes = new_figure(figsize=(2.6 * len(methods), 2.4 * len(targets)), nrows=len(targets),
                           ncols=len(methods), squeeze=False)
    if fig is None:
        return None
    for i, target in enumerate(targets):
        for j, method in enumerate(methods):
            fs, ft = pictures[target][method]
            coordinates = stats.pca(np.concatenate([fs, ft]), 2).coordinates
            ax = axes[i][j]
            ax.scatter(*coordinates[:len(fs)].T, s=4, alpha=0.6, label="source", color="C0")
            ax.scatter(*coordinates[len(fs):].T, s=4, alpha=0.6, label="target", color="C3")
            ax.set_title(f"{target}: {method}" + (" (before)" if method == "source_only" else ""), fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0][0].legend(fontsize=7, loc="best")
    return save_figure(fig, os.path.join(out, "adapt_pca.png"))

