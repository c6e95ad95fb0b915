"""The tables, verdicts and plot of ``minitransfer transferability``, computed from the pairs.

Every sentence that reads a result comes from ``stats``: Kendall's τ with a percentile
bootstrap interval over the pairs, read with ``stats.verdict`` at the Bonferroni level when
several τ are read together (a bootstrap interval has no p-value for Holm's step-down; for the
smallest p Holm's first step is Bonferroni's α/m); paired differences over pairs with t-intervals
and Holm's correction (``stats.holm_verdicts``).
"""

import numpy as np

from minitransfer import stats
from minitransfer.commands.common import markdown_table, new_figure
from minitransfer.transferability import METHODS

# The accuracies each score's τ is measured against. Scratch is a control: it never uses the
# checkpoint, so a score that ranks it too ranks the targets by difficulty, not transfer.
READ_AGAINST = ("lp_ft", "linear_probe", "scratch")
TAU_WORDS = {stats.HELPED: "agrees with the accuracy (τ > 0)",
             stats.HURT: "ranks against the accuracy (τ < 0)",
             stats.NO_DIFFERENCE: "no detectable agreement (interval holds 0)",
             stats.UNDECIDED: "undecided (no interval)"}


def tau_table(pairs, ks, n_resamples=2000, alpha=0.05, seed=0):
    """Kendall τ of each score against the accuracy after LP-FT, after the linear probe and, as
    a control, after training from scratch (those of them the pairs hold), per k.

    Each τ gets a 95% percentile bootstrap interval over the pairs (resampled together with
    their accuracies) and a verdict read from its interval at the Bonferroni level
    1 − α/m, m = every τ of the table.
    """
    against = [s for s in READ_AGAINST if s in pairs[0]["accuracy"]]
    family = len(METHODS) * len(ks) * len(against)
    level = 1 - alpha / family
    rows = []
    for method in METHODS:
        for k in ks:
            chosen = [p for p in pairs if p["k"] == k]
            scores = np.array([p["scores"][method] for p in chosen])
            for strategy in against:
                accuracy = np.array([p["accuracy"][strategy] for p in chosen])
                interval = stats.bootstrap_interval(stats.kendall_tau, scores, accuracy,
                                                    n_resamples=n_resamples, seed=seed)
                wide = stats.bootstrap_interval(stats.kendall_tau, scores, accuracy,
                                                n_resamples=n_resamples, seed=seed, confidence=level)
                code = stats.verdict(wide.low, wide.high, len(chosen)).code
                rows.append({"score": method, "k": k, "accuracy_of": strategy, "pairs": len(chosen),
                             "tau": interval.estimate, "low": interval.low, "high": interval.high,
                             "bonferroni_level": level, "low_bonferroni": wide.low,
                             "high_bonferroni": wide.high, "verdict": code, "verdict_text": TAU_WORDS[code]})
    return rows


def peft_table(pairs, baseline="full", alpha=0.05):
    """Each strategy against ``baseline`` at equal steps: mean accuracy over the pairs, trainable
    parameters, and the paired difference with Holm's correction over the strategies compared."""
    strategies = [s for s in pairs[0]["accuracy"] if s != baseline]
    accuracy = {s: np.array([p["accuracy"][s] for p in pairs]) for s in [baseline, *strategies]}
    comparisons = stats.holm_verdicts([accuracy[s] - accuracy[baseline] for s in strategies], alpha)
    rows = [{"strategy": baseline, "mean_accuracy": float(accuracy[baseline].mean()),
             "trainable_parameters": _counts(pairs, baseline), "pairs": len(pairs)}]
    for strategy, comparison in zip(strategies, comparisons):
        interval = comparison.interval
        rows.append({"strategy": strategy, "mean_accuracy": float(accuracy[strategy].mean()),
                     "trainable_parameters": _counts(pairs, strategy), "pairs": len(pairs),
                     "vs_baseline": interval.estimate, "low": interval.low, "high": interval.high,
                     "p_holm": comparison.p_adjusted, "verdict": comparison.verdict.code,
                     "verdict_text": comparison.verdict.text})
    return rows


def _counts(pairs, strategy):
    """{body: trained parameters} (the count depends on the checkpoint's body, '128-64')."""
    return {p["checkpoint"].split("@")[0]: p["trainable"][strategy] for p in pairs}


def _pp(value, digits=1):
    return f"{100 * value:+.{digits}f}"


def markdown(payload):
    """transferability.md: settings, the τ table, the advisor's held-out record, PEFT vs full."""
    s, taus, adv, peft = payload["settings"], payload["tau"], payload["advisor"], payload["peft"]
    lines = [f"# Transferability scores and the advisor ({s['data']})", "",
             f"{len(payload['pairs'])} source -> target pairs: targets {', '.join(s['targets'])}; "
             f"checkpoints {', '.join(s['checkpoints'])} (hidden widths @ pretraining steps); "
             f"k = {', '.join(str(k) for k in s['ks'])} labels per class; "
             f"seeds {s['seeds']} (scores and accuracies averaged over them); every strategy "
             f"fine-tuned for {s['finetune_steps']} steps; accuracy on the held-out test set.", "",
             "## Do the scores rank the pairs like their accuracy after fine-tuning?", "",
             f"Kendall τ over the pairs at each k, 95% percentile bootstrap intervals; the verdict "
             f"reads the wider interval at the Bonferroni level {taus[0]['bonferroni_level']:.4f} "
             f"({len(taus)} intervals read together). Scratch is a control: it never uses the "
             f"checkpoint, so a τ against it measures how a score ranks the targets' difficulty.", ""]
    level = f"{100 * taus[0]['bonferroni_level']:.2f}%"
    header = ("score", "k", "accuracy after", "pairs", "τ [95% interval]", f"[{level} interval]",
              "verdict (from the wider interval)")
    rows = [(t["score"], t["k"], t["accuracy_of"], t["pairs"],
             f"{t['tau']:+.2f} [{t['low']:+.2f}, {t['high']:+.2f}]",
             f"[{t['low_bonferroni']:+.2f}, {t['high_bonferroni']:+.2f}]", t["verdict_text"]) for t in taus]
    lines += [markdown_table(header, rows), ""]
    held, rule = adv["held_out"], adv["rule_on_all_pairs"]
    lines += ["## The advisor, leave one target out", "",
              f"Each target's {held['pairs'] // max(1, len(s['targets']))} pairs are advised by a rule "
              f"fitted on the other targets' pairs; regret = best accuracy in hindsight (among "
              f"{', '.join(s['candidates'])}) minus the advised strategy's.", ""]
    names = list(held["mean_regret"])
    rows = []
    for name in names:
        hit = held["hit_rate"][name]
        gain = held["gain_over"].get(name)
        rows.append((name if name == "advisor" else f"always {name}",
                     f"{100 * held['mean_regret'][name]:.1f}",
                     f"{100 * hit['estimate']:.0f}% [{100 * hit['low']:.0f}, {100 * hit['high']:.0f}]",
                     "" if gain is None else f"{_pp(gain['estimate'])} [{_pp(gain['low'])}, "
                     f"{_pp(gain['high'])}] pp: {gain['verdict_text']}"))
    lines += [markdown_table(("choice", "mean regret (pp)", "hit rate [95% bootstrap]",
                              "advisor's gain over it (fixed regret − advisor regret)"), rows), "",
              "The gains are paired over the held-out pairs, read together with Holm's correction; "
              "the pairs share targets and checkpoints, so they are not independent draws.", "",
              "Rules fitted with one target held out: " + "; ".join(
                  f"{target}: {_rule_text(r)}" for target, r in adv["rules_per_held_out_target"].items()),
              "", f"The rule fitted on every pair (what `--fit` ships): {_rule_text(rule)}.", ""]
    lines += ["## Parameter-efficient strategies against full fine-tuning, equal steps", "",
              f"Mean accuracy over the {peft[0]['pairs']} pairs; differences paired by pair, "
              f"t-intervals, Holm over the {len(peft) - 1} comparisons.", ""]
    rows = [(r["strategy"], f"{100 * r['mean_accuracy']:.1f}",
             ", ".join(f"{n:,} ({body})" for body, n in r["trainable_parameters"].items()),
             "" if "vs_baseline" not in r else f"{_pp(r['vs_baseline'])} [{_pp(r['low'])}, "
             f"{_pp(r['high'])}] pp: {r['verdict_text']}") for r in peft]
    lines += [markdown_table(("strategy", "accuracy %", "trained parameters (body)", "vs full"), rows), ""]
    lines += ["## Every pair", ""]
    strategies = list(payload["pairs"][0]["accuracy"])
    rows = [(p["target"], p["checkpoint"], p["k"], *(f"{p['scores'][m]:+.3f}" for m in METHODS),
             *(f"{100 * p['accuracy'][x]:.1f}" for x in strategies)) for p in payload["pairs"]]
    lines += [markdown_table(("target", "checkpoint", "k", *METHODS, *strategies), rows), ""]
    return "\n".join(lines)


def _rule_text(rule):
    if rule["feature"] is None:
        return f"always {rule['above']}"
    return f"{rule['below']} if {rule['feature']} < {rule['threshold']:.4g}, else {rule['above']}"


def plot(pairs, taus, path):
    """Each score against the accuracy after LP-FT, one point per pair (colour: target, marker:
    k); the panel's title gives τ per k. Returns the path, or None without matplotlib."""
    fig, axes = new_figure(figsize=(10, 7.5), nrows=2, ncols=2)
    if fig is None:
        return None
    from minitransfer.report import save_figure

    targets = list(dict.fromkeys(p["target"] for p in pairs))
    ks = list(dict.fromkeys(p["k"] for p in pairs))
    colours = {t: f"C{i}" for i, t in enumerate(targets)}
    markers = dict(zip(ks, "os^Dv"))
    for ax, method in zip(axes.flat, METHODS):
        for target in targets:
            for k in ks:
                group = [p for p in pairs if p["target"] == target and p["k"] == k]
                ax.scatter([p["scores"][method] for p in group],
                           [100 * p["accuracy"]["lp_ft"] for p in group], c=colours[target],
                           marker=markers[k], s=30,
                           label=target if (ax is axes.flat[0] and k == ks[0]) else None)
        taus_here = [t for t in taus if t["score"] == method and t["accuracy_of"] == "lp_ft"]
        ax.set_title(f"{method}: " + ", ".join(f"τ(k={t['k']}) = {t['tau']:+.2f}" for t in taus_here),
                     fontsize=9)
        ax.set_xlabel(f"{method} before fine-tuning")
        ax.set_ylabel("accuracy after LP-FT (%)")
    for k in ks:
        axes.flat[0].scatter([], [], c="grey", marker=markers[k], label=f"k = {k}")
    axes.flat[0].legend(fontsize=7)
    save_figure(fig, path)
    return path
