"""Statistics (minitransfer.stats): every function against values computed by hand or printed
in standard tables, and the errors for bad input."""

import ast
import math
import pathlib
import sys

import numpy as np
import pytest

from minitransfer import stats

# t₀.₉₇₅,ν from published tables (e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.2; 4 decimals).
T975 = {1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 10: 2.2281, 30: 2.0423, 32: 2.0369,
        100: 1.9840, 1000: 1.9623}


@pytest.mark.parametrize("df, expected", sorted(T975.items()))
def test_t_quantile_matches_the_published_table(df, expected):
    assert stats.t_quantile(0.975, df) == pytest.approx(expected, abs=6e-5)


def test_t_quantile_other_levels_symmetry_and_the_normal_limit():
    assert stats.t_quantile(0.995, 10) == pytest.approx(3.1693, abs=6e-5)  # two-sided 99%
    assert stats.t_quantile(0.95, 5) == pytest.approx(2.0150, abs=6e-5)  # one-sided 95%
    assert stats.t_quantile(0.025, 3) == -stats.t_quantile(0.975, 3)
    assert stats.t_quantile(0.5, 7) == 0.0
    assert stats.t_quantile(0.975, 10**6) == pytest.approx(1.95996, abs=1e-5)
    assert stats.t_quantile(0.975, math.inf) == pytest.approx(1.959964, abs=1e-6)
    assert stats.t_quantile(0.975, 32) > 1.96 * 1.035  # the old code's 1.96 was 4% too narrow here
    # ν = 1 is the Cauchy distribution: t_q = tan(π (q − 1/2)), exactly
    assert stats.t_quantile(0.975, 1) == pytest.approx(math.tan(0.475 * math.pi), rel=1e-12)


@pytest.mark.parametrize("t", [-3.0, -0.4, 0.0, 0.7, 2.5, 40.0])
def test_t_cdf_has_closed_forms_for_one_and_two_degrees_of_freedom(t):
    assert stats.t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-13)
    assert stats.t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-13)


def test_incomplete_beta_by_hand():
    # I_x(1, 1) = x; I_x(2, 1) = x²; I_x(1, 2) = 1 − (1 − x)²; I_x(a, b) = 1 − I_{1−x}(b, a)
    assert stats.betainc(1, 1, 0.3) == pytest.approx(0.3, abs=1e-14)
    assert stats.betainc(2, 1, 0.3) == pytest.approx(0.09, abs=1e-14)
    assert stats.betainc(1, 2, 0.3) == pytest.approx(1 - 0.49, abs=1e-14)
    assert stats.betainc(2.5, 4.0, 0.9) == pytest.approx(1 - stats.betainc(4.0, 2.5, 0.1), abs=1e-14)
    assert stats.betainc(3, 3, 0.0) == 0.0 and stats.betainc(3, 3, 1.0) == 1.0


def test_paired_interval_by_hand():
    # 1, 2, 3: mean 2, s = 1, t₀.₉₇₅,₂ = 4.3027 → 2 ± 4.3027 / √3
    interval = stats.paired_interval([1.0, 2.0, 3.0])
    assert interval.estimate == 2.0 and interval.n == 3
    assert interval.low == pytest.approx(2 - 4.302653 / math.sqrt(3), abs=1e-6)
    assert interval.high == pytest.approx(2 + 4.302653 / math.sqrt(3), abs=1e-6)
    # 4 values: t₀.₉₇₅,₃ = 3.1824, not the normal's 1.96. d = 1, 2, 3, 4: mean 2.5, s = 1.29099
    four = stats.paired_interval([1.0, 2.0, 3.0, 4.0])
    assert four.high - four.estimate == pytest.approx(3.182446 * 1.290994 / 2, abs=1e-5)
    # a 90% interval uses t₀.₉₅,₂ = 2.9200
    ninety = stats.paired_interval([1.0, 2.0, 3.0], confidence=0.90)
    assert ninety.high == pytest.approx(2 + 2.919986 / math.sqrt(3), abs=1e-5)


def test_paired_interval_with_one_value_has_no_bounds_and_is_undecided():
    interval = stats.paired_interval([-0.6])
    assert interval.estimate == -0.6 and math.isnan(interval.low) and math.isnan(interval.high)
    assert interval.verdict().code == "undecided"
    assert interval.verdict().text == "undecided (one seed)"
    assert "no interval" in str(interval)


@pytest.mark.parametrize("low, high, n, code, text", [
    (0.01, 0.2, 3, "helped", "helped (interval above 0)"),
    (-0.3, -0.01, 3, "hurt", "hurt (interval below 0)"),
    (-0.1, 0.2, 3, "no_difference", "no detectable difference (interval holds 0)"),
    (0.0, 0.2, 3, "no_difference", "no detectable difference (interval holds 0)"),
    (math.nan, math.nan, 1, "undecided", "undecided (one seed)"),
    (math.nan, math.nan, 0, "undecided", "undecided (no paired values)"),
])
def test_verdict_reads_an_interval(low, high, n, code, text):
    words = stats.verdict(low, high, n)
    assert (words.code, words.text, str(words)) == (code, text, text)


def test_paired_t_test_by_hand():
    # 1, 2, 3: t = 2 / (1/√3) = 2√3 with ν = 2; two-sided p = 1 − 2√3/√(2 + 12) (closed form for ν = 2)
    t = 2 * math.sqrt(3)
    assert stats.paired_t_test([1.0, 2.0, 3.0]) == pytest.approx(1 - t / math.sqrt(2 + t * t), abs=1e-12)
    assert math.isnan(stats.paired_t_test([1.0]))
    assert stats.paired_t_test([0.5, 0.5]) == 0.0 and stats.paired_t_test([0.0, 0.0]) == 1.0


def test_paired_t_test_agrees_with_the_interval():
    """p ≤ 0.05 exactly when the 95% interval excludes 0 (the same t quantile)."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        d = rng.normal(0.3, 1.0, size=int(rng.integers(2, 9)))
        interval = stats.paired_interval(d)
        assert (stats.paired_t_test(d) <= 0.05) == (interval.low > 0 or interval.high < 0)


def test_holm_by_hand():
    np.testing.assert_allclose(stats.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(stats.holm([0.5]), [0.5])
    np.testing.assert_allclose(stats.holm([0.2, 0.9, 0.01]), [0.4, 0.9, 0.03])


def test_holm_verdicts_correct_a_family_and_leave_single_seeds_undecided():
    lone = [0.03, 0.05, 0.04]  # on its own: helped (t = 4√3, p = 0.020)
    strong = [0.30, 0.31, 0.32]
    noise = [-0.2, 0.1, 0.15]
    alone = stats.holm_verdicts([lone])[0]
    assert alone.verdict.code == "helped" and alone.p_adjusted == pytest.approx(alone.p_value)
    family = stats.holm_verdicts([lone, strong, noise, [0.3]] + [[0.1, -0.1, 0.05]] * 6)
    assert family[1].verdict.code == "helped"
    assert family[0].p_adjusted == pytest.approx(min(1.0, 8 * family[0].p_value))  # 2nd smallest of 9
    assert family[0].verdict.code == "no_difference" and "9 comparisons" in family[0].verdict.text
    assert family[0].interval.low > 0  # the unadjusted interval excludes 0: Holm says it may be chance
    assert family[2].verdict.code == "no_difference"
    assert family[3].verdict.code == "undecided" and math.isnan(family[3].p_adjusted)
    hurt = stats.holm_verdicts([[-0.3, -0.31, -0.32]])[0]
    assert hurt.verdict.code == "hurt" and hurt.verdict.text.startswith("hurt (Holm-adjusted p")


def test_kendall_tau_by_hand():
    assert stats.kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(2 / 3)
    assert stats.kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties: a = 1,2,2,3, b = 1,2,3,3: 4 concordant, 0 discordant, one pair tied in each of a and b
    # τ_b = 4 / √((6 − 1)(6 − 1)) = 0.8
    assert stats.kendall_tau([1, 2, 2, 3], [1, 2, 3, 3]) == pytest.approx(0.8)
    assert math.isnan(stats.kendall_tau([1, 1, 1], [1, 2, 3]))


def test_kendall_tau_is_invariant_to_monotone_transforms():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=30), rng.normal(size=30)
    assert stats.kendall_tau(a, b) == pytest.approx(stats.kendall_tau(np.exp(a), b**3))


def test_bootstrap_interval_by_hand():
    # two rows 0 and 1: a resample's mean is 0 (p = 1/4), 0.5 (1/2) or 1 (1/4), so the 2.5% and
    # 97.5% percentiles of many resamples are 0 and 1
    interval = stats.bootstrap_interval(np.mean, np.array([0.0, 1.0]), n_resamples=400, seed=0)
    assert (interval.estimate, interval.low, interval.high, interval.n) == (0.5, 0.0, 1.0, 2)


def test_bootstrap_interval_is_seeded_and_resamples_rows_in_pairs():
    rng = np.random.default_rng(3)
    a = rng.normal(size=12)

    def mean_difference(x, y):
        return float(np.mean(x - y))

    # the same rows of both arrays: a − a is 0 in every resample (unpaired resampling would not be)
    same = stats.bootstrap_interval(mean_difference, a, a.copy(), n_resamples=200, seed=1)
    assert (same.low, same.high) == (0.0, 0.0)
    # the documented recipe, written out: one integers(0, n, size=n) draw per resample
    draws = np.random.default_rng(5)
    means = [a[draws.integers(0, 12, size=12)].mean() for _ in range(300)]
    expected = np.percentile(means, [2.5, 97.5])
    got = stats.bootstrap_interval(np.mean, a, n_resamples=300, seed=5)
    assert (got.low, got.high) == pytest.approx(tuple(expected), abs=1e-15)
    assert stats.bootstrap_interval(np.mean, a, n_resamples=300, seed=5) == got


def test_pca_by_hand():
    # points on the line y = 2x: one direction (1, 2)/√5 explains everything
    x = np.array([[1.0, 2.0], [-1.0, -2.0], [2.0, 4.0], [-2.0, -4.0]])
    result = stats.pca(x, 1)
    np.testing.assert_allclose(result.components, [[1 / math.sqrt(5), 2 / math.sqrt(5)]])
    np.testing.assert_allclose(result.coordinates[:, 0], np.sqrt(5) * np.array([1, -1, 2, -2]))
    np.testing.assert_allclose(result.explained_variance_ratio, [1.0])
    # spread 2 along x and 1 along y (around the mean (1, 1)): variance shares 8/10 and 2/10
    y = np.array([[3.0, 1.0], [-1.0, 1.0], [1.0, 2.0], [1.0, 0.0]])
    both = stats.pca(y, 2)
    np.testing.assert_allclose(both.explained_variance_ratio, [0.8, 0.2])
    np.testing.assert_allclose(both.components, [[1, 0], [0, 1]], atol=1e-15)
    np.testing.assert_allclose(both.coordinates, [[2, 0], [-2, 0], [0, 1], [0, -1]], atol=1e-15)
    np.testing.assert_allclose(both.mean, [1.0, 1.0])


def test_pca_sign_convention_is_deterministic():
    x = np.random.default_rng(2).normal(size=(20, 5))
    for data in (x, -x):  # the same axes either way; only the coordinates' signs follow the data
        result = stats.pca(data, 3)
        largest = np.abs(result.components).argmax(axis=1)
        assert np.all(result.components[np.arange(3), largest] > 0)
    np.testing.assert_allclose(stats.pca(-x, 3).components, stats.pca(x, 3).components)


def test_stats_imports_only_numpy_and_the_standard_library():
    """stats sits low (DESIGN §2): every module above may import it, so it imports nothing of theirs."""
    folder = pathlib.Path(stats.__file__).parent
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top == "numpy" or \
                    name.startswith("minitransfer.stats"), f"{path.name} imports {name}"
