"""The advisor's rule: fitted by hand-checkable regret, judged leave one target out."""

import numpy as np
import pytest

from minitransfer import advisor

STRATEGIES = ["linear_probe", "lp_ft", "full"]


def _pair(target, logme, accuracy, k=10):
    return {"target": target, "checkpoint": "8@5", "k": k,
            "scores": {"logme": logme, "hscore": 1.0, "leep": -1.0, "nce": -1.0},
            "accuracy": dict(zip(STRATEGIES, accuracy))}


def _pairs():
    # low LogME: full wins; high LogME: the linear probe wins; lp_ft is never best
    return [_pair("a", -0.9, (0.40, 0.45, 0.60)), _pair("a", -0.2, (0.80, 0.70, 0.75)),
            _pair("b", -0.8, (0.30, 0.35, 0.50)), _pair("b", -0.1, (0.90, 0.80, 0.70)),
            _pair("c", -0.7, (0.50, 0.55, 0.65)), _pair("c", -0.3, (0.85, 0.80, 0.84))]


def test_regret_is_the_best_accuracy_in_hindsight_minus_each_strategys():
    regret = advisor.regret_matrix(_pairs()[:2], STRATEGIES)
    np.testing.assert_allclose(regret, [[0.20, 0.15, 0.0], [0.0, 0.10, 0.05]])


def test_fit_rule_finds_the_split_that_removes_all_regret():
    rule = advisor.fit_rule(_pairs(), STRATEGIES, min_side=2)
    assert (rule.feature, rule.below, rule.above) == ("logme", "full", "linear_probe")
    assert rule.threshold == pytest.approx((-0.7 + -0.3) / 2)
    assert all(rule.choose(advisor.features_of(p)) == max(p["accuracy"], key=p["accuracy"].get)
               for p in _pairs())
    assert "logme = -0.9 < -0.5, so full" in rule.explain({"logme": -0.9})


def test_fit_rule_keeps_one_strategy_when_no_split_is_better():
    pairs = [_pair(t, s, (0.5, 0.6, 0.4)) for t, s in [("a", -1), ("a", 0), ("b", -0.5), ("b", 0.5)]]
    rule = advisor.fit_rule(pairs, STRATEGIES, min_side=1)
    assert rule.feature is None and rule.above == "lp_ft"
    assert str(rule) == "always lp_ft"


def test_leave_one_target_out_advises_each_target_with_a_rule_fitted_without_it():
    pairs = _pairs()
    pairs[1] = _pair("a", -0.6, (0.80, 0.70, 0.75))  # target a: a high-LogME pair the others misplace
    rows, rules = advisor.leave_one_target_out(pairs, STRATEGIES, min_side=1)
    assert list(rules) == ["a", "b", "c"] and len(rows) == 6
    training = [p for p in pairs if p["target"] != "a"]
    assert rules["a"] == advisor.fit_rule(training, STRATEGIES, min_side=1)
    row = rows[1]  # logme −0.6 < rule a's threshold (−0.5): advised full, the probe was best
    assert row["advised"] == "full" and row["best"] == ["linear_probe"]
    assert row["regret"]["advisor"] == pytest.approx(0.05)
    assert row["regret"]["full"] == pytest.approx(0.05) and row["regret"]["lp_ft"] == pytest.approx(0.10)
    assert row["hit"] == {"advisor": False, "lp_ft": False, "full": False}
    summary = advisor.summarize_held_out(rows, n_resamples=200)
    mean = np.mean([r["regret"]["advisor"] for r in rows])
    assert summary["mean_regret"]["advisor"] == pytest.approx(mean)
    gain = summary["gain_over"]["lp_ft"]
    assert gain["estimate"] == pytest.approx(np.mean([r["regret"]["lp_ft"] - r["regret"]["advisor"]
                                                      for r in rows]))
    assert gain["verdict"] in ("helped", "no_difference")


def test_the_shipped_rule_loads_and_names_known_strategies_and_features():
    from minitransfer.transfer import STRATEGIES

    rule, document = advisor.load_rule()
    assert rule.feature in (None, *advisor.FEATURES)
    assert {rule.below, rule.above} <= set(STRATEGIES)
    assert set(document["candidates"]) <= set(STRATEGIES)
    assert "advisor" in advisor.held_out_sentence(document)


def test_the_held_out_sentence_says_when_a_fixed_choice_did_better():
    gain = {"estimate": -0.017, "low": -0.032, "high": -0.002, "verdict": "hurt",
            "verdict_text": "hurt (Holm-adjusted p = 0.03 <= 0.05, 2 comparisons)"}
    held = {"pairs": 56, "mean_regret": {"advisor": 0.031, "full": 0.013},
            "hit_rate": {"advisor": {"estimate": 0.61}, "full": {"estimate": 0.29}},
            "gain_over": {"full": gain}}
    sentence = advisor.held_out_sentence({"held_out": held})
    assert "advisor 3.1 pp mean regret, best 61% of the time, always full 1.3 pp" in sentence
    assert sentence.endswith("On those pairs always full did better than following this advice")
    held["gain_over"]["full"] = dict(gain, verdict="no_difference")
    assert "did better" not in advisor.held_out_sentence({"held_out": held})
