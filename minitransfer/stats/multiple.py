"""Several comparisons read together: the paired t-test and Holm's step-down correction.

Read ten 95% intervals of strategies that change nothing, and at least one of them excludes 0
by chance four times in ten (1 − 0.95¹⁰ = 0.40). Holm's method (Holm, 1979) keeps the chance of *any*
false "helped" or "hurt" in a family of m comparisons at most α, and is never less powerful
than Bonferroni's α/m for each:

    sort the p-values p₍₁₎ ≤ ... ≤ p₍ₘ₎;  adjusted p₍ᵢ₎ = max_{j ≤ i} min(1, (m − j + 1) p₍ⱼ₎);
    reject (call it helped or hurt) where the adjusted p ≤ α.

The choice made here: Holm works on p-values, and the p-value of each comparison is the
paired t-test's, the test that matches the paired t-interval (p ≤ α exactly when the
1 − α interval excludes 0). So a Holm verdict never contradicts the printed interval; it only
refuses some of the intervals that exclude 0. Comparisons with a single seed have no test:
they are left out of the family (m counts the tests made) and stay "undecided".
"""

import math
from dataclasses import dataclass

import numpy as np

from minitransfer.stats.checks import finite_vector
from minitransfer.stats.intervals import (
    HELPED,
    HURT,
    NO_DIFFERENCE,
    UNDECIDED,
    Interval,
    Verdict,
    paired_interval,
)
from minitransfer.stats.t_distribution import t_two_sided_tail


def paired_t_test(differences):
    """Two-sided p-value of H₀: mean difference = 0, from t = d̄ / (s_d / √n), ν = n − 1.

    NaN with one difference (no test). All differences equal: p = 0 if they are not 0, else 1.
    """
    d = finite_vector(differences, "paired_t_test", "differences")
    if len(d) < 2:
        return math.nan
    mean, spread = float(d.mean()), float(d.std(ddof=1))
    if spread == 0:
        return 1.0 if mean == 0 else 0.0
    return t_two_sided_tail(mean / (spread / math.sqrt(len(d))), len(d) - 1)


def holm(p_values):
    """Holm's adjusted p-values, in the order given: compare each with α to decide.

    By hand, p = (0.01, 0.04, 0.03, 0.005): sorted 0.005, 0.01, 0.03, 0.04 are multiplied by
    4, 3, 2, 1 → 0.02, 0.03, 0.06, 0.04, then made non-decreasing → 0.02, 0.03, 0.06, 0.06;
    in the given order: (0.03, 0.06, 0.06, 0.02).
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1 or not np.all((p >= 0) & (p <= 1)):  # NaN fails this test too
        raise ValueError(f"holm: p_values: expected a 1-D sequence of probabilities in [0, 1], got "
                         f"{p.tolist() if p.ndim == 1 else p.shape}")
    m = len(p)
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


@dataclass(frozen=True)
class Comparison:
    """One comparison of a family: its interval, its p-value, Holm's adjusted p and verdict."""

    interval: Interval  # the unadjusted interval at level 1 − α
    p_value: float  # paired t-test; NaN with one seed
    p_adjusted: float  # Holm; NaN with one seed
    verdict: Verdict


def holm_verdicts(differences, alpha=0.05):
    """Verdicts for a family of paired comparisons, corrected together by Holm's method.

    ``differences``: one sequence of paired differences per comparison (for example, per
    strategy and k, accuracy − scratch's accuracy for each seed). Returns one ``Comparison``
    per sequence, in order: helped/hurt where Holm's adjusted p ≤ ``alpha``, else
    no_difference; undecided with a single seed (left out of the family).
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValueError(f"holm_verdicts: alpha: expected a number strictly between 0 and 1, got {alpha!r}")
    intervals = [paired_interval(d, confidence=1 - alpha) for d in differences]
    p_values = [paired_t_test(d) for d in differences]
    tested = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    adjusted = [math.nan] * len(p_values)
    for i, p in zip(tested, holm([p_values[i] for i in tested])):
        adjusted[i] = float(p)
    family = len(tested)
    comparisons = []
    for interval, p, p_adj in zip(intervals, p_values, adjusted):
        if math.isnan(p):
            words = Verdict(UNDECIDED, "undecided (one seed)" if interval.n == 1 else "undecided")
        elif p_adj <= alpha:
            code = HELPED if interval.estimate > 0 else HURT
            words = Verdict(code, f"{code} (Holm-adjusted p = {p_adj:.3g} <= {alpha:g}, "
                                  f"{family} comparisons)")
        else:
            words = Verdict(NO_DIFFERENCE, f"no detectable difference (Holm-adjusted p = {p_adj:.3g}, "
                                           f"{family} comparisons)")
        comparisons.append(Comparison(interval, p, p_adj, words))
    return comparisons
