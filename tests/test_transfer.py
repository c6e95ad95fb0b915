"""Pretrain / replace the head / fine-tune: each strategy, frozen weights, L2-SP by hand."""

import copy

import numpy as np
import pytest

import minitransfer as mt
from minitransfer import nn
from minitransfer.transfer import (
    STRATEGIES,
    body_layers,
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


@pytest.mark.parametrize("steps", [1, 2, 3])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_accepts_any_number_of_steps(pretrained, strategy, steps):
    model = copy.deepcopy(pretrained)
    replace_head(model, 3, generator=2)
    x, y = _toy_task(5)
    result = fine_tune(model, (x, y), strategy, steps=steps, batch_size=16, eval_data=(x, y))
    assert result.history.steps == steps and sum(phase.steps for phase in result.phases) == steps
    assert [step for step, _ in result.curve] == [steps]  # the curve always ends at the last step


def _rates(result):
    return [(phase.name, phase.steps, phase.learning_rates) for phase in result.phases]


def test_lp_ft_probes_then_fine_tunes_everything_at_a_hundredth_of_the_rate(pretrained):
    model = copy.deepcopy(pretrained)
    replace_head(model, 3, generator=2)
    result = fine_tune(model, _toy_task(5), "lp_ft", steps=9, lr=1e-2, batch_size=16)
    # the rates are read back from the optimizers fine_tune built
    assert _rates(result) == [("linear probe", 4, [("head", 1e-2)]), ("fine-tune", 5, [("all", 1e-4)])]


def test_discriminative_gives_each_layer_its_own_rate_in_the_optimizer(pretrained):
    model = copy.deepcopy(pretrained)
    replace_head(model, 3, generator=2)
    result = fine_tune(model, _toy_task(5), "discriminative", steps=4, lr=1e-3, decay=0.5, batch_size=16)
    assert _rates(result) == [("all, per-layer rates", 4,
                               [("head", 1e-3), ("body.2", 5e-4), ("body.0", 2.5e-4)])]


def test_gradual_unfreezing_unfreezes_top_down(pretrained):
    model = copy.deepcopy(pretrained)
    replace_head(model, 3, generator=2)
    before = {k: v.numpy().copy() for k, v in model.body.state_dict().items()}
    # 2 steps over 3 stages: stage 0 (head) and stage 1 (+ the layer nearest the head) get one
    # each; stage 2 (+ body.0) gets none, so body.0 must not have moved
    result = fine_tune(model, _toy_task(5), "gradual_unfreeze", steps=2, lr=1e-2, batch_size=16)
    assert [(phase.name, phase.steps) for phase in result.phases] == [
        ("stage 0: head", 1), ("stage 1: head + body.2", 1)]
    after = model.body.state_dict()
    assert not np.array_equal(after["2.weight"].numpy(), before["2.weight"])
    np.testing.assert_array_equal(after["0.weight"].numpy(), before["0.weight"])
    stages = fine_tune(copy.deepcopy(model), _toy_task(5), "gradual_unfreeze", steps=3, batch_size=16)
    assert stages.phases[-1].name == "stage 2: head + body.2 + body.0"


def _body_distance(model, reference):
    return sum(float(np.sum((v.numpy() - reference[k]) ** 2)) for k, v in model.body.state_dict().items())


def test_l2sp_differs_from_full_and_stays_closer_to_the_pretrained_body(pretrained):
    theta0 = {k: v.numpy().copy() for k, v in pretrained.body.state_dict().items()}
    moved = {}
    for strategy in ("full", "l2sp"):
        model = copy.deepcopy(pretrained)
        replace_head(model, 3, generator=2)
        # β = 0: the head is not decayed, so only the pull towards θ⁰ tells l2sp from full
        fine_tune(model, _toy_task(5), strategy, steps=30, lr=1e-2, alpha=10.0, beta=0.0, batch_size=16)
        moved[strategy] = _body_distance(model, theta0)
    assert moved["full"] > 0 and moved["l2sp"] < 0.5 * moved["full"], moved


class _Nested(nn.Module):
    """A body of Sequentials inside a Sequential, and a head kept under another name."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Sequential(nn.Linear(12, 6, generator=0), nn.ReLU()),
                                  nn.Sequential(nn.Linear(6, 5, generator=1), nn.ReLU()))
        self.head = nn.Linear(5, 3, generator=2)

    def forward(self, x):
        return self.head(self.body(x))


def test_a_nested_body_loses_no_parameter_from_the_optimizer_groups():
    model = _Nested()
    assert [name for name, _ in body_layers(model)] == ["body.0.0", "body.1.0"]
    groups = layer_groups(model, lr=1e-2, decay=0.5)
    assert [(g["name"], g["lr"]) for g in groups] == [
        ("head", 1e-2), ("body.1.0", 5e-3), ("body.0.0", 2.5e-3)]
    grouped = [id(p) for g in groups for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())  # each exactly once
    result = fine_tune(model, _toy_task(5), "gradual_unfreeze", steps=3, batch_size=16)
    assert result.phases[-1].name == "stage 2: head + body.1.0 + body.0.0"


def test_the_head_is_found_by_identity_not_by_its_name():
    """l2sp_penalty decays ``model.head`` even when its parameters are not named "head.*"."""

    class Renamed(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(2, 2, generator=0))
            self.classifier = nn.Linear(2, 1, generator=1)

        @property
        def head(self):
            return self.classifier

    model = Renamed()
    reference = {k: np.zeros_like(v.numpy()) for k, v in model.state_dict().items() if k.startswith("body")}
    squares = {k: float(np.sum(v.numpy() ** 2)) for k, v in model.state_dict().items()}
    body = squares["body.0.weight"] + squares["body.0.bias"]
    head = squares["classifier.weight"] + squares["classifier.bias"]
    penalty = l2sp_penalty(model, reference, alpha=0.1, beta=0.3)
    assert penalty.item() == pytest.approx(0.1 / 2 * body + 0.3 / 2 * head, rel=1e-6)
