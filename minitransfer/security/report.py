"""attack.md and the figures of ``minitransfer attack``, drawn from ``summary.summarize``."""

import math
import os

import numpy as np

from minitransfer.security.summary import DIRECTION


def percent(cell):
    """'97.1 [95.0, 99.2]' from {"mean", "ci95"} (fractions), or '97.1' without an interval."""
    low, high = cell["ci95"]
    if low is None or math.isnan(low):
        return f"{100 * cell['mean']:.1f}"
    return f"{100 * cell['mean']:.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def difference(comparison):
    """'+12.3 [+5.0, +19.6] higher (Holm p = 0.01)' from a ``summary.family`` entry."""
    low, high = comparison["ci95"]
    text = f"{100 * comparison['estimate']:+.1f}"
    if low is not None and not math.isnan(low):
        text += f" [{100 * low:+.1f}, {100 * high:+.1f}]"
    text += f" {DIRECTION[comparison['verdict']]}"
    if comparison["p_holm"] is not None and not math.isnan(comparison["p_holm"]):
        text += f" (Holm p = {comparison['p_holm']:.2g})"
    return text


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def markdown(summary, settings, task_name, n_eval):
    """The whole attack.md: settings, five tables, conclusions."""
    eps, n = list(settings.eps), len(settings.seeds)
    shown = [i for i, e in enumerate(eps) if e > 0]
    vs = f"PGD ε={settings.adversarial_eps:g} − scratch"
    parts = [
        f"# Security of transfer: {task_name}\n",
        f"Seeds {', '.join(map(str, settings.seeds))}; k = {settings.k} labelled target examples per class; "
        f"body {'-'.join(map(str, settings.hidden))}; pretraining {settings.pretrain_steps} steps, "
        f"fine-tuning {settings.finetune_steps} steps; {n_eval} held-out target test images. Accuracies "
        f"and rates in %, mean over {n} seeds [95% t-interval]. Differences are paired by seed; each "
        f"table's differences are read together, with Holm's correction (m = comparisons with an "
        f"interval). Data in [0, 1]; ε is an L∞ radius in those units.\n",
        "## White-box attacks on each student (accuracy)\n",
        f"FGSM, and PGD with α = ε/4, {settings.pgd_steps} steps, no random start. "
        f"PGD at or below FGSM at every ε and strategy (means): {summary['pgd_not_above_fgsm']}.\n",
        _table(["strategy", "clean"] + [f"{a} ε={eps[i]:g}" for i in shown for a in ("FGSM", "PGD")]
               + [vs],
               [[s, percent(row["clean"])] + [percent(row[a][i]) for i in shown for a in ("fgsm", "pgd")]
                + [difference(row["pgd_vs_scratch"]) if "pgd_vs_scratch" in row else "—"]
                for s, row in summary["white_box"].items()]),
        "\n## Attacks crafted on the public teacher (Wang et al., 2018)\n",
        f"Targeted feature-space PGD on the clean teacher's last body layer ({settings.feature_steps} "
        f"steps, α = ε/4) toward the attacker's image of another class; the student is never queried. "
        f"Targeted success = the student predicts that class; untargeted = any wrong prediction. "
        f"'Added' = targeted success at ε = {max(eps):g} minus at ε = 0 (what the perturbation adds).\n",
        _table(["strategy"] + [f"targeted ε={e:g}" for e in eps]
               + [f"untargeted ε={max(eps):g}", "added", "added − scratch"],
               [[s] + [percent(c) for c in row["targeted"]]
                + [percent(row["untargeted"][-1]), percent(row["added"]) if "added" in row else "—",
                   difference(row["added_vs_scratch"]) if "added_vs_scratch" in row else "—"]
                for s, row in summary["teacher"].items()]),
        "\n## A poisoned pretrained model (BadNets)\n",
        f"The attacker adds {100 * settings.poison_fraction:g}% triggered copies ({settings.trigger_size}×"
        f"{settings.trigger_size} white square, bottom right) labelled source class "
        f"{settings.poison_class}. The teacher's backdoor on held-out source images: poisoned "
        f"{percent(summary['backdoor_success']['poisoned'])}, clean "
        f"{percent(summary['backdoor_success']['clean'])} of triggered images called class "
        f"{settings.poison_class}. Flip rate = target test images whose prediction changes when "
        f"the trigger is stamped on. Scratch ignores the pretrained weights and is left out.\n",
        _pair_table(summary["poisoning"], "clean teacher", "poisoned teacher", "flip rate"),
        "\n## Fine-pruning the poisoned model\n",
        f"Before fine-tuning, the {100 * settings.prune_fraction:g}% of the last body layer's units "
        f"least active on the k clean target examples are zeroed (Liu et al., 2018).\n",
        _pair_table(summary["pruning"], "not pruned", "pruned", "flip rate"),
        "\n## Adversarial fine-tuning\n",
        f"fine_tune(..., adversarial={settings.adversarial_eps:g}): half of every batch replaced by PGD "
        f"examples of the current model. The cost is read in clean accuracy, the gain in PGD accuracy "
        f"at ε = {settings.adversarial_eps:g}.\n",
        _pair_table(summary["adversarial"], "plain", "adversarial", f"PGD ε={settings.adversarial_eps:g}"),
        "\n## Conclusions (computed from the verdicts above)\n",
        "\n".join(f"- {line}" for line in summary["conclusions"]), "",
    ]
    return "\n".join(parts)


def _pair_table(rows, before, after, second):
    return _table(["strategy", f"accuracy, {before}", f"accuracy, {after}", "difference",
                   f"{second}, {before}", f"{second}, {after}", "difference"],
                  [[s, percent(r["accuracy"]["before"]), percent(r["accuracy"]["after"]),
                    difference(r["accuracy"]["difference"]), percent(r["second"]["before"]),
                    percent(r["second"]["after"]), difference(r["second"]["difference"])]
                   for s, r in rows.items()])


def plot_accuracy_vs_eps(summary, settings, path, new_figure, save_figure):
    """Accuracy under FGSM (dashed) and PGD (solid) against ε, and teacher-crafted success."""
    fig, (left, right) = new_figure(figsize=(10, 4), ncols=2)
    if fig is None:
        return None
    eps = list(settings.eps)
    for s, row in summary["white_box"].items():
        line, = left.plot(eps, [100 * c["mean"] for c in row["pgd"]], marker="o", label=f"{s} PGD")
        left.plot(eps, [100 * c["mean"] for c in row["fgsm"]], linestyle="--", color=line.get_color())
        right.plot(eps, [100 * c["mean"] for c in summary["teacher"][s]["targeted"]], marker="o",
                   color=line.get_color(), label=s)
    left.set(xlabel="ε (L∞)", ylabel="accuracy (%)", title="White box: PGD (solid), FGSM (dashed)")
    right.set(xlabel="ε (L∞)", ylabel="targeted success (%)", title="Crafted on the teacher only")
    left.legend(fontsize=7)
    right.legend(fontsize=7)
    return save_figure(fig, path)


def plot_examples(examples, settings, out, new_figure, save_figure):
    """Two grids: clean / adversarial / difference images, and clean / triggered images."""
    fig, axes = new_figure(figsize=(9, 9), nrows=4, ncols=5)
    if fig is None:
        return []
    side = int(round(math.sqrt(examples["x"].shape[1])))
    strategy = "full" if "full" in examples["pgd"] else next(iter(examples["pgd"]))
    lp = "linear_probe" if "linear_probe" in examples["predictions"] else strategy
    seen, seen_lp = examples["predictions"][strategy], examples["predictions"][lp]
    for r in range(len(examples["x"])):
        x, adv, crafted = examples["x"][r], examples["pgd"][strategy][r], examples["crafted"][r]
        cells = [(x, f"clean: {seen['clean'][r]} (true {examples['y'][r]})", "gray"),
                 (adv, f"PGD: {seen['pgd'][r]}", "gray"),
                 (adv - x, f"difference (ε={examples['eps']:g})", "RdBu"),
                 (crafted, f"teacher-crafted→{examples['targets'][r]}: {seen_lp['crafted'][r]}", "gray"),
                 (crafted - x, "difference", "RdBu")]
        for c, (image, title, cmap) in enumerate(cells):
            limits = (-examples["eps"], examples["eps"]) if cmap == "RdBu" else (0, 1)
            axes[r, c].imshow(np.reshape(image, (side, side)), cmap=cmap, vmin=limits[0], vmax=limits[1])
            axes[r, c].set_title(title, fontsize=7)
            axes[r, c].axis("off")
    fig.suptitle(f"seed {settings.seeds[0]}: predictions (target classes) of the {strategy} student "
                 f"(PGD) and the {lp} student (teacher-crafted)", fontsize=9)
    paths = [save_figure(fig, os.path.join(out, "adversarial_examples.png"))]
    fig, axes = new_figure(figsize=(7, 2.2), ncols=len(examples["x"]) * 2)
    clean = seen_lp.get("poisoned_clean", seen_lp["clean"])
    triggered = seen_lp.get("poisoned_triggered", seen_lp["triggered"])
    for r in range(len(examples["x"])):
        cells = ((examples["x"][r], f"clean: {clean[r]}"),
                 (examples["triggered"][r], f"trigger: {triggered[r]}"))
        for c, (image, title) in enumerate(cells):
            axes[2 * r + c].imshow(np.reshape(image, (side, side)), cmap="gray", vmin=0, vmax=1)
            axes[2 * r + c].set_title(title, fontsize=7)
            axes[2 * r + c].axis("off")
    fig.suptitle(f"{lp} student of the poisoned teacher, seed {settings.seeds[0]}", fontsize=9)
    paths.append(save_figure(fig, os.path.join(out, "triggered_examples.png")))
    return paths
