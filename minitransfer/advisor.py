"""Which fine-tuning strategy for this target? A small rule read from transferability scores,
fitted on measured source → target pairs, and judged on pairs it was not fitted on.

A *pair* is one pretrained checkpoint and one target task at k labelled examples per class, with
its scores before fine-tuning (``transferability``) and the accuracy each strategy reached
after. A strategy's *regret* on a pair is the best accuracy any candidate reached there (the
best choice in hindsight) minus its own: 0 when it was the best.

The rule is one split, the simplest rule that can say "it depends":

    if feature < threshold: strategy_below     else: strategy_above

where the feature is one score or k itself. ``fit_rule`` tries every feature and every
threshold between two neighbouring values of the training pairs (each side keeping at least
``min_side`` pairs), puts on each side the strategy with the least mean regret there, and keeps
the split with the least mean regret overall; a single strategy for every pair is the rule to
beat (kept unless a split is strictly better). ``leave_one_target_out`` judges the fitting
procedure honestly: each target's pairs are advised by a rule fitted on the *other* targets'
pairs only, and the advice's regret is compared with the fixed choices "always LP-FT" and
"always full" on the same pairs. ``minitransfer transferability --fit`` ships the rule fitted
on every pair as ``advisor_rule.json``; ``minitransfer advise`` applies it.
"""

import json
import math
import os
from dataclasses import dataclass

import numpy as np

from minitransfer import stats
from minitransfer.transferability import METHODS

FEATURES = (*METHODS, "k")
FIXED_CHOICES = ("lp_ft", "full")
RULE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "advisor_rule.json")


@dataclass(frozen=True)
class Rule:
    """``below`` where ``feature`` < ``threshold``, else ``above``; feature None: always ``above``."""

    feature: str | None
    threshold: float | None
    below: str
    above: str

    def choose(self, values):
        """The advised strategy for a pair whose scores (and "k") are ``values``."""
        if self.feature is None:
            return self.above
        return self.below if values[self.feature] < self.threshold else self.above

    def explain(self, values):
        """Why: the feature's value against the threshold, in one sentence."""
        if self.feature is None:
            return f"the rule advises {self.above} for every target (no split did better on its pairs)"
        value = values[self.feature]
        side = "<" if value < self.threshold else ">="
        return (f"{self.feature} = {value:.4g} {side} {self.threshold:.4g}, so {self.choose(values)} "
                f"(the rule: {self.below} below {self.threshold:.4g}, {self.above} at or above)")

    def __str__(self):
        if self.feature is None:
            return f"always {self.above}"
        return f"{self.below} if {self.feature} < {self.threshold:.4g}, else {self.above}"

    def to_dict(self):
        return {"feature": self.feature, "threshold": self.threshold, "below": self.below,
                "above": self.above}


def features_of(pair):
    """The values a rule may split on: the pair's scores and its k."""
    return {**pair["scores"], "k": pair["k"]}


def regret_matrix(pairs, strategies):
    """(pairs × strategies) best accuracy in hindsight minus each strategy's accuracy."""
    accuracy = np.array([[pair["accuracy"][s] for s in strategies] for pair in pairs], dtype=np.float64)
    return accuracy.max(axis=1, keepdims=True) - accuracy


def fit_rule(pairs, strategies, min_side=None):
    """The one-split rule with the least mean regret on ``pairs`` (see the module docstring).

    Ties go to the single strategy, then to the earlier feature in ``FEATURES``, the earlier
    strategy in ``strategies``, the lower threshold: the same pairs always give the same rule.
    """
    strategies = list(strategies)
    regret = regret_matrix(pairs, strategies)
    n = len(pairs)
    min_side = max(2, n // 10) if min_side is None else min_side
    totals = regret.sum(axis=0)
    best_total = totals.min()
    rule = Rule(None, None, strategies[int(np.argmin(totals))], strategies[int(np.argmin(totals))])
    for feature in FEATURES:
        values = np.array([features_of(p)[feature] for p in pairs], dtype=np.float64)
        order = np.argsort(values, kind="stable")
        below_sums = np.cumsum(regret[order], axis=0)  # row i: regret of the i + 1 lowest pairs
        for i in range(min_side - 1, n - min_side):
            low, high = values[order[i]], values[order[i + 1]]
            if low == high:
                continue  # no threshold falls between equal values
            below, above = below_sums[i], below_sums[-1] - below_sums[i]
            total = below.min() + above.min()
            if total < best_total - 1e-12:
                best_total = total
                rule = Rule(feature, float((low + high) / 2), strategies[int(np.argmin(below))],
                            strategies[int(np.argmin(above))])
    return rule


def leave_one_target_out(pairs, strategies, fixed=FIXED_CHOICES, min_side=None):
    """Advise each target's pairs with a rule fitted on the other targets' pairs only.

    Returns (rows, rules): one row per pair with the advised strategy, the best in hindsight,
    and the regret and hit (regret 0) of the advice and of each fixed choice; and the rule
    fitted for each held-out target.
    """
    strategies = list(strategies)
    targets = list(dict.fromkeys(p["target"] for p in pairs))
    rows, rules = [], {}
    for target in targets:
        training = [p for p in pairs if p["target"] != target]
        rule = rules[target] = fit_rule(training, strategies, min_side)
        for pair in (p for p in pairs if p["target"] == target):
            best = max(pair["accuracy"][s] for s in strategies)
            advised = rule.choose(features_of(pair))
            row = {"target": target, "checkpoint": pair["checkpoint"], "k": pair["k"],
                   "advised": advised,
                   "best": [s for s in strategies if pair["accuracy"][s] == best],
                   "regret": {"advisor": best - pair["accuracy"][advised]}}
            for choice in fixed:
                row["regret"][choice] = best - pair["accuracy"][choice]
            row["hit"] = {name: value == 0 for name, value in row["regret"].items()}
            rows.append(row)
    return rows, rules


def summarize_held_out(rows, fixed=FIXED_CHOICES, seed=0, n_resamples=2000):
    """Mean regret and hit rate of the advice and of each fixed choice over the held-out rows,
    and the advice's gain over each fixed choice (fixed regret − advisor regret, paired by row),
    with t-intervals read together by Holm's method (``stats.holm_verdicts``).

    Hit rates get percentile bootstrap intervals over the rows. The rows are not independent
    draws (several per target, checkpoint and k): read the intervals as a guide, not a guarantee.
    """
    names = ["advisor", *fixed]
    regret = {name: np.array([row["regret"][name] for row in rows]) for name in names}
    summary = {"pairs": len(rows), "mean_regret": {}, "hit_rate": {}, "gain_over": {}}
    for name in names:
        summary["mean_regret"][name] = float(regret[name].mean())
        hits = np.array([row["hit"][name] for row in rows], dtype=np.float64)
        hit = stats.bootstrap_interval(np.mean, hits, n_resamples=n_resamples, seed=seed)
        summary["hit_rate"][name] = {"estimate": hit.estimate, "low": hit.low, "high": hit.high}
    comparisons = stats.holm_verdicts([regret[choice] - regret["advisor"] for choice in fixed])
    for choice, comparison in zip(fixed, comparisons):
        interval = comparison.interval
        summary["gain_over"][choice] = {
            "estimate": interval.estimate, "low": interval.low, "high": interval.high,
            "p_holm": comparison.p_adjusted, "verdict": comparison.verdict.code,
            "verdict_text": comparison.verdict.text}
    return summary


def load_rule(path=None):
    """(Rule, the whole JSON document) from the file ``transferability --fit`` writes (default
    ``RULE_PATH``, the one shipped in the package)."""
    with open(path or RULE_PATH, encoding="utf-8") as f:
        document = json.load(f)
    fields = document["rule"]
    threshold = fields["threshold"]
    return Rule(fields["feature"], None if threshold is None else float(threshold), fields["below"],
                fields["above"]), document


def held_out_sentence(document):
    """One sentence from the shipped rule's held-out record: regret and hit rate vs fixed choices."""
    held = document.get("held_out")
    if not held:
        return "the rule's file holds no held-out evaluation"
    regret, hits = held["mean_regret"], held["hit_rate"]
    parts = [f"{name if name == 'advisor' else 'always ' + name} {100 * regret[name]:.1f} pp mean "
             f"regret, best {100 * hits[name]['estimate']:.0f}% of the time" for name in regret]
    gains = "; ".join(f"the advice instead of always {name}: {gain['verdict_text']}"
                      for name, gain in held["gain_over"].items()
                      if not (isinstance(gain["estimate"], float) and math.isnan(gain["estimate"])))
    sentence = (f"measured leave-one-target-out on {held['pairs']} pairs: " + ", ".join(parts)
                + (f" ({gains})" if gains else ""))
    better = [name for name, gain in held["gain_over"].items() if gain["verdict"] == stats.HURT]
    if better:
        sentence += (f". On those pairs always {' and always '.join(better)} did better than "
                     f"following this advice")
    return sentence
