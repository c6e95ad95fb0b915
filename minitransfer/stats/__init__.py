"""Statistics that every module above reads its results with (imports only NumPy).

| question                                    | function                                    |
|---------------------------------------------|---------------------------------------------|
| how sure is a mean gain over seeds?         | ``paired_interval(differences)`` → Interval |
| what does that interval say, in words?      | ``verdict(low, high, n)`` → Verdict          |
| several gains read together?                | ``holm_verdicts(list_of_differences)``      |
| the p-values behind it                      | ``paired_t_test``, ``holm``                 |
| t quantiles for any degrees of freedom      | ``t_quantile(q, df)``, ``t_cdf(t, df)``     |
| do two scores rank items alike?             | ``kendall_tau(a, b)``                       |
| how sure is any statistic of paired rows?   | ``bootstrap_interval(statistic, *arrays)``  |
| the main directions of a feature cloud      | ``pca(x, n_components)``                    |
"""

from minitransfer.stats.intervals import (
    HELPED,
    HURT,
    NO_DIFFERENCE,
    UNDECIDED,
    Interval,
    Verdict,
    bootstrap_interval,
    paired_interval,
    verdict,
)
from minitransfer.stats.kendall import kendall_tau
from minitransfer.stats.multiple import Comparison, holm, holm_verdicts, paired_t_test
from minitransfer.stats.pca import PCA, pca
from minitransfer.stats.t_distribution import betainc, t_cdf, t_quantile, t_two_sided_tail

__all__ = [
    "t_quantile", "t_cdf", "t_two_sided_tail", "betainc", "Interval", "paired_interval",
    "bootstrap_interval", "Verdict", "verdict", "HELPED", "HURT", "NO_DIFFERENCE", "UNDECIDED",
    "paired_t_test", "holm", "holm_verdicts", "Comparison", "kendall_tau", "PCA", "pca",
]
