"""``minitransfer scale`` (issue 19): snapshots, the compute bookkeeping, break-even, the report."""

import json

import numpy as np
import pytest

from minitransfer import cli, nn
from minitransfer.commands import common
from minitransfer.commands.scale import run
from minitransfer.pretraining import break_even, finetune_compute
from minitransfer.scaling import pretrain_snapshots
from minitransfer.transfer import pretrain


def test_a_snapshot_of_a_long_run_is_a_short_run():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((50, 4)).astype(np.float32), rng.integers(0, 3, 50)
    snapshots = pretrain_snapshots(nn.MLP([4, 6, 3], generator=0), (x, y), [3, 11], seed=2,
                                   batch_size=8)
    short = nn.MLP([4, 6, 3], generator=0)
    pretrain(short, (x, y), steps=11, seed=2, batch_size=8)
    for name, value in short.state_dict().items():
        np.testing.assert_array_equal(snapshots[11][name].numpy(), value.numpy(), err_msg=name)
    assert not np.array_equal(snapshots[3]["head.weight"].numpy(), snapshots[11]["head.weight"].numpy())


def test_break_even_by_hand():
    assert break_even(100, 2, 7) == 21  # 100 + 21·2 = 142 < 147 = 21·7, while 20 tasks: 140 = 140
    assert break_even(100, 3, 7) == 26  # 25 tasks cost exactly the same: not yet cheaper
    assert break_even(100, 7, 7) is None and break_even(100, 8, 7) is None
    assert break_even(100, None, 7) is None


def test_finetune_compute_walks_the_phases():
    phases = [[10, 100], [10, 1000]]  # a linear probe for 10 steps, then everything
    assert finetune_compute(phases, 15, batch_size=2) == 10 * 2 * 100 + 5 * 2 * 1000
    assert finetune_compute(phases, 4, batch_size=2) == 4 * 2 * 100
    assert finetune_compute(phases, None, batch_size=2) is None


TINY = ["scale", "--ms", "10,all", "--pretrain-steps", "5,20", "--finetune-steps", "20", "--k", "5",
        "--seeds", "2", "--hidden", "16,8"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The command on a tiny configuration, twice into two folders (the same seeds)."""
    folders = [tmp_path_factory.mktemp(f"scale{i}") for i in range(2)]
    for folder in folders:
        args = cli.build_parser().parse_args(TINY + ["--out", str(folder)])
        assert run(args, log=lambda *a: None) == 0
    return folders


def test_scale_writes_its_tables_and_plots(tiny_run):
    folder = tiny_run[0]
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["scale.json", "scale.md", "scale_gain_vs_m.png", "scale_gain_vs_steps.png",
                     "scale_methods.png"]
    document = json.loads((folder / "scale.json").read_text())
    tables = document["tables"]
    assert [r["strategy"] for r in tables["m"]] == ["scratch", "m=10", "m=451"]
    assert [r["strategy"] for r in tables["steps"]] == ["scratch", "5 steps", "20 steps"]
    assert [r["strategy"] for r in tables["strategy"]] == ["scratch", "full", "linear_probe", "lp_ft"]
    methods = [r["strategy"] for r in tables["method"]]
    assert methods[:3] == ["scratch", "plain", "early stopping"] and len(methods) == 10
    plain = tables["method"][1]
    assert plain["pretrain_macs"] == 20 * 64 * (3 * (64 * 16 + 16 * 8 + 8 * 5) - 64 * 16)
    coreset = next(r for r in tables["method"] if r["strategy"] == "coreset random m/4")
    assert coreset["pretrain_macs"] == 5 * 64 * (3 * (64 * 16 + 16 * 8 + 8 * 5) - 64 * 16)
    assert all("vs_plain" in r for r in tables["method"][2:])
    text = (folder / "scale.md").read_text()
    for phrase in ("## Gain vs pretraining data m", "## When pretraining pays for itself",
                   "## Efficient pretraining vs plain pretraining", "Pretrain once, fine-tune many",
                   "break-even tasks", "T²", "Early stopping stopped before the budget of 20 steps"):
        assert phrase in text


def test_scale_repeats_exactly_with_the_same_seeds(tiny_run):
    first, second = (json.loads((folder / "scale.json").read_text()) for folder in tiny_run)
    assert common.without_timings(first) == common.without_timings(second)
    assert first["timings"]
