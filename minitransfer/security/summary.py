"""The security experiment read with ``stats``: means with 95% t-intervals over seeds, paired
differences with Holm's correction over each table (a table is read as one family), and the
sentences of the conclusions, each computed from a verdict.
"""

import math

import numpy as np

from minitransfer import stats

# How a verdict on a difference (a − b, paired by seed) reads, whatever a and b measure.
DIRECTION = {stats.HELPED: "higher", stats.HURT: "lower",
             stats.NO_DIFFERENCE: "no detectable difference", stats.UNDECIDED: "undecided"}


def mean_interval(values):
    """{"mean", "ci95"} of per-seed values: the t-interval of their mean (NaN with one seed)."""
    interval = stats.paired_interval(values)
    return {"mean": interval.estimate, "ci95": [interval.low, interval.high], "n": interval.n}


def family(named_differences):
    """Paired comparisons read together: {name: estimate, interval, p, Holm-adjusted p, verdict}."""
    names = [name for name, _ in named_differences]
    comparisons = stats.holm_verdicts([d for _, d in named_differences])
    return {name: {"estimate": c.interval.estimate, "ci95": [c.interval.low, c.interval.high],
                   "p_value": c.p_value, "p_holm": c.p_adjusted, "verdict": c.verdict.code,
                   "family_size": sum(not math.isnan(x.p_value) for x in comparisons)}
            for name, c in zip(names, comparisons)}


def _per_seed(records, strategy, *path):
    values = []
    for record in records:
        value = record["strategies"][strategy]
        for key in path:
            value = value[key]
        values.append(value)
    return values


def summarize(records, settings):
    """Every table of attack.md as numbers: {table name: {...}}, and the conclusions."""
    strategies, eps = list(settings.strategies), list(settings.eps)
    pretrained = [s for s in strategies if s != "scratch"]
    i_max = eps.index(max(eps))
    summary = {"white_box": {}, "teacher": {}, "poisoning": {}, "pruning": {}, "adversarial": {}}

    for s in strategies:
        summary["white_box"][s] = {
            "clean": mean_interval(_per_seed(records, s, "clean")),
            "fgsm": [mean_interval([v[i] for v in _per_seed(records, s, "fgsm")]) for i in range(len(eps))],
            "pgd": [mean_interval([v[i] for v in _per_seed(records, s, "pgd")]) for i in range(len(eps))]}
        summary["teacher"][s] = {
            "targeted": [mean_interval([v[i] for v in _per_seed(records, s, "teacher_targeted")])
                         for i in range(len(eps))],
            "untargeted": [mean_interval([v[i] for v in _per_seed(records, s, "teacher_untargeted")])
                           for i in range(len(eps))]}
    if "scratch" in strategies:
        scratch = _per_seed(records, "scratch", "adversarial", "pgd_plain")  # PGD at ε_train
        versus = family([(s, np.subtract(_per_seed(records, s, "adversarial", "pgd_plain"), scratch))
                         for s in pretrained])
        for s in pretrained:
            summary["white_box"][s]["pgd_vs_scratch"] = versus[s]

        def added(s):  # targeted success that the attack adds: at the largest ε minus at ε = 0
            return np.array([v[i_max] - v[0] for v in _per_seed(records, s, "teacher_targeted")])

        versus = family([(s, added(s) - added("scratch")) for s in pretrained])
        for s in strategies:
            summary["teacher"][s]["added"] = mean_interval(added(s))
            if s in versus:
                summary["teacher"][s]["added_vs_scratch"] = versus[s]

    _two_sided_table(summary["poisoning"], records, pretrained,
                     lambda s: (_per_seed(records, s, "clean"), _per_seed(records, s, "poisoned", "clean")),
                     lambda s: (_per_seed(records, s, "flip"), _per_seed(records, s, "poisoned", "flip")))
    _two_sided_table(summary["pruning"], records, pretrained,
                     lambda s: (_per_seed(records, s, "poisoned", "clean"),
                                _per_seed(records, s, "pruned", "clean")),
                     lambda s: (_per_seed(records, s, "poisoned", "flip"),
                                _per_seed(records, s, "pruned", "flip")))
    _two_sided_table(summary["adversarial"], records, strategies,
                     lambda s: (_per_seed(records, s, "clean"),
                                _per_seed(records, s, "adversarial", "clean")),
                     lambda s: (_per_seed(records, s, "adversarial", "pgd_plain"),
                                _per_seed(records, s, "adversarial", "pgd")))
    summary["backdoor_success"] = {name: mean_interval([r["backdoor_success"][name] for r in records])
                                   for name in ("clean", "poisoned")}
    summary["pgd_not_above_fgsm"] = all(
        summary["white_box"][s]["pgd"][i]["mean"] <= summary["white_box"][s]["fgsm"][i]["mean"]
        for s in strategies for i in range(len(eps)))
    summary["conclusions"] = conclusions(summary, settings)
    return summary


def _two_sided_table(table, records, strategies, accuracy, flip):
    """Rows of (before, after) pairs for two measures, their differences one Holm family."""
    measures = {"accuracy": accuracy, "second": flip}
    pairs = {(s, m): measures[m](s) for s in strategies for m in measures}
    versus = family([(key, np.subtract(after, before)) for key, (before, after) in pairs.items()])
    for s in strategies:
        table[s] = {m: {"before": mean_interval(pairs[s, m][0]), "after": mean_interval(pairs[s, m][1]),
                        "difference": versus[s, m]} for m in measures}


def _who(rows, key, verdict):
    return [s for s, row in rows.items() if key(row) is not None and key(row)["verdict"] == verdict]


def _sentence(subject, rows, key, up, down):
    """'subject: up for a, b; down for c; no detectable difference for d.' from the verdicts."""
    parts = []
    for verdict, words in ((stats.HELPED, up), (stats.HURT, down),
                           (stats.NO_DIFFERENCE, "no detectable difference"),
                           (stats.UNDECIDED, "undecided (one seed)")):
        chosen = _who(rows, key, verdict)
        if chosen:
            parts.append(f"{words} for {', '.join(chosen)}")
    return f"{subject}: {'; '.join(parts)}." if parts else f"{subject}: nothing to compare."


def conclusions(summary, settings):
    """The sentences of attack.md's conclusions, each from the verdicts of one table."""
    eps_max = max(settings.eps)
    lines = []
    teacher = {s: row for s, row in summary["teacher"].items() if s != "scratch"}
    lines.append(_sentence(f"Attacks crafted on the teacher alone (ε = {eps_max:g}), success they add "
                           f"compared with the scratch control", teacher,
                           lambda r: r.get("added_vs_scratch"), "higher", "lower"))
    white = {s: row for s, row in summary["white_box"].items() if "pgd_vs_scratch" in row}
    if white:
        lines.append(_sentence(f"White-box PGD accuracy at ε = {settings.adversarial_eps:g} compared with "
                               f"scratch", white, lambda r: r["pgd_vs_scratch"], "higher", "lower"))
    for name, table in (("The poisoned model, compared with the clean one", "poisoning"),
                        ("Fine-pruning the poisoned model, compared with not pruning it", "pruning"),
                        (f"Adversarial fine-tuning (ε = {settings.adversarial_eps:g}), compared with "
                         f"plain fine-tuning", "adversarial")):
        rows = summary[table]
        second = f"PGD accuracy at ε = {settings.adversarial_eps:g}" if table == "adversarial" \
            else "trigger flip rate"
        lines.append(_sentence(f"{name}, clean accuracy", rows, lambda r: r["accuracy"]["difference"],
                               "higher", "lower"))
        lines.append(_sentence(f"{name}, {second}", rows, lambda r: r["second"]["difference"],
                               "higher", "lower"))
    return lines
