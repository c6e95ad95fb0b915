"""minitransfer.explain: attributions against hand-computed values, finite differences and their
own completeness; CKA's properties; drift, forgetting and the layer-wise table on tiny models.

The error cases (X01-X07) live in tests/test_errors_catalogue.py; the command's run in
tests/test_cli_explain.py.
"""

import copy

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minitransfer import explain, nn
from minitransfer.data import digits
from minitransfer.explain.layerwise import copy_first_layers, fresh_network
from minitransfer.train import evaluate
from minitransfer.transfer import fine_tune, pretrain, replace_head


@pytest.fixture(scope="module")
def trained():
    """A 64-32-16-10 MLP trained on the 8x8 digits for 200 steps, and 40 test images."""
    data = digits()
    model = nn.MLP([64, 32, 16, 10], generator=0)
    pretrain(model, (data.x[:1200], data.y[:1200]), steps=200, seed=0)
    return model, data.x[1200:1240], data.y[1200:1240]


def linear_model(weight, bias):
    """An MLP with no hidden layer: f(x) = W x + b, in float64, with the given weights."""
    weight = np.asarray(weight, dtype=np.float64)
    model = nn.MLP([weight.shape[1], weight.shape[0]], generator=0).double()
    model.load_state_dict({"head.weight": weight, "head.bias": np.asarray(bias, dtype=np.float64)})
    return model


# ---- integrated gradients -------------------------------------------------------------------
@pytest.mark.parametrize("method", ["riemann_middle", "gausslegendre"])
def test_integrated_gradients_are_complete_on_a_trained_mlp(trained, method):
    model, x, _ = trained
    result = explain.integrated_gradients(model, x, steps=64, method=method)
    assert result.attributions.shape == x.shape and result.delta.shape == (len(x),)
    np.testing.assert_allclose(result.delta, result.attributions.sum(axis=1) - result.difference)
    gap = np.abs(result.delta) / np.abs(result.difference)
    assert np.median(gap) <= 0.01, np.sort(gap)
    assert np.mean(gap > 0.05) <= 0.10, np.sort(gap)


def test_the_completeness_gap_shrinks_with_more_points(trained):
    model, x, _ = trained
    gaps = explain.completeness_gaps(model, x, steps=(4, 32, 256))
    medians = [np.median(gaps[m]) for m in (4, 32, 256)]
    worst = [np.quantile(gaps[m], 0.9) for m in (4, 32, 256)]
    assert medians[0] > medians[1] > medians[2], medians
    assert worst[0] > worst[2], worst
    assert medians[2] < 0.002


def test_integrated_gradients_of_a_linear_model_by_hand():
    # f_1(x) = 3 x_1 − x_2 + 2 x_3 + 0.5: the gradient is constant, so IG = (x − x') ⊙ w exactly.
    model = linear_model([[1.0, 1.0, 1.0], [3.0, -1.0, 2.0]], [0.0, 0.5])
    x = np.array([[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]])
    result = explain.integrated_gradients(model, x, target=1, steps=1)
    np.testing.assert_allclose(result.attributions, [[3.0, -2.0, 6.0], [1.5, 0.0, -2.0]])
    np.testing.assert_allclose(result.difference, [7.0, -0.5])
    np.testing.assert_allclose(result.delta, 0.0, atol=1e-12)
    with_row = explain.integrated_gradients(model, x, target=[1, 1], baseline=[1.0, 1.0, 1.0], steps=3)
    np.testing.assert_allclose(with_row.attributions, [[0.0, -1.0, 4.0], [-1.5, 1.0, -4.0]])
    np.testing.assert_array_equal(with_row.target, [1, 1])


def test_the_quadrature_rules():
    alphas, weights = explain.attribution.quadrature("riemann_middle", 4)
    np.testing.assert_allclose(alphas, [0.125, 0.375, 0.625, 0.875])
    np.testing.assert_allclose(weights, 0.25)
    alphas, weights = explain.attribution.quadrature("gausslegendre", 3)
    assert weights.sum() == pytest.approx(1.0)
    # exact for polynomials of degree <= 5 on [0, 1]: the integral of a^5 is 1/6
    assert np.sum(weights * alphas**5) == pytest.approx(1 / 6)


# ---- saliency -------------------------------------------------------------------------------
def test_saliency_equals_central_differences():
    model = nn.MLP([6, 5, 4, 3], generator=1).double()
    x = np.random.default_rng(0).standard_normal((4, 6))
    target = np.array([0, 2, 1, 2])
    got = explain.saliency(model, x, target)
    h = 1e-6
    expected = np.empty_like(x)
    for i in range(x.shape[1]):
        step = np.zeros_like(x)
        step[:, i] = h
        up = explain.attribution.target_logits(model, x + step, target)
        down = explain.attribution.target_logits(model, x - step, target)
        expected[:, i] = np.abs(up - down) / (2 * h)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)


def test_saliency_explains_the_predicted_class_and_leaves_the_model_as_it_was(trained):
    model, x, _ = trained
    before = {name: (p.requires_grad, None if p.grad is None else p.grad.numpy().copy())
              for name, p in model.named_parameters()}
    predicted = np.argmax(model(explain.attribution._to_model(model, x)).detach().numpy(), axis=1)
    np.testing.assert_array_equal(explain.saliency(model, x), explain.saliency(model, x, predicted))
    for name, p in model.named_parameters():
        assert p.requires_grad == before[name][0]
        assert (p.grad is None) == (before[name][1] is None)
        if p.grad is not None:
            np.testing.assert_array_equal(p.grad.numpy(), before[name][1])


# ---- occlusion ------------------------------------------------------------------------------
def test_occlusion_of_a_linear_model_by_hand():
    # a 2 x 3 image; class 0's logit is Σ w_i x_i, so zeroing a square drops Σ_{i in square} w_i x_i
    model = linear_model([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [0.0] * 6], [0.0, 0.0])
    x = np.array([[1.0, 1.0, 1.0, 2.0, 2.0, 2.0]])
    np.testing.assert_allclose(explain.occlusion(model, x, target=0, patch=1, image_shape=(2, 3)),
                               [[1.0, 2.0, 3.0, 8.0, 10.0, 12.0]])
    # patch 2: squares {0, 1, 3, 4} (drop 1 + 2 + 8 + 10) and the cut-off column {2, 5} (3 + 12)
    np.testing.assert_allclose(explain.occlusion(model, x, target=0, patch=2, image_shape=(2, 3)),
                               [[21.0, 21.0, 15.0, 21.0, 21.0, 15.0]])


def test_occlusion_infers_a_square_image(trained):
    model, x, _ = trained
    drops = explain.occlusion(model, x[:3], patch=4)
    assert drops.shape == (3, 64)
    assert np.all(drops.reshape(3, 2, 4, 2, 4) == drops.reshape(3, 2, 4, 2, 4)[:, :, :1, :, :1])


# ---- linear CKA -----------------------------------------------------------------------------
def test_linear_cka_by_hand():
    assert explain.linear_cka([[1.0], [2.0], [3.0]], [[1.0], [0.0], [0.0]]) == pytest.approx(0.75)


features = st.tuples(st.integers(3, 12), st.integers(1, 6), st.integers(1, 6), st.integers(0, 2**31))


def _draw(n, d1, d2, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d1)), rng.standard_normal((n, d2)), rng


@given(features)
def test_linear_cka_is_one_for_identical_features_symmetric_and_in_zero_one(shape):
    a, b, _ = _draw(*shape)
    assert explain.linear_cka(a, a) == pytest.approx(1.0, abs=1e-12)
    value = explain.linear_cka(a, b)
    assert -1e-12 <= value <= 1 + 1e-12
    assert explain.linear_cka(b, a) == pytest.approx(value, rel=1e-10, abs=1e-12)


@given(features, st.floats(1e-2, 1e2))
def test_linear_cka_ignores_rotations_and_isotropic_scaling(shape, scale):
    a, b, rng = _draw(*shape)
    q_a, _ = np.linalg.qr(rng.standard_normal((a.shape[1], a.shape[1])))
    q_b, _ = np.linalg.qr(rng.standard_normal((b.shape[1], b.shape[1])))
    value = explain.linear_cka(a, b)
    assert explain.linear_cka(a @ q_a, b) == pytest.approx(value, rel=1e-8, abs=1e-12)
    assert explain.linear_cka(a, b @ q_b) == pytest.approx(value, rel=1e-8, abs=1e-12)
    assert explain.linear_cka(scale * a, b) == pytest.approx(value, rel=1e-8, abs=1e-12)
    assert explain.linear_cka(a, scale * b) == pytest.approx(value, rel=1e-8, abs=1e-12)


def test_linear_cka_is_not_invariant_to_any_linear_map():
    # stretching one axis changes what the layer emphasises: CKA notices
    a = np.random.default_rng(0).standard_normal((20, 3))
    assert explain.linear_cka(a, a * np.array([1.0, 1.0, 10.0])) < 0.9


# ---- drift and forgetting -------------------------------------------------------------------
def test_layer_drift_by_hand():
    drift = explain.layer_drift({"w": np.array([3.0, 4.0]), "z": np.zeros(2)},
                                {"w": np.array([3.5, 4.0]), "z": np.array([0.0, 1.0])})
    assert drift == {"w": pytest.approx(0.1), "z": np.inf}
    assert explain.layer_drift({"z": np.zeros(2)}, {"z": np.zeros(2)}) == {"z": 0.0}


@pytest.fixture(scope="module")
def transfer_runs():
    """A tiny pretrained model and its copies fine-tuned by linear_probe and full."""
    data = digits()
    source = (data.x[data.y < 5][:300], data.y[data.y < 5][:300])
    target = (data.x[data.y >= 5][:100], data.y[data.y >= 5][:100] - 5)
    pretrained = nn.MLP([64, 16, 8, 5], generator=0)
    pretrain(pretrained, source, steps=60, seed=0)
    tuned = {}
    for strategy in ("linear_probe", "full"):
        model = copy.deepcopy(pretrained)
        replace_head(model, 5, generator=1)
        fine_tune(model, target, strategy, steps=30, seed=0, lr=1e-2)
        tuned[strategy] = model
    return pretrained, tuned, source, target


def test_drift_is_exactly_zero_for_a_linear_probe_and_positive_for_full(transfer_runs):
    pretrained, tuned, _, _ = transfer_runs
    probe = explain.layer_drift(pretrained.body, tuned["linear_probe"].body)
    assert probe == {"0.weight": 0.0, "0.bias": 0.0, "2.weight": 0.0, "2.bias": 0.0}
    assert explain.drift_per_layer(pretrained, tuned["linear_probe"]) == {"body.0": 0.0, "body.2": 0.0}
    full = explain.drift_per_layer(pretrained, tuned["full"])
    assert list(full) == ["body.0", "body.2"] and min(full.values()) > 0
    by_name = explain.layer_drift(pretrained.body, tuned["full"].body)
    assert all(value > 0 for value in by_name.values())


def test_forgetting_puts_the_fine_tuned_body_under_the_source_head(transfer_runs):
    pretrained, tuned, source, _ = transfer_runs
    probe = explain.forgetting(pretrained, tuned["linear_probe"], source)
    assert probe.before == evaluate(pretrained, source)["accuracy"] and probe.drop == 0.0
    full = explain.forgetting(pretrained, tuned["full"], source)
    by_hand = copy.deepcopy(tuned["full"])
    by_hand.head = pretrained.head
    assert full.after == evaluate(by_hand, source)["accuracy"]
    assert full.drop == pytest.approx(full.before - full.after)
    assert tuned["full"].head is not pretrained.head  # nothing was swapped in place


# ---- layer-wise transferability -------------------------------------------------------------
def test_the_layerwise_networks_differ_only_in_the_copied_layers(transfer_runs):
    pretrained = transfer_runs[0]
    fresh = fresh_network(pretrained, 5, seed=3)
    again = fresh_network(pretrained, 5, seed=3)
    for (name, p), q in zip(fresh.named_parameters(), again.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy(), err_msg=name)
    copied = copy.deepcopy(fresh)
    copy_first_layers(pretrained, copied, 1)
    state, new, old = pretrained.state_dict(), copied.state_dict(), fresh.state_dict()
    for name in ("body.0.weight", "body.0.bias"):
        np.testing.assert_array_equal(new[name].numpy(), state[name].numpy())
    for name in ("body.2.weight", "body.2.bias", "head.weight"):
        np.testing.assert_array_equal(new[name].numpy(), old[name].numpy())
    assert not np.array_equal(new["body.2.weight"].numpy(), state["body.2.weight"].numpy())


def test_layerwise_transferability_lists_every_j_frozen_and_fine_tuned(transfer_runs):
    pretrained, _, _, target = transfer_runs
    runs = explain.layerwise_transferability(pretrained, target, target, outputs=5, steps=5, seed=0)
    assert [(r.layers_copied, r.frozen) for r in runs] == [
        (0, True), (0, False), (1, True), (1, False), (2, True), (2, False)]
    assert runs[0].accuracy == runs[1].accuracy
    assert all(0 <= r.accuracy <= 1 for r in runs)
