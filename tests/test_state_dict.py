"""Module.state_dict / load_state_dict: PyTorch's keys, strictness, and all-or-nothing loading."""

import numpy as np
import pytest

import minitransfer as mt
from minitransfer import nn


def snapshot(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def assert_unchanged(model, before):
    after = snapshot(model)
    assert after.keys() == before.keys()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])


def test_state_dict_round_trip_gives_the_same_network():
    source, target = nn.MLP([4, 5, 3], generator=0), nn.MLP([4, 5, 3], generator=1)
    x = mt.tensor(np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32))
    assert not np.array_equal(source(x).detach().numpy(), target(x).detach().numpy())
    result = target.load_state_dict(source.state_dict())
    assert result == ([], []) and result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(source(x).detach().numpy(), target(x).detach().numpy())
    # loading copies: the two networks do not share memory afterwards
    with mt.no_grad():
        source.head.bias.add_(1.0)
    assert not np.array_equal(source.head.bias.detach().numpy(), target.head.bias.detach().numpy())


def test_state_dict_values_are_detached_and_accept_arrays_back():
    model = nn.MLP([3, 2], generator=0)
    state = model.state_dict()
    assert not any(v.requires_grad for v in state.values())
    arrays = {k: np.full(v.shape, 0.5, dtype=np.float32) for k, v in state.items()}
    model.load_state_dict(arrays)
    assert np.all(model.head.weight.detach().numpy() == 0.5)


def test_strict_false_returns_missing_and_unexpected_keys():
    pretrained = nn.MLP([4, 5, 3], generator=0)
    new = nn.MLP([4, 5, 2], generator=1)
    head_before = snapshot(new)["head.weight"]
    body = {k: v for k, v in pretrained.state_dict().items() if not k.startswith("head.")}
    body["projection.weight"] = np.zeros((2, 2), dtype=np.float32)
    result = new.load_state_dict(body, strict=False)
    assert result.missing_keys == ["head.weight", "head.bias"]
    assert result.unexpected_keys == ["projection.weight"]
    assert type(result).__name__ == "IncompatibleKeys"
    np.testing.assert_array_equal(new.body[0].weight.detach().numpy(),
                                  pretrained.body[0].weight.detach().numpy())
    np.testing.assert_array_equal(new.head.weight.detach().numpy(), head_before)


def test_strict_loading_reports_missing_and_unexpected_keys_and_loads_nothing():
    model = nn.MLP([4, 5, 3], generator=0)
    before = snapshot(model)
    state = nn.MLP([4, 5, 3], generator=1).state_dict()
    del state["head.bias"]
    state["extra"] = np.zeros(1, dtype=np.float32)
    with pytest.raises(ValueError) as error:
        model.load_state_dict(state)
    assert "missing key: head.bias" in str(error.value)
    assert "unexpected key: extra" in str(error.value)
    assert "nothing was loaded" in str(error.value)
    assert_unchanged(model, before)


def test_every_shape_mismatch_is_listed_and_nothing_is_loaded():
    model = nn.MLP([4, 5, 3], generator=0)
    before = snapshot(model)
    wrong = nn.MLP([4, 6, 3], generator=1).state_dict()  # hidden size 6 instead of 5
    with pytest.raises(ValueError) as error:
        model.load_state_dict(wrong)
    message = str(error.value)
    for key, theirs, ours in [("body.0.weight", (6, 4), (5, 4)), ("body.0.bias", (6,), (5,)),
                              ("head.weight", (3, 6), (3, 5))]:
        assert (f"size mismatch for {key}: the checkpoint has shape {theirs}, the model has "
                f"shape {ours}") in message
    assert "head.bias" not in message  # its shape (3,) matches
    assert_unchanged(model, before)  # not even head.bias, which would have fitted


def test_dtype_mismatch_and_non_arrays_are_errors_too():
    model = nn.MLP([3, 2], generator=0)
    before = snapshot(model)
    state = nn.MLP([3, 2], generator=1).double().state_dict()
    with pytest.raises(ValueError, match="dtype mismatch for head.weight: the checkpoint has "
                                         "float64, the model has float32"):
        model.load_state_dict(state)
    state = model.state_dict()
    state["head.bias"] = [0.0, 0.0]
    with pytest.raises(ValueError, match="head.bias: expected a Tensor or array, got list"):
        model.load_state_dict(state)
    with pytest.raises(TypeError, match="expected a dict"):
        model.load_state_dict([1, 2])
    assert_unchanged(model, before)


def test_a_double_model_loads_a_double_state_dict():
    model = nn.MLP([3, 2], generator=0).double()
    model.load_state_dict(nn.MLP([3, 2], generator=1).double().state_dict())
    assert model.head.weight.dtype == np.float64
