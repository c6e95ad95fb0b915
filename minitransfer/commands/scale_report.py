"""The tables, sentences and plots of ``minitransfer scale`` (scale.md and the PNGs).

Every sentence that reads a result is computed here from the rows it sits beside: verdicts
come from ``stats`` (through ``experiment.summarize``, Holm's correction over each table).
"""

import math

from minitransfer.commands.common import markdown_table, new_figure
from minitransfer.pretraining import format_macs

ASSUMPTIONS = """\
- Compute is counted in multiply-adds (MACs) of the Linear layers' matrix products, per
  example: forward Σ in·out over the layers; backward = the weight gradients of the layers
  that train (in·out each) + the input gradients of the layers with a trained layer below them
  (in·out each: every layer but the first when all train; none for a linear probe), as the
  engine computes them (`pretraining.compute`). An optimizer step, the biases, ReLU and the
  loss are counted as free; so are the validation evaluations of the learning curves (they
  measure, they do not train), except early stopping's, which are part of the method.
- Pretraining costs steps × batch × MACs per example; fine-tuning to reach the target costs the
  mean step at which the validation curve first reached it × batch × MACs per example.
- The target accuracy is scratch's mean final validation accuracy; a fine-tuning that reaches it
  in fewer seeds than scratch does counts as not reaching it.
- Break-even: the smallest number N of target tasks with P + N·F < N·S (P one shared
  pretraining, F fine-tuning per task, S scratch per task); "never" when F ≥ S or F is undefined.
- Pretrain once, fine-tune many: per seed the plain model is pretrained once; every strategy,
  the steps curve (snapshots of that one run) and the distillation teacher reuse it, and its
  cost is counted once, not once per task."""


def _pct(value):
    return "—" if value is None else f"{100 * value:.1f}"


def _bounds(interval):
    """(low, high) of an interval, or None when it has none (one seed: NaN, or None in JSON)."""
    low, high = interval
    if low is None or math.isnan(low):
        return None
    return low, high


def _difference(estimate, interval):
    """'+7.1 [+4.7, +9.6]' in points (accuracy × 100)."""
    bounds = _bounds(interval)
    if bounds is None:
        return f"{100 * estimate:+.1f} [no interval]"
    return f"{100 * estimate:+.1f} [{100 * bounds[0]:+.1f}, {100 * bounds[1]:+.1f}]"


def _gain(row):
    if row.get("gain_vs_scratch") is None:
        return "—"
    return _difference(row["gain_vs_scratch"], row["ci95"])


_WORDS = {"helped": "helped", "hurt": "hurt", "no_difference": "no detectable difference",
          "undecided": "undecided", None: "—"}


def _accuracy(row):
    spread = f"{100 * row['std']:.1f}" if row["n_seeds"] > 1 else "—"
    return f"{100 * row['mean']:.1f} ± {spread}"


def _seeds(row):
    n = row["seeds_reaching_target"]
    return f"{n} seed{'s' if n != 1 else ''}"


def _steps(row):
    if row["steps_to_target"] is None or not row["reaches_target"]:
        return f"not reached ({_seeds(row)})"
    return f"{row['steps_to_target']:.0f} ({_seeds(row)})"


def _break_even(row):
    if row["strategy"] == "scratch":
        return "—"
    return "never" if row["break_even_tasks"] is None else str(row["break_even_tasks"])


def _family(rows):
    return sum(1 for r in rows if r.get("p_holm") is not None)


def ends_sentence(rows):
    """The gain at the first and last point of a curve (rows after scratch's), each read by its
    own interval's verdict."""
    first, last = rows[1], rows[-1]
    return (f"At {first['strategy']} the gain over scratch is {_gain(first)} points "
            f"({_WORDS[first['verdict']]} on its own interval); at {last['strategy']} it is "
            f"{_gain(last)} ({_WORDS[last['verdict']]}).")


def markdown(tables, settings, context):
    """scale.md: settings, the four tables with their computed sentences, the assumptions."""
    rows_m, rows_steps = tables["m"], tables["steps"]
    rows_strategy, rows_method = tables["strategy"], tables["method"]
    scratch = rows_m[0]
    main = settings.strategies[0]
    lines = [
        "# minitransfer scale: how much pretraining buys, and when it pays for itself", "",
        f"Task {context['task']}: source classes 0–4 ({context['distinct_images']} distinct images, "
        f"{context['source_rows']} rows with their jittered copies), target classes 5–9 with "
        f"k = {settings.k} labelled images per class; model "
        f"{'-'.join(map(str, rows_m[1]['sizes']))}; seeds {context['seeds']}. Pretraining: Adam, "
        f"batch {settings.pretrain_batch}, budget B = {context['budget']} steps (the m curve and "
        f"the methods). Fine-tuning: {main} (the curves and the methods), {settings.finetune_steps} "
        f"steps, Adam, batch {settings.finetune_batch}. Accuracy on the held-out test set (%, mean ± "
        f"std over seeds); gains in points, paired by seed, with 95% t-intervals; verdicts with "
        f"Holm's correction over the comparisons of each table read together.", "",
        "## Gain vs pretraining data m (distinct source images)", "",
        markdown_table(("m", "accuracy %", "gain over scratch [95% CI]",
                        f"verdict (Holm, {_family(rows_m)} comparisons)"),
                       [(r["strategy"], _accuracy(r), _gain(r), _WORDS[r["verdict_holm"]])
                        for r in rows_m]), "",
        ends_sentence(rows_m), "",
        "## Gain vs pretraining steps", "",
        markdown_table(("pretraining", "MACs", "accuracy %", "gain over scratch [95% CI]",
                        f"verdict (Holm, {_family(rows_steps)})", "steps to target",
                        "break-even tasks"),
                       [(r["strategy"], format_macs(r["pretrain_macs"]), _accuracy(r), _gain(r),
                         _WORDS[r["verdict_holm"]], _steps(r), _break_even(r)) for r in rows_steps]), "",
        ends_sentence(rows_steps), "",
        "## When pretraining pays for itself", "",
        f"Target accuracy: scratch's mean final validation accuracy, {_pct(scratch['target_accuracy'])}%. "
        f"One plain pretraining of B = {context['budget']} steps costs "
        f"{format_macs(rows_strategy[1]['pretrain_macs'])} multiply-adds.", "",
        markdown_table(("fine-tuning", "MACs per step", "steps to target (seeds reaching)",
                        "MACs per task to target", "break-even tasks"),
                       [(r["strategy"], format_macs(r["per_step_macs"]), _steps(r),
                         format_macs(r["finetune_macs"] if r["reaches_target"] else None),
                         _break_even(r)) for r in rows_strategy]), "",
        *[pays_sentence(r, scratch) for r in rows_strategy[1:]], "",
        "## Efficient pretraining vs plain pretraining", "",
        _methods_table(rows_method), "", best_method_sentence(rows_method), "",
        early_stopping_sentence(rows_method, settings.budget), "",
        f"Distillation: T = {settings.temperature:g}, loss T²·KL(teacher ‖ student) on softened "
        f"logits (Hinton et al., 2015: the soft targets' gradients scale as 1/T², hence T²); the "
        f"teacher is the plain model of the same seed, already paid for (pretrain once), so only "
        f"its logits on the source (one forward pass per row) are counted. Coresets train "
        f"for the same number of passes over their data as plain pretraining (m/4: B/4 steps); "
        f"k-center's selection (per center, one product over its class's images × pixels) is "
        f"counted. Early stopping holds out "
        f"{100 * settings.val_fraction:.0f}% of the source images, evaluates every "
        f"{settings.patience_every} steps, patience {settings.patience} evaluations.", "",
        "## Assumptions", "", ASSUMPTIONS, "",
        "## Time", "", *[f"- {key}: {value:.1f} s" for key, value in context["seconds"].items()], "",
    ]
    return "\n".join(lines)


def pays_sentence(row, scratch):
    if row["break_even_tasks"] is None:
        reason = ("it does not reach scratch's accuracy as often as scratch does"
                  if not row["reaches_target"] else "a fine-tuning costs no less than training from scratch")
        return f"- {row['strategy']}: never pays for itself here ({reason})."
    return (f"- {row['strategy']}: pretraining once ({format_macs(row['pretrain_macs'])}) then "
            f"{format_macs(row['finetune_macs'])} per task, vs {format_macs(scratch['finetune_macs'])} "
            f"per task from scratch: cheaper for {row['break_even_tasks']} or more target tasks.")


def _methods_table(rows):
    plain = next(r for r in rows if r["strategy"] == "plain")
    family = sum(1 for r in rows if "vs_plain" in r)
    body = []
    for r in rows:
        versus = r.get("vs_plain")
        difference = "—" if versus is None else _difference(versus["difference"], versus["ci95"])
        ratio = "—" if r["strategy"] == "scratch" else f"{r['pretrain_macs'] / plain['pretrain_macs']:.2f}"
        body.append((r["strategy"], format_macs(r["pretrain_macs"]), ratio,
                     format_macs(r["per_step_macs"]), _accuracy(r), _gain(r),
                     _WORDS[r["verdict_holm"]], difference,
                     _WORDS[versus["verdict_holm"]] if versus else "—", _break_even(r)))
    header = ("method", "pretraining MACs", "× plain", "fine-tune MACs/step", "accuracy %",
              "gain over scratch [95% CI]", f"vs scratch (Holm, {_family(rows)})",
              "minus plain [95% CI]", f"vs plain (Holm, {family})", "break-even tasks")
    return markdown_table(header, body)


def best_method_sentence(rows):
    """The cheapest method whose gain over scratch holds and that is not worse than plain (Holm)."""
    kept = [r for r in rows if "vs_plain" in r and r["verdict_holm"] == "helped"
            and r["vs_plain"]["verdict_holm"] != "hurt"]
    if not kept:
        return ("No efficient method kept a gain over scratch that holds under Holm's correction "
                "while not being worse than plain pretraining.")
    best = min(kept, key=lambda r: r["pretrain_macs"])
    plain = next(r for r in rows if r["strategy"] == "plain")
    return (f"Methods whose gain over scratch holds (Holm) and that are not detectably worse than "
            f"plain (Holm): {', '.join(r['strategy'] for r in kept)}. The cheapest of them is "
            f"{best['strategy']}, at {best['pretrain_macs'] / plain['pretrain_macs']:.2f}× plain "
            f"pretraining's compute, gain {_gain(best)} points (plain: {_gain(plain)}).")


def early_stopping_sentence(rows, budget):
    """How many steps early stopping ran, and in how many seeds it stopped before the budget."""
    parts = next(r["parts"] for r in rows if r["strategy"] == "early stopping")
    stopped = sum(p["steps"] < budget for p in parts)
    best = sorted({p["best_step"] for p in parts})
    evaluations = sum(p["evaluation_macs"] for p in parts) / len(parts)
    return (f"Early stopping stopped before the budget of {budget} steps in {stopped} of "
            f"{len(parts)} seeds (best evaluations at step {', '.join(map(str, best))}); its "
            f"validation evaluations, counted in its compute, cost {format_macs(evaluations)} "
            f"multiply-adds per run on average.")


def draw_figures(tables, settings):
    """{file name: Figure}: gain vs m, gain vs steps (log x, 95% bands), methods' compute vs gain."""
    figures = {}
    for table, name, xlabel in (("m", "scale_gain_vs_m.png", "distinct source images m"),
                                ("steps", "scale_gain_vs_steps.png", "pretraining steps")):
        fig, ax = new_figure()
        if fig is None:
            return {}
        rows = [r for r in tables[table] if r["gain_vs_scratch"] is not None]
        x = [r["x"] for r in rows]
        gain = [100 * r["gain_vs_scratch"] for r in rows]
        bounds = [_bounds(r["ci95"]) or (r["gain_vs_scratch"],) * 2 for r in rows]
        low, high = [100 * b[0] for b in bounds], [100 * b[1] for b in bounds]
        ax.fill_between(x, low, high, alpha=0.25, label="95% interval (paired by seed)")
        ax.plot(x, gain, marker="o", label=f"{settings.strategies[0]} − scratch")
        ax.axhline(0, color="gray", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("target accuracy gain over scratch (points)")
        ax.legend()
        figures[name] = fig
    fig, ax = new_figure(figsize=(7.5, 4.5))
    rows = [r for r in tables["method"] if r["gain_vs_scratch"] is not None]
    for r in rows:
        g, bounds = 100 * r["gain_vs_scratch"], _bounds(r["ci95"])
        error = [[g - 100 * bounds[0]], [100 * bounds[1] - g]] if bounds else None
        ax.errorbar([r["pretrain_macs"]], [g], yerr=error, marker="o", capsize=3)
        ax.annotate(r["strategy"], (r["pretrain_macs"], g), fontsize=7, xytext=(4, 2),
                    textcoords="offset points")
    ax.axhline(0, color="gray", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("pretraining compute (multiply-adds)")
    ax.set_ylabel("target accuracy gain over scratch (points)")
    figures["scale_methods.png"] = fig
    return figures
