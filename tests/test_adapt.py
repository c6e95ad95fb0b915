"""Domain adaptation (issue 18): the gradient reversal, CORAL, MMD, adapt and the proxy A-distance."""

import argparse
import json
import math

import numpy as np
import pytest

import minitransfer as mt
from minitransfer import functions as F
from minitransfer import nn, stats
from minitransfer.adapt import (
    GradientReversal,
    adapt,
    coral_loss,
    dann_lambda,
    median_distance,
    mmd_loss,
    proxy_a_distance,
    summarize,
)
from minitransfer.adapt.compare import check_same_classes, compare_methods
from minitransfer.commands import adapt as adapt_command
from minitransfer.commands.common import without_timings
from minitransfer.experiment import Task
from minitransfer.gradcheck import GradcheckError, gradcheck
from minitransfer.transfer import pretrain


# ---- the gradient reversal ----------------------------------------------------------------------
class _Unflipped(F.GradientReversal):
    """The classic slip: the gradient scaled by λ but not reversed."""

    def backward(self, g):
        return (self.lambda_ * g,)


def test_gradient_reversal_passes_gradcheck_with_the_sign_flip():
    x = mt.tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
    for lam in (0.7, 2.5):
        result = gradcheck(lambda t, lam=lam: F.GradientReversal.apply(t, lambda_=lam), x,
                           reference=lambda t, lam=lam: t * -lam, name="gradient_reversal")
        assert result.passed and result.max_abs_error < 1e-8
    # against its own forward (the identity) the flip is, on purpose, wrong
    with pytest.raises(GradcheckError, match="backward gives"):
        gradcheck(lambda t: F.GradientReversal.apply(t, lambda_=0.7), x)


def test_an_unflipped_gradient_reversal_is_caught():
    x = mt.tensor(np.random.default_rng(1).standard_normal((2, 5)), requires_grad=True)
    with pytest.raises(GradcheckError, match="gradient_reversal_unflipped, input 0"):
        gradcheck(lambda t: _Unflipped.apply(t, lambda_=0.7), x, reference=lambda t: t * -0.7,
                  name="gradient_reversal_unflipped")
    with pytest.raises(GradcheckError):
        gradcheck(lambda t: _Unflipped.apply(t, lambda_=0.7), x, reference=lambda t: t * -0.7,
                  mode="directional")


def test_the_layer_is_the_identity_forward_and_minus_lambda_backward_in_float32():
    assert GradientReversal is nn.GradientReversal
    layer = nn.GradientReversal(0.25)
    x = mt.tensor(np.array([[1.0, -2.0], [3.0, 0.5]], dtype=np.float32), requires_grad=True)
    weights = mt.tensor(np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32))
    out = layer(x)
    np.testing.assert_array_equal(out.detach().numpy(), x.detach().numpy())
    (out * weights).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), -0.25 * weights.numpy())
    assert x.grad.dtype == np.float32 and repr(layer) == "GradientReversal(lambda_=0.25)"
    layer.lambda_ = 2.0  # a training loop changes λ between steps
    x.grad = None
    (layer(x) * weights).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), -2.0 * weights.numpy())


# ---- CORAL and MMD -------------------------------------------------------------------------------
def test_coral_is_zero_for_identical_covariances_and_matches_the_hand_example():
    rng = np.random.default_rng(0)
    fs = rng.standard_normal((6, 3))
    assert abs(coral_loss(fs, fs + 5.0).item()) < 1e-12  # a shifted mean leaves C unchanged
    assert abs(coral_loss(fs, fs[::-1].copy()).item()) < 1e-12  # so does the order of the rows
    source, target = np.array([[0.0, 0.0], [2.0, 0.0]]), np.array([[0.0, 0.0], [0.0, 2.0]])
    assert coral_loss(source, target).item() == pytest.approx(0.5)  # ‖diag(2,-2)‖² / (4·2²)
    ft = rng.standard_normal((5, 3)) * 2
    expected = np.sum((np.cov(fs, rowvar=False) - np.cov(ft, rowvar=False)) ** 2) / (4 * 3 * 3)
    assert coral_loss(fs, ft).item() == pytest.approx(expected, rel=1e-12)


def test_coral_gradient_passes_gradcheck():
    rng = np.random.default_rng(2)
    fs = mt.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    ft = mt.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    assert gradcheck(coral_loss, fs, ft).passed


def test_mmd_is_zero_for_identical_samples_positive_for_shifted_ones_and_matches_numpy():
    rng = np.random.default_rng(0)
    fs = rng.standard_normal((8, 4))
    assert abs(mmd_loss(fs, fs).item()) < 1e-12
    assert mmd_loss(fs, fs + 1.0).item() > 0.05
    ft = rng.standard_normal((6, 4)) + 0.5
    scale = median_distance(fs, ft)
    pooled = np.concatenate([fs, ft])
    d2 = ((pooled[:, None, :] - pooled[None, :, :]) ** 2).sum(-1)
    kernel = np.mean([np.exp(-d2 / (2 * (b * scale) ** 2)) for b in (0.5, 1, 2, 4, 8)], axis=0)
    a = np.concatenate([np.full(8, 1 / 8), np.full(6, -1 / 6)])  # MMD² = aᵀ K a
    assert mmd_loss(fs, ft).item() == pytest.approx(a @ kernel @ a, rel=1e-10)


def test_median_distance_by_hand():
    points = np.array([[0.0], [1.0]]), np.array([[3.0]])  # distances 1, 3, 2: median 2
    assert median_distance(*points) == 2.0
    assert median_distance(np.zeros((2, 2)), np.zeros((1, 2))) == 1.0  # all equal: 1, not 0


def test_mmd_gradient_passes_gradcheck_with_a_fixed_scale():
    rng = np.random.default_rng(3)
    fs = mt.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    ft = mt.tensor(rng.standard_normal((3, 3)) + 0.5, requires_grad=True)
    assert gradcheck(lambda a, b: mmd_loss(a, b, scale=1.7), fs, ft).passed


# ---- adapt -----------------------------------------------------------------------------------------
def _tiny_data(seed=0, n=40, d=6, classes=3):
    rng = np.random.default_rng(seed)
    xs = rng.random((n, d)).astype(np.float32)
    ys = np.arange(n) % classes
    xt = (rng.random((n - 10, d)) * 0.5 + 0.5).astype(np.float32)
    yt = np.arange(n - 10) % classes
    return (xs, ys), xt, yt


def _weights(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def test_source_only_equals_plain_training_on_the_source():
    source, xt, _ = _tiny_data()
    a, b = nn.MLP([6, 8, 3], generator=1), nn.MLP([6, 8, 3], generator=1)
    adapt(a, source, xt, "source_only", steps=12, lr=0.01, batch_size=16, seed=4)
    pretrain(b, source, steps=12, lr=0.01, batch_size=16, seed=4)
    for key, value in _weights(a).items():
        np.testing.assert_array_equal(value, _weights(b)[key], err_msg=key)


@pytest.mark.parametrize("method", ["dann", "coral", "mmd"])
def test_target_labels_are_never_read(method):
    source, xt, yt = _tiny_data()
    shuffled = np.random.default_rng(9).permutation(yt)
    trained = []
    for target in (xt, (xt, yt), (xt, shuffled), (xt, np.full(len(yt), 99))):
        model = nn.MLP([6, 8, 3], generator=1)
        result = adapt(model, source, target, method, steps=6, lr=0.01, batch_size=16, seed=2)
        trained.append(_weights(model))
    for other in trained[1:]:
        for key, value in trained[0].items():
            np.testing.assert_array_equal(value, other[key], err_msg=f"{method} {key}")
    assert len(result.alignment_losses) == 6
    if method == "dann":
        assert result.lambdas[0] == 0.0 and result.lambdas[-1] == pytest.approx(dann_lambda(5 / 6))
    else:  # the alignment changed the weights: the target images were used
        plain = nn.MLP([6, 8, 3], generator=1)
        adapt(plain, source, xt, "source_only", steps=6, lr=0.01, batch_size=16, seed=2)
        assert not np.array_equal(_weights(plain)["body.0.weight"], trained[0]["body.0.weight"])


def test_dann_schedule_is_the_papers():
    assert dann_lambda(0.0) == 0.0
    assert dann_lambda(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)  # 0.98661
    assert dann_lambda(1.0) == pytest.approx(0.9999092, abs=1e-7)


def test_proxy_a_distance_is_two_for_separable_domains_and_near_zero_for_one_domain():
    rng = np.random.default_rng(0)
    fs = rng.standard_normal((200, 4))
    assert proxy_a_distance(fs, fs + 10.0) == 2.0
    same = proxy_a_distance(fs[:100], fs[100:])
    assert -0.5 < same < 0.5
    assert proxy_a_distance(fs[:100], fs[100:]) == same  # deterministic under its seed


def test_mismatched_feature_sizes_are_refused():
    with pytest.raises(ValueError, match="same size, got 3 source features .* and 4 target features"):
        coral_loss(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="mmd_loss: source and target features must have the same size"):
        mmd_loss(np.ones((2, 3)), np.ones((2, 4)))
    source, xt, _ = _tiny_data()
    model = nn.MLP([6, 8, 3], generator=1)
    before = _weights(model)
    with pytest.raises(ValueError, match=r"same number of features, got source x of shape \(40, 6\) "
                                         r"and target x of shape \(30, 5\)"):
        adapt(model, source, xt[:, :5], "coral")
    assert all(np.array_equal(v, _weights(model)[k]) for k, v in before.items())


def _task(source_labels, target_labels, classes):
    x = np.zeros((len(source_labels), 4), np.float32)
    xt = np.zeros((len(target_labels), 4), np.float32)
    return Task("t", (x, np.asarray(source_labels)), (xt, np.asarray(target_labels)),
                (xt, np.asarray(target_labels)), *classes)


def test_a_shift_that_changes_the_classes_is_refused():
    with pytest.raises(ValueError, match=r"same classes in source and target, got 5 source classes "
                                         r"\[0, 1, 2, 3, 4\] and 10 target classes"):
        compare_methods(_task(np.arange(10) % 5, np.arange(10), (5, 10)), seeds=[0])
    with pytest.raises(ValueError, match="target classes"):
        check_same_classes(_task(np.arange(10) % 5, np.arange(10) % 6, (5, 5)))
    source, xt, _ = _tiny_data(classes=4)
    with pytest.raises(ValueError, match="source labels run from 0 to 3, but the model's head has 3 outputs"):
        adapt(nn.MLP([6, 8, 3], generator=1), source, xt, "mmd")


# ---- the experiment and the command --------------------------------------------------------------
def test_summarize_pairs_by_seed_and_applies_holm_over_the_family():
    records = []
    gains = {"a": [0.10, 0.12, 0.11], "b": [0.01, -0.02, 0.0]}
    for seed in range(3):
        records.append({"target": "noise", "method": "source_only", "seed": seed, "target_accuracy": 0.5,
                        "source_accuracy": 0.9, "proxy_a_distance": 1.0})
        for method, g in gains.items():
            records.append({"target": "noise", "method": method, "seed": seed,
                            "target_accuracy": 0.5 + g[seed], "source_accuracy": 0.9,
                            "proxy_a_distance": 0.5})
    rows = {r["method"]: r for r in summarize(records)}
    assert "gain" not in rows["source_only"]
    assert rows["a"]["gain"] == pytest.approx(0.11) and rows["a"]["family_size"] == 2
    comparisons = stats.holm_verdicts([gains["a"], gains["b"]])
    assert rows["a"]["p_holm"] == pytest.approx(comparisons[0].p_adjusted)
    assert rows["a"]["verdict_holm"] == comparisons[0].verdict.code == "helped"
    assert rows["b"]["verdict_holm"] == "no_difference"
    # ranks by p: a first (level 1 − 0.05/2), b second (level 1 − 0.05/1)
    assert rows["a"]["holm_level"] == pytest.approx(0.975) and rows["b"]["holm_level"] == pytest.approx(0.95)
    low = stats.paired_interval(gains["a"], confidence=0.975).low
    assert rows["a"]["holm_interval"][0] == pytest.approx(low) and low > 0


def _args(tmp_path, *extra):
    parser = argparse.ArgumentParser()
    adapt_command.add_parser(parser.add_subparsers())
    return parser.parse_args(["adapt", "--out", str(tmp_path), "--hidden", "16,8", *extra])


def test_the_command_writes_its_files_and_repeats_exactly(tmp_path):
    argv = ["--target", "noise", "--seeds", "2", "--steps", "4", "--methods", "source_only,mmd"]
    assert adapt_command.run(_args(tmp_path / "a", *argv), log=lambda *a: None) == 0
    assert adapt_command.run(_args(tmp_path / "b", *argv), log=lambda *a: None) == 0
    first, second = (json.loads((tmp_path / d / "adapt.json").read_text()) for d in "ab")
    assert without_timings(first) == without_timings(second)
    assert [r["method"] for r in first["rows"]] == ["source_only", "mmd", "target_labels"]
    assert len(first["runs"]) == 6 and first["settings"]["targets"] == ["noise"]
    text = (tmp_path / "a" / "adapt.md").read_text()
    assert "Proxy A-distance" in text and "Holm" in text and "Methods that beat source-only" in text
    assert (tmp_path / "a" / "adapt_pca.png").read_bytes()[:4] == b"\x89PNG"


def test_the_shifts_come_from_target_or_targets(tmp_path):
    assert adapt_command.shifts_of(_args(tmp_path)) == ["noise", "invert", "jitter"]
    assert adapt_command.shifts_of(_args(tmp_path, "--targets", "jitter,noise")) == ["jitter", "noise"]
    assert adapt_command.shifts_of(_args(tmp_path, "--target", "rotate")) == ["rotate"]
