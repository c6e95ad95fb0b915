"""Intervals and the words that read them: the paired t-interval, the percentile bootstrap,
and ``verdict``, which turns an interval into "helped", "hurt", "no difference" or "undecided".

Paired by seed: with the same seed, a strategy and the baseline share the pretrained body, the
k examples and the batch order, so the difference dᵢ = accuracyᵢ − baselineᵢ removes what the
seeds have in common. Over n seeds, with mean d̄ and sample standard deviation s_d,

    d̄ ± t₁₋α/₂,ₙ₋₁ · s_d / √n          (α = 1 − confidence; t from ``t_quantile``)

covers the true mean difference with probability ``confidence`` when the dᵢ are roughly normal.
With one seed there is no s_d: the bounds are NaN and the verdict is "undecided".
"""

import math
from dataclasses import dataclass

import numpy as np

from minitransfer.stats.checks import check_confidence, finite_vector
from minitransfer.stats.t_distribution import t_quantile

HELPED, HURT, NO_DIFFERENCE, UNDECIDED = "helped", "hurt", "no_difference", "undecided"


@dataclass(frozen=True)
class Interval:
    """An estimate with a confidence interval [low, high], from ``n`` values (or rows)."""

    estimate: float  # paired_interval: the mean difference; bootstrap: the statistic on all rows
    low: float  # NaN when there is no interval (one value)
    high: float
    n: int
    confidence: float = 0.95

    def verdict(self):
        """The interval read in words: see ``verdict``."""
        return verdict(self.low, self.high, self.n)

    def __str__(self):
        if math.isnan(self.low):
            return f"{self.estimate:+.4g} [no interval: n = {self.n}]"
        return f"{self.estimate:+.4g} [{self.low:+.4g}, {self.high:+.4g}]"


def paired_interval(differences, confidence=0.95):
    """The t-interval for the mean of paired differences: d̄ ± t₁₋α/₂,ₙ₋₁ · s_d / √n.

    ``differences``: one number per seed (strategy − baseline, same seed). Returns an
    ``Interval``; with a single difference its bounds are NaN (nothing measures the spread).
    By hand: differences 1, 2, 3 give 2 ± 4.3027 · 1 / √3 = [−0.484, 4.484].
    """
    confidence = check_confidence(confidence, "paired_interval")
    d = finite_vector(differences, "paired_interval", "differences")
    mean = float(d.mean())
    if len(d) < 2:
        return Interval(mean, math.nan, math.nan, len(d), confidence)
    half = t_quantile(0.5 + confidence / 2, len(d) - 1) * float(d.std(ddof=1)) / math.sqrt(len(d))
    return Interval(mean, mean - half, mean + half, len(d), confidence)


def bootstrap_interval(statistic, *arrays, n_resamples=2000, seed=0, confidence=0.95):
    """A percentile bootstrap interval for ``statistic(*arrays)``, resampling rows in pairs.

    Each resample draws n row indices with replacement (from ``numpy.random.default_rng(seed)``,
    one ``integers(0, n, size=n)`` call per resample) and takes the *same* rows of every array,
    so paired values stay paired (a score and the accuracy of the same source → target pair).
    The bounds are the (1 − c)/2 and (1 + c)/2 percentiles (NumPy's linear interpolation) of
    the resampled statistics; resamples whose statistic is not finite (a Kendall τ of a resample
    whose values are all tied) are left out. Returns an ``Interval`` whose estimate is the
    statistic on all rows. Same seed, same interval.
    """
    confidence = check_confidence(confidence, "bootstrap_interval")
    if not callable(statistic):
        raise TypeError(f"bootstrap_interval: statistic: expected a function of the arrays, got "
                        f"{type(statistic).__name__}")
    if not arrays:
        raise ValueError("bootstrap_interval: arrays: expected at least one array to resample")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ValueError(f"bootstrap_interval: n_resamples: expected a positive integer, got {n_resamples!r}")
    arrays = [np.asarray(a) for a in arrays]
    lengths = [len(a) if a.ndim else 0 for a in arrays]
    if len(set(lengths)) != 1 or lengths[0] < 2:
        raise ValueError(f"bootstrap_interval: arrays: expected arrays with the same number of rows, "
                         f"at least 2, got {lengths} rows")
    n = lengths[0]
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    values = np.empty(n_resamples)
    for r in range(n_resamples):
        rows = rng.integers(0, n, size=n)
        values[r] = statistic(*(a[rows] for a in arrays))
    values = values[np.isfinite(values)]
    estimate = float(statistic(*arrays))
    if len(values) == 0:
        return Interval(estimate, math.nan, math.nan, n, confidence)
    low, high = np.percentile(values, [50 * (1 - confidence), 50 * (1 + confidence)])
    return Interval(estimate, float(low), float(high), n, confidence)


@dataclass(frozen=True)
class Verdict:
    """An interval read in words: ``code`` for programs, ``text`` for people."""

    code: str  # one of "helped", "hurt", "no_difference", "undecided"
    text: str  # e.g. "helped (interval above 0)"

    def __str__(self):
        return self.text


def verdict(low, high, n=None):
    """Read an interval of a gain (strategy − baseline, higher is better) in words.

    | interval            | code          | text                                        |
    |---------------------|---------------|---------------------------------------------|
    | low > 0             | helped        | helped (interval above 0)                   |
    | high < 0            | hurt          | hurt (interval below 0)                     |
    | contains 0          | no_difference | no detectable difference (interval holds 0) |
    | NaN (one seed)      | undecided     | undecided (one seed)                        |

    ``n`` (how many paired values) only explains an undecided verdict. A lone interval is read
    at its own level; several read together need ``holm_verdicts``.
    """
    low, high = float(low), float(high)
    if math.isnan(low) or math.isnan(high):
        reason = {0: "no paired values", 1: "one seed"}.get(n, "no interval")
        return Verdict(UNDECIDED, f"undecided ({reason})")
    if low > high:
        raise ValueError(f"verdict: expected low <= high, got low={low}, high={high}")
    if low > 0:
        return Verdict(HELPED, "helped (interval above 0)")
    if high < 0:
        return Verdict(HURT, "hurt (interval below 0)")
    return Verdict(NO_DIFFERENCE, "no detectable difference (interval holds 0)")
