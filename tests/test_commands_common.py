"""The helpers every experiment command shares: features, flags, report files."""

import argparse
import json

import numpy as np
import pytest

from minitransfer import nn
from minitransfer.commands import common, options
from minitransfer.transfer import features, num_body_layers


def _by_hand(model, x):
    """h_l = ReLU(W_l h_{l-1} + b_l), computed in NumPy from the state dict."""
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    h, out = x, []
    for i in range(0, len(model.body), 2):
        h = np.maximum(h @ state[f"body.{i}.weight"].T + state[f"body.{i}.bias"], 0)
        out.append(h)
    return out


def test_features_are_the_activation_after_each_body_layer():
    model = nn.MLP([6, 5, 4, 3], generator=0)
    x = np.random.default_rng(0).standard_normal((7, 6)).astype(np.float32)
    layers = features(model, x)
    assert num_body_layers(model) == 2 and [h.shape for h in layers] == [(7, 5), (7, 4)]
    for got, expected in zip(layers, _by_hand(model, x)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(features(model, x, layer=-1), layers[1])
    np.testing.assert_allclose(features(model, x, layer=0, batch_size=3), layers[0], rtol=1e-6)


def test_features_walk_a_nested_body():
    model = nn.MLP([6, 5, 4, 3], generator=0)
    flat = features(model, np.ones((2, 6), np.float32))
    model.body = nn.Sequential(nn.Sequential(model.body[0], model.body[1]), model.body[2], model.body[3])
    nested = features(model, np.ones((2, 6), np.float32))
    for a, b in zip(flat, nested):
        np.testing.assert_array_equal(a, b)


def test_features_refuse_bad_input():
    model = nn.MLP([6, 5, 3], generator=0)
    with pytest.raises(ValueError, match=r"layer must be None or an index in \[-1, 1\).*got 1"):
        features(model, np.ones((2, 6)), layer=1)
    with pytest.raises(ValueError, match=r"x must be a 2-D array of shape \(n, d\).*\(6,\)"):
        features(model, np.ones(6))
    with pytest.raises(TypeError, match="features: the model needs a 'body' module and a 'head'"):
        features(nn.Linear(6, 3), np.ones((2, 6)))


def test_shared_flags_parse_and_refuse():
    parser = argparse.ArgumentParser()
    options.add_experiment_options(parser, strategies=(("full", "lp_ft"), ("full",)), k=10)
    args = parser.parse_args(["--hidden", "32,16", "--seeds", "2", "--k", "all"])
    assert args.hidden == (32, 16) and args.seeds == [0, 1] and args.k is None
    assert args.strategies == ["full"] and args.target == "jitter"
    for bad in (["--hidden", "32,0"], ["--strategies", "nope"], ["--k", "5,6"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)


def test_json_repeats_except_timings_and_has_no_nan(tmp_path):
    payload = {"b": np.float32(0.5), "a": [np.int64(3), float("nan")], "c": np.arange(2)}
    common.write_outputs(tmp_path, "x", payload, "# x\n", timings={"seconds": 1.23})
    first = (tmp_path / "x.json").read_text()
    common.write_outputs(tmp_path, "x", payload, "# x\n", timings={"seconds": 9.87})
    second = (tmp_path / "x.json").read_text()
    assert first != second
    a, b = json.loads(first), json.loads(second)
    assert common.without_timings(a) == common.without_timings(b)
    assert a["a"] == [3, None] and a["b"] == 0.5 and a["c"] == [0, 1] and "version" in a
    assert (tmp_path / "x.md").read_text() == "# x\n"


def test_markdown_table_and_mean_std():
    assert common.markdown_table(("a", "b"), [(1, 2)]) == "| a | b |\n|---|---|\n| 1 | 2 |"
    assert common.mean_std([0.5, 0.7], scale=100) == "60.0 ± 14.1"
    assert common.mean_std([0.5], scale=100) == "50.0 ± —"


def test_a_command_over_several_targets_takes_target_or_targets():
    parser = argparse.ArgumentParser()
    options.add_experiment_options(parser, target=None)
    assert common.targets_of(parser.parse_args([]), ("noise", "invert")) == ["noise", "invert"]
    assert common.targets_of(parser.parse_args(["--target", "rotate"]), ("noise",)) == ["rotate"]
    several = parser.parse_args(["--targets", "rotate,none"])
    assert common.targets_of(several, ("noise",)) == ["rotate", "none"]
    with pytest.raises(common.UsageError, match="--target and --targets: give one of them"):
        common.targets_of(parser.parse_args(["--target", "rotate", "--targets", "none"]), ("noise",))
