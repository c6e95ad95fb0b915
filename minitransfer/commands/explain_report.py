"""What ``minitransfer explain`` measured, summarised over seeds and read with ``stats``.

Every number gets its seed spread (mean ± std over seeds); every sentence that reads a result
comes from a paired t-interval over seeds and ``stats.holm_verdicts`` (each table's comparisons
are corrected together by Holm's method, and the table says how many there were).
"""

import numpy as np

from minitransfer import stats
from minitransfer.commands.common import markdown_table


def spread(values):
    """{"values", "mean", "std"} of one number per seed (std over seeds, NaN with one seed)."""
    values = [float(v) for v in values]
    std = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
    return {"values": values, "mean": float(np.mean(values)), "std": std}


def _comparisons(differences, words):
    """Holm-corrected verdicts for a family of paired differences, in ``words``' terms.

    A comparison whose differences are 0 on every seed (a frozen body's drift or forgetting)
    is reported as identical and left out of the family: nothing is tested there.
    """
    tested = [i for i, d in enumerate(differences) if np.any(np.asarray(d) != 0)]
    found = dict(zip(tested, stats.holm_verdicts([differences[i] for i in tested]) if tested else []))
    rows = []
    for i, d in enumerate(differences):
        if i not in found:
            interval = stats.paired_interval(d)
            rows.append({"estimate": interval.estimate, "low": interval.low, "high": interval.high,
                         "n": interval.n, "p_holm": float("nan"), "verdict": "identical",
                         "reading": "identical on every seed (not tested)",
                         "verdict_text": "identical on every seed"})
            continue
        comparison = found[i]
        interval = comparison.interval
        rows.append({"estimate": interval.estimate, "low": interval.low, "high": interval.high,
                     "n": interval.n, "p_holm": comparison.p_adjusted,
                     "verdict": comparison.verdict.code,
                     "reading": words[comparison.verdict.code],
                     "verdict_text": comparison.verdict.text})
    return rows


FORGETTING_WORDS = {"helped": "source accuracy rose", "hurt": "forgot: source accuracy fell",
                    "no_difference": "no detectable forgetting", "undecided": "undecided (one seed)"}
DRIFT_WORDS = {"helped": "the layer nearest the head moved more",
               "hurt": "the layer nearest the input moved more",
               "no_difference": "no detectable difference between the layers",
               "undecided": "undecided (one seed)"}
CKA_WORDS = {"helped": "the layer nearest the input stayed more alike",
             "hurt": "the layer nearest the head stayed more alike",
             "no_difference": "no detectable difference between the layers",
             "undecided": "undecided (one seed)"}
LAYER_WORDS = {"helped": "copying helped", "hurt": "copying hurt",
               "no_difference": "no detectable difference", "undecided": "undecided (one seed)"}


def summarize(per_seed, layerwise, seeds):
    """Mean ± std per strategy and layer, and the verdicts of four families of comparisons."""
    strategies = {}
    for strategy, runs in per_seed.items():
        rows = [runs[s] for s in seeds]
        layers = list(rows[0]["cka"])
        strategies[strategy] = {
            "target_accuracy": spread([r["target_accuracy"] for r in rows]),
            "cka": {name: spread([r["cka"][name] for r in rows]) for name in layers},
            "drift": {name: spread([r["drift"][name] for r in rows]) for name in layers},
            "source_before": spread([r["source_before"] for r in rows]),
            "source_after": spread([r["source_after"] for r in rows]),
            "ig_median_gap": spread([r["ig_median_gap"] for r in rows]),
            "ig_share_above_5pct": spread([r["ig_share_above_5pct"] for r in rows]),
            "ig_occlusion_tau": spread([r["ig_occlusion_tau"] for r in rows]),
        }
    names = list(strategies)

    def family(key, words, difference):
        found = _comparisons([[difference(per_seed[n][s]) for s in seeds] for n in names], words)
        for name, comparison in zip(names, found):
            strategies[name][key] = comparison

    family("forgetting", FORGETTING_WORDS, lambda r: r["source_after"] - r["source_before"])
    family("drift_top_minus_bottom", DRIFT_WORDS,
           lambda r: list(r["drift"].values())[-1] - list(r["drift"].values())[0])
    family("cka_bottom_minus_top", CKA_WORDS,
           lambda r: list(r["cka"].values())[0] - list(r["cka"].values())[-1])
    return {"strategies": strategies, "layerwise": _layerwise_table(layerwise, seeds)}


def _layerwise_table(runs, seeds):
    """Accuracy per (j, frozen) over seeds, and its gain over j = 0 (scratch), Holm-corrected."""
    accuracy = {(r["layers_copied"], r["frozen"], r["seed"]): r["accuracy"] for r in runs}
    keys = sorted({(r["layers_copied"], r["frozen"]) for r in runs}, key=lambda k: (k[0], not k[1]))
    table = [{"layers_copied": j, "frozen": frozen,
              **spread([accuracy[(j, frozen, s)] for s in seeds])} for j, frozen in keys]
    compared = [row for row in table if row["layers_copied"] > 0]
    gains = [[accuracy[(row["layers_copied"], row["frozen"], s)] - accuracy[(0, True, s)]
              for s in seeds] for row in compared]
    for row, comparison in zip(compared, _comparisons(gains, LAYER_WORDS) if gains else []):
        row["gain_vs_scratch"] = comparison
    return table


def layer_means(strategies, key):
    """{strategy: {layer: (mean, std)}} of ``key`` ("cka" or "drift"), for the bar charts."""
    return {name: {layer: (s["mean"], 0.0 if np.isnan(s["std"]) else s["std"])
                   for layer, s in row[key].items()} for name, row in strategies.items()}


def _pm(s, scale=1.0, digits=3):
    if np.isnan(s["std"]):
        return f"{scale * s['mean']:.{digits}f} ± —"
    return f"{scale * s['mean']:.{digits}f} ± {scale * s['std']:.{digits}f}"


def _interval(c, scale=1.0, digits=3):
    """A comparison's estimate, its 95% interval and Holm's adjusted p (when it was tested)."""
    if np.isnan(c["low"]):
        text = f"{scale * c['estimate']:+.{digits}f} [no interval]"
    else:
        text = (f"{scale * c['estimate']:+.{digits}f} [{scale * c['low']:+.{digits}f}, "
                f"{scale * c['high']:+.{digits}f}]")
    return text if np.isnan(c["p_holm"]) else f"{text}, Holm p = {c['p_holm']:.2g}"


def _holm_note(rows):
    tested = sum(1 for c in rows if c["p_holm"] is not None and not np.isnan(c["p_holm"]))
    return (f"Verdicts: paired 95% t-intervals over seeds; the {tested} comparisons of this table "
            f"that vary are corrected together by Holm's method (`stats.holm_verdicts`); a "
            f"difference that is 0 on every seed is reported as identical, not tested.")


def _convergence(table, images):
    """How the completeness gap shrinks with the number of points (one model, first seed)."""
    lines = [f"How the gap shrinks with the number of points ({table['strategy']}, first seed, "
             f"{images} images; gap = |delta| / |f(x) − f(0)|):", ""]
    header = ["rule", "points", "median gap", "90th percentile", "largest", "share above 5%"]
    rows = [[method, row["steps"], f"{row['median']:.4f}", f"{row['p90']:.4f}", f"{row['max']:.4f}",
             f"{row['share_above_5pct']:.3f}"]
            for method in ("riemann_middle", "gausslegendre") for row in table[method]]
    return lines + [markdown_table(header, rows), ""]


def markdown(payload, figures):
    """explain.md: the settings, four tables and their verdicts, and the pictures."""
    settings, strategies = payload["settings"], payload["strategies"]
    layers = list(next(iter(strategies.values()))["cka"])
    lines = [f"# Explain: {settings['task']}", ""]
    lines += [f"- {key}: `{settings[key]}`" for key in ("strategies", "k", "seeds", "hidden",
                                                         "pretrain_steps", "finetune_steps", "ig_steps")]
    lines += ["", "Mean ± std over seeds. CKA and drift compare each strategy's fine-tuned body with "
              f"the pretrained one, on {settings['probe_images']} target test images (CKA) and "
              "per body layer (drift = ‖Δθ‖ / ‖θ‖, weight and bias together).", "",
              "## What fine-tuning changes, layer by layer", ""]
    header = ["strategy", "target acc %"] + [f"CKA {n}" for n in layers] + [f"drift {n}" for n in layers]
    rows = [[name, _pm(s["target_accuracy"], 100, 1)] + [_pm(s["cka"][n]) for n in layers]
            + [_pm(s["drift"][n]) for n in layers] for name, s in strategies.items()]
    lines += [markdown_table(header, rows), ""]
    header = ["strategy", f"drift {layers[-1]} − {layers[0]} [95% CI]", "reading",
              f"CKA {layers[0]} − {layers[-1]} [95% CI]", "reading"]
    rows = [[name, _interval(s["drift_top_minus_bottom"]), s["drift_top_minus_bottom"]["reading"],
             _interval(s["cka_bottom_minus_top"]), s["cka_bottom_minus_top"]["reading"]]
            for name, s in strategies.items()]
    family = [s["drift_top_minus_bottom"] for s in strategies.values()]
    lines += [markdown_table(header, rows), "", _holm_note(family) + " (Each column is its own family.)",
              "", "## Forgetting: the fine-tuned body under the source head", ""]
    header = ["strategy", "source acc before %", "after %", "after − before [95% CI], points", "reading"]
    rows = [[name, _pm(s["source_before"], 100, 1), _pm(s["source_after"], 100, 1),
             _interval(s["forgetting"], 100, 1), s["forgetting"]["reading"]]
            for name, s in strategies.items()]
    lines += [markdown_table(header, rows), "", _holm_note([s["forgetting"] for s in strategies.values()]),
              "", "## Attributions: integrated gradients' completeness and occlusion", ""]
    header = ["strategy", "median |delta| / |f(x) − f(0)|", "share of images above 5%",
              "Kendall τ (IG summed per 2×2 square vs occlusion)"]
    rows = [[name, _pm(s["ig_median_gap"], 1, 4), _pm(s["ig_share_above_5pct"], 1, 3),
             _pm(s["ig_occlusion_tau"], 1, 2)] for name, s in strategies.items()]
    lines += [markdown_table(header, rows), "",
              f"On {settings['explained_images']} target test images per seed; f is the predicted "
              f"class's logit, the baseline a black image, the midpoint rule with "
              f"{settings['ig_steps']} points.", "",
              *_convergence(payload["ig_convergence"], settings["explained_images"]),
              "## Layer-wise transferability (Yosinski et al., 2014)", "",
              "The first j pretrained body layers copied, the rest re-initialised; trained with the "
              "copied layers frozen or fine-tuned; j = 0 is scratch.", ""]
    header = ["j", "copied layers", "target acc %", "gain vs scratch [95% CI], points", "reading"]
    rows = []
    for row in payload["layerwise"]:
        gain = row.get("gain_vs_scratch")
        mode = "—" if row["layers_copied"] == 0 else ("frozen" if row["frozen"] else "fine-tuned")
        if row["layers_copied"] == 0 and not row["frozen"]:
            continue  # the same run as j = 0 frozen
        rows.append([row["layers_copied"], mode, _pm(row, 100, 1),
                     _interval(gain, 100, 1) if gain else "—", gain["reading"] if gain else "baseline"])
    gains = [r["gain_vs_scratch"] for r in payload["layerwise"] if "gain_vs_scratch" in r]
    lines += [markdown_table(header, rows), "", _holm_note(gains), ""]
    if figures:
        lines += ["## Pictures", ""] + [f"![{name}]({name})" for name in figures] + [""]
    return "\n".join(lines)
