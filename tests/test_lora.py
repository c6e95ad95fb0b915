"""LoRA and BitFit: the update each trains, checked by hand, and what fine_tune reports."""

import copy

import numpy as np
import pytest

import minitransfer as mt
from minitransfer import nn
from minitransfer.transfer import (
    LoRAConfig,
    LoRALinear,
    add_lora,
    fine_tune,
    lora_parameters,
    merge_lora,
    replace_head,
)


def _task(seed=0, n=40, dim=8, classes=3):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.normal(size=(classes, dim))[y] * 2 + rng.normal(size=(n, dim))
    return x, y.astype(np.int64)


def _model(dtype=np.float64):
    model = nn.MLP([8, 7, 6, 3], generator=0, dtype=dtype)
    return model


def _values(model):
    return {name: p.detach().numpy().copy() for name, p in model.named_parameters()}


def test_lora_with_b_zero_leaves_the_outputs_unchanged():
    model, (x, _) = _model(np.float32), _task()
    x = mt.tensor(x.astype(np.float32))
    before = model(x).detach().numpy()
    names = add_lora(model, r=2, alpha=4.0, generator=1)
    assert names == ["body.0", "body.2"]
    assert all(isinstance(model.body[i], LoRALinear) for i in (0, 2))
    np.testing.assert_array_equal(model(x).detach().numpy(), before)
    assert [n for n, _ in model.named_parameters()] == [
        "body.0.weight", "body.0.bias", "body.0.lora_A", "body.0.lora_B",
        "body.2.weight", "body.2.bias", "body.2.lora_A", "body.2.lora_B", "head.weight", "head.bias"]


def test_lora_gradients_reach_only_a_b_and_the_head_and_match_central_differences():
    model, (x, y) = _model(), _task()
    add_lora(model, r=2, alpha=4.0, generator=1)
    rng = np.random.default_rng(3)
    for layer in (model.body[0], model.body[2]):
        layer.lora_B.data[...] = rng.normal(size=layer.lora_B.shape)  # B ≠ 0: dA ≠ 0 too
    x = mt.tensor(x)
    loss = nn.CrossEntropyLoss()(model(x), mt.tensor(y))
    loss.backward()
    with_grad = sorted(n for n, p in model.named_parameters() if p.grad is not None)
    assert with_grad == ["body.0.lora_A", "body.0.lora_B", "body.2.lora_A", "body.2.lora_B",
                         "head.bias", "head.weight"]
    for p in lora_parameters(model):  # central differences, float64
        analytic, eps = p.grad.numpy(), 1e-6
        for index in [(0, 0), (p.shape[0] // 2, 1), (p.shape[0] - 1, p.shape[1] - 1)]:
            old = p.data[index]
            p.data[index] = old + eps
            up = nn.CrossEntropyLoss()(model(x), mt.tensor(y)).item()
            p.data[index] = old - eps
            down = nn.CrossEntropyLoss()(model(x), mt.tensor(y)).item()
            p.data[index] = old
            assert abs((up - down) / (2 * eps) - analytic[index]) < 1e-7


def test_lora_fine_tuning_moves_only_a_b_and_head_with_a_rank_r_update_and_merges_exactly():
    model, data = _model(), _task()
    replace_head(model, 3, generator=2)
    before = _values(model)
    result = fine_tune(model, data, "lora", steps=30, lora=LoRAConfig(r=2, alpha=4.0, merge=False))
    after = _values(model)
    for name in ("body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias"):
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)
    assert not np.array_equal(after["head.weight"], before["head.weight"])
    for layer in (model.body[0], model.body[2]):
        assert np.abs(layer.lora_B.detach().numpy()).max() > 0
        assert np.linalg.matrix_rank(layer.delta_weight()) <= 2
    # r (in + out) per body layer, plus the head: 2·(8 + 7) + 2·(7 + 6) + 6·3 + 3
    assert result.trainable_parameters == 2 * 15 + 2 * 13 + 21
    x = mt.tensor(data[0])
    unmerged = model(x).detach().numpy()
    assert merge_lora(model) == ["body.0", "body.2"]
    np.testing.assert_allclose(model(x).detach().numpy(), unmerged, rtol=1e-12, atol=1e-12)
    assert list(model.state_dict()) == list(before)  # the usual keys: a plain MLP again
    merged_update = model.body[0].weight.detach().numpy() - before["body.0.weight"]
    assert np.linalg.matrix_rank(merged_update) <= 2


def test_lora_merged_by_default_saves_and_loads_as_a_plain_mlp(tmp_path):
    model, (x, y) = _model(np.float32), _task()
    data = (x.astype(np.float32), y)
    replace_head(model, 3, generator=2)
    twin = copy.deepcopy(model)
    fine_tune(model, data, "lora", steps=10)  # r = 4, α = 8, merged
    fine_tune(twin, data, "lora", steps=10, lora=LoRAConfig(merge=False))
    x = mt.tensor(data[0])
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    np.testing.assert_allclose(model(x).detach().numpy(), twin(x).detach().numpy(), rtol=1e-5, atol=1e-5)
    mt.save(model.state_dict(), tmp_path / "m.npz")
    fresh = nn.MLP([8, 7, 6, 3])
    fresh.load_state_dict(mt.load(tmp_path / "m.npz"))
    np.testing.assert_array_equal(fresh(x).detach().numpy(), model(x).detach().numpy())


def test_bitfit_moves_only_the_body_biases_and_the_head():
    model, data = _model(), _task()
    replace_head(model, 3, generator=2)
    before = _values(model)
    result = fine_tune(model, data, "bitfit", steps=20)
    after = _values(model)
    changed = sorted(n for n in before if not np.array_equal(before[n], after[n]))
    assert changed == ["body.0.bias", "body.2.bias", "head.bias", "head.weight"]
    assert result.trainable_parameters == 7 + 6 + 6 * 3 + 3
    assert result.phases[0].parameters == result.trainable_parameters


@pytest.mark.parametrize("strategy, expected", [
    ("full", 8 * 7 + 7 + 7 * 6 + 6 + 6 * 3 + 3), ("linear_probe", 6 * 3 + 3),
    ("lp_ft", 8 * 7 + 7 + 7 * 6 + 6 + 6 * 3 + 3)])
def test_trainable_parameters_count_each_parameter_once(strategy, expected):
    model = _model()
    replace_head(model, 3, generator=2)
    assert fine_tune(model, _task(), strategy, steps=4).trainable_parameters == expected


def test_the_command_line_offers_bitfit_and_lora_and_keeps_run_s_default_list():
    from minitransfer import cli

    parser = cli.build_parser()
    assert parser.parse_args(["run", "--strategies", "bitfit,lora"]).strategies == ["bitfit", "lora"]
    assert parser.parse_args(["run"]).strategies == ["scratch", "linear_probe", "full", "lp_ft"]
    assert parser.parse_args(["finetune", "--strategy", "lora"]).strategy == "lora"


@pytest.mark.parametrize("strategy", ["lora", "bitfit"])
def test_a_captured_fine_tuning_run_equals_the_eager_one_over_fifty_steps(strategy, monkeypatch):
    """Issue 20's check for the two new strategies: float64, every loss and every parameter
    (LoRA's A and B unmerged) within 1e-12 relative; and the step really was captured (one tape
    per batch shape, no fallback to eager, which would warn)."""
    import warnings

    from minitransfer import replay

    tapes = []
    real_tape = replay.Tape
    monkeypatch.setattr(replay, "Tape", lambda *args: tapes.append(args[2].shape) or real_tape(*args))
    x, y = _task(n=48)
    runs = {}
    for capture in (False, True):
        model = _model()
        replace_head(model, 3, generator=2)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = fine_tune(model, (x, y), strategy, steps=50, batch_size=16, capture=capture,
                               lora=LoRAConfig(r=2, alpha=4.0, merge=False))
        runs[capture] = (result.history.losses, _values(model))
    assert tapes == [(16, 8)]  # 48 = 3 × 16: one batch shape, recorded once
    (eager_losses, eager), (captured_losses, captured) = runs[False], runs[True]
    assert len(eager_losses) == 50
    np.testing.assert_allclose(captured_losses, eager_losses, rtol=1e-12, atol=0)
    assert list(captured) == list(eager)
    for name, value in eager.items():
        np.testing.assert_allclose(captured[name], value, rtol=0, atol=1e-12 * np.abs(value).max(),
                                   err_msg=name)
