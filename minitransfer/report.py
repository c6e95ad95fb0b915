"""Write what an experiment measured: a terminal table, report.json, report.md and PNG plots.

Files are written to a temporary name and renamed, so a killed job never leaves half a report.
matplotlib is imported only here, and only to draw: without it the reports are still written.
"""

import json
import os

import numpy as np

from minitransfer.fileio import atomic_path, atomic_write_bytes


def _percent(value):
    return "—" if value is None else f"{100 * value:.1f}"


def _gain(record):
    if record["gain_vs_scratch"] is None:
        return "—"
    low, high = record["ci95"]
    ci = f" [no interval: {record['n_paired']} seed]" if np.isnan(low) else \
        f" [{100 * low:+.1f}, {100 * high:+.1f}]"
    return f"{100 * record['gain_vs_scratch']:+.1f}{ci}"


def _verdict(record):
    return "—" if record["verdict_text"] is None else record["verdict_text"]


def _steps(record):
    if record["steps_to_target"] is None:
        return "never"
    return f"{record['steps_to_target']:.0f} ({record['seeds_reaching_target']}/{record['n_seeds']})"


def _trainable(record):
    count = record.get("trainable_parameters")
    return "—" if count is None else f"{count:,}"


def table_rows(summary):
    header = ("strategy", "k/class", "accuracy % (mean ± std)", "gain vs scratch [95% CI]", "verdict",
              "steps to target (seeds)", "trained parameters")
    rows = [(r["strategy"], str(r["k"]), f"{_percent(r['mean'])} ± {_percent(r['std'])}", _gain(r),
             _verdict(r), _steps(r), _trainable(r)) for r in summary]
    return header, rows


def format_table(summary):
    """The summary as an aligned plain-text table for the terminal."""
    header, rows = table_rows(summary)
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def markdown(config, summary):
    header, rows = table_rows(summary)
    lines = [f"# Transfer report: {config.get('task', '')}", ""]
    lines += [f"- {key}: `{value}`" for key, value in config.items()]
    lines += ["", "Accuracy on the held-out target test set, in %, read once per run after "
              "fine-tuning. Gain: paired by seed, over the seeds that scratch also ran; verdict: "
              "its 95% t-interval read by `stats.verdict` (helped: above 0; hurt: below 0; "
              "no detectable difference: holds 0; undecided: one seed). Steps to target: optimiser "
              "steps until the accuracy on the validation set (carved from the target's training "
              "pool before the k examples are drawn) first reaches the target accuracy (scratch's "
              "final mean validation accuracy at that k unless stated), averaged over the seeds "
              "that reached it.", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    negatives = [f"{r['strategy']} at k={r['k']}" for r in summary if r["negative_transfer"]]
    lines += ["", "Negative transfer: " + (", ".join(negatives) if negatives else "none detected")]
    lines += ["", _holm_line(summary)]
    return "\n".join(lines) + "\n"


def _holm_line(summary):
    """How the verdicts read together: Holm's correction over every gain of the table."""
    tested = [r for r in summary if r.get("verdict_holm") not in (None, "undecided")]
    if not tested:
        return "Read together: no comparison has two seeds or more."
    kept = [f"{r['strategy']} at k={r['k']} ({r['verdict_holm']})" for r in tested
            if r["verdict_holm"] in ("helped", "hurt")]
    return (f"Read together (Holm's correction over the {len(tested)} comparisons, paired t-tests, "
            f"α = 0.05), these verdicts stand: " + (", ".join(kept) if kept else "none") + ".")


def write_report(run_dir, config, results, summary):
    """Write report.json, report.md and the plots into ``run_dir``; return the paths written."""
    os.makedirs(run_dir, exist_ok=True)
    paths = {"json": os.path.join(run_dir, "report.json"), "md": os.path.join(run_dir, "report.md")}
    document = {"config": config, "summary": summary, "results": results}
    atomic_write_bytes(paths["json"], json.dumps(document, indent=2, sort_keys=True).encode())
    atomic_write_bytes(paths["md"], markdown(config, summary).encode())
    paths.update(plot(run_dir, results, summary))
    return paths


def plot(run_dir, results, summary):
    """accuracy_vs_k.png (mean ± std bands per strategy) and learning_curves.png."""
    try:
        # Figure objects draw without pyplot, so no GUI backend is chosen or changed (a notebook
        # that calls this keeps its inline backend).
        from matplotlib.figure import Figure
    except ImportError:
        return {}
    written = {}
    strategies = list(dict.fromkeys(r["strategy"] for r in summary))
    ks = list(dict.fromkeys(r["k"] for r in summary))
    positions = np.arange(len(ks))
    fig = Figure(figsize=(6.5, 4))
    ax = fig.subplots()
    for strategy in strategies:
        rows = [next((r for r in summary if r["strategy"] == strategy and r["k"] == k), None) for k in ks]
        mean = np.array([np.nan if r is None else 100 * r["mean"] for r in rows])
        std = np.array([np.nan if r is None else 100 * r["std"] for r in rows])
        ax.plot(positions, mean, marker="o", label=strategy)
        ax.fill_between(positions, mean - std, mean + std, alpha=0.2)
    ax.set_xticks(positions, [str(k) for k in ks])
    ax.set_xlabel("labelled target examples per class (k)")
    ax.set_ylabel("held-out accuracy (%)")
    ax.set_title("Does transfer cut the data a target needs?")
    ax.legend()
    ax.grid(alpha=0.3)
    written["accuracy_plot"] = save_figure(fig, os.path.join(run_dir, "accuracy_vs_k.png"))

    fig = Figure(figsize=(6.5, 4))
    ax = fig.subplots()
    k_curve = ks[len(ks) // 2] if ks else None
    for strategy in strategies:
        curves = [r["curve"] for r in results
                  if r["strategy"] == strategy and r["k"] == k_curve and r["curve"]]
        if not curves:
            continue
        length = min(len(c) for c in curves)
        steps = [step for step, _ in curves[0][:length]]
        mean = np.mean([[100 * acc for _, acc in c[:length]] for c in curves], axis=0)
        ax.plot(steps, mean, label=strategy)
    ax.set_xlabel("fine-tuning step")
    ax.set_ylabel("held-out accuracy (%)")
    ax.set_title(f"Learning curves at k = {k_curve} (mean over seeds): does transfer cut compute?")
    ax.legend()
    ax.grid(alpha=0.3)
    written["curve_plot"] = save_figure(fig, os.path.join(run_dir, "learning_curves.png"))
    return written


def save_figure(fig, path):
    """Lay out and write a matplotlib ``Figure`` as a PNG, atomically; return the path."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return path
