"""Pretrain / replace the head / fine-tune: each strategy, frozen weights, L2-SP by hand."""

import copy

import numpy as np
import pytest

import minitransfer as mt
from minitransfer import nn
from minitransfer.transfer import (
    STRATEGIES,
    fine_tune,
    freeze,
    l2sp_penalty,
    layer_groups,
    param_groups,
    pretrain,
    replace_head,
)


def _toy_task(seed=0, n=60, dim=12, classes=3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 2
    y = np.arange(n) % classes
    x = (centres[y] + rng.normal(size=(n, dim))).astype(np.float32)
    return x, y.astype(np.int64)


@pytest.fixture(scope="module")
def pretrained():
    model = nn.MLP([12, 16, 8, 3], generator=0)
    pretrain(model, _toy_task(0), steps=60, batch_size=16, seed=0)
    return model


def test_replace_head_reuses_the_body_exactly_and_reports_it(pretrained):
    model = copy.deepcopy(pretrained)
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    report = replace_head(model, 5, generator=1)
    after = model.state_dict()
    for key in ("body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias"):
        np.testing.assert_array_equal(after[key].numpy(), before[key])  # the document's bug stays fixed
    assert after["head.weight"].shape == (5, 8) and model.head.out_features == 5
    assert report.reused_count == 12 * 16 + 16 + 16 * 8 + 8 and report.reinitialised_count == 5 * 8 + 5
    assert [name for name, _ in report.reinitialised] == ["head.weight", "head.bias"]
    assert "3 outputs -> 5 outputs" in str(report)
    bound = 1 / np.sqrt(8)  # PyTorch's default init of the new head: U(-1/sqrt(in), 1/sqrt(in))
    assert np.abs(after["head.weight"].numpy()).max() <= bound


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_trains_and_keeps_frozen_weights_bit_identical(pretrained, strategy):
    model = copy.deepcopy(pretrained)
    replace_head(model, 3, generator=2)
    body_before = {k: v.numpy().copy() for k, v in model.body.state_dict().items()}
    x, y = _toy_task(5)
    result = fine_tune(model, (x, y), strategy, steps=20, batch_size=16, eval_data=(x, y), eval_every=10)
    assert result.history.steps == 20 and len(result.history.losses) == 20
    assert [step for step, _ in result.curve] == [10, 20]
    body_after = {k: v.numpy() for k, v in model.body.state_dict().items()}
    changed = [k for k in body_before if not np.array_equal(body_before[k], body_after[k])]
    if strategy == "linear_probe":
        assert changed == [] and result.frozen_unchanged
    else:
        assert changed, f"{strategy} should train the body"


def test_scratch_starts_from_new_random_weights(pretrained):
    model = copy.deepcopy(pretrained)
    replace_head(model, 3, generator=2)
    first = pretrained.body[0].weight.detach().numpy().copy()
    fine_tune(model, _toy_task(5), "scratch", steps=1, batch_size=16, lr=1e-12)
    assert np.abs(model.body[0].weight.detach().numpy() - first).max() > 1e-3


def test_freezing_a_middle_layer_still_lets_gradients_reach_the_first():
    model = nn.MLP([4, 5, 5, 2], generator=0)
    freeze(model.body[2])
    x = mt.tensor(np.ones((3, 4), dtype=np.float32))
    nn.CrossEntropyLoss()(model(x), mt.tensor([0, 1, 0])).backward()
    assert model.body[2].weight.grad is None and model.body[0].weight.grad is not None
    assert np.abs(model.body[0].weight.grad.numpy()).sum() > 0


def test_param_groups_give_the_head_ten_times_the_rate():
    model = nn.MLP([4, 5, 2], generator=0)
    groups = param_groups(model, lr=1e-3)
    assert [(g["name"], g["lr"]) for g in groups] == [("body", 1e-3), ("head", 1e-2)]
    rates = [(g["name"], g["lr"]) for g in layer_groups(nn.MLP([4, 5, 5, 2], generator=0), 1e-2, decay=0.5)]
    assert rates == [("head", 1e-2), ("body.2", 5e-3), ("body.0", 2.5e-3)]


def test_l2sp_penalty_and_its_gradient_match_hand_computed_values():
    model = nn.MLP([2, 2, 1], generator=0)
    with mt.no_grad():
        model.body[0].weight.copy_(np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32))
        model.body[0].bias.copy_(np.array([0.5, -0.5], dtype=np.float32))
        model.head.weight.copy_(np.array([[2.0, -1.0]], dtype=np.float32))
        model.head.bias.copy_(np.array([1.0], dtype=np.float32))
    reference = {"body.0.weight": np.array([[1.0, 1.0], [1.0, 1.0]], dtype=np.float32),
                 "body.0.bias": np.zeros(2, dtype=np.float32)}
    # body: (0 + 1 + 4 + 9) + (0.25 + 0.25) = 14.5; head: 4 + 1 + 1 = 6
    penalty = l2sp_penalty(model, reference, alpha=0.1, beta=0.2)
    assert penalty.item() == pytest.approx(0.1 / 2 * 14.5 + 0.2 / 2 * 6)
    penalty.backward()
    np.testing.assert_allclose(model.body[0].weight.grad.numpy(), 0.1 * np.array([[0, 1], [2, 3]]), rtol=1e-6)
    np.testing.assert_allclose(model.head.weight.grad.numpy(), 0.2 * np.array([[2.0, -1.0]]), rtol=1e-6)


def test_unknown_strategy_and_model_without_head_are_refused():
    model = nn.MLP([4, 5, 2], generator=0)
    with pytest.raises(ValueError, match="strategy: expected one of"):
        fine_tune(model, _toy_task(), "magic")
    with pytest.raises(TypeError, match="'body' module and a 'head'"):
        replace_head(nn.Sequential(nn.Linear(2, 2)), 3)
    with pytest.raises(ValueError, match="positive integer"):
        replace_head(model, 0)
