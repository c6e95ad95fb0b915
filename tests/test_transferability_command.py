"""`minitransfer transferability` and `minitransfer advise` on a tiny grid: the files, the numbers
they hold read back with stats, the same JSON for the same seed, and the advice from --fit's rule."""

import json

import numpy as np
import pytest

from minitransfer import advisor, cli, stats
from minitransfer.commands import transferability as command
from minitransfer.commands.common import without_timings
from minitransfer.transferability import METHODS

TINY = ["transferability", "--targets", "jitter,rotate", "--budgets", "3", "--ks", "2,3",
        "--finetune-steps", "3", "--strategies", "lp_ft,full,lora", "--hidden", "8,6", "--seeds", "1"]


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """The grid's fixed `pretrain` checkpoint and bootstrap shrunk to test size; the rule to tmp."""
    monkeypatch.setattr(command, "PRETRAIN_COMMAND_CHECKPOINT", ((8,), 5))
    monkeypatch.setitem(command.DEFAULTS, "n_resamples", 100)
    monkeypatch.setattr(advisor, "RULE_PATH", str(tmp_path / "advisor_rule.json"))
    return tmp_path


def _run(argv):
    args = cli.build_parser().parse_args(argv)
    return command.run(args, log=lambda *a: None)


def test_the_grid_writes_its_files_and_its_numbers_read_back(tiny, monkeypatch):
    assert _run([*TINY, "--out", str(tiny / "one"), "--fit"]) == 0
    document = json.loads((tiny / "one" / "transferability.json").read_text())
    assert (tiny / "one" / "transferability.md").exists() and (tiny / "one" / "transferability.png").exists()
    pairs = document["pairs"]
    assert len(pairs) == 2 * 2 * 2  # targets × checkpoints (8-6@3, 8@5) × k
    assert sorted(pairs[0]["accuracy"]) == ["full", "linear_probe", "lora", "lp_ft"]
    assert pairs[0]["trainable"]["lora"] < pairs[0]["trainable"]["full"]
    assert len(document["tau"]) == len(METHODS) * 2 * 2
    row = document["tau"][0]  # logme at k = 2 against LP-FT, recomputed from the pairs
    chosen = [p for p in pairs if p["k"] == row["k"]]
    assert row["tau"] == pytest.approx(stats.kendall_tau([p["scores"]["logme"] for p in chosen],
                                                         [p["accuracy"]["lp_ft"] for p in chosen]))
    held = document["advisor"]["held_out"]
    regrets = [r["regret"]["advisor"] for r in document["advisor"]["held_out_rows"]]
    assert held["pairs"] == 8 and held["mean_regret"]["advisor"] == pytest.approx(np.mean(regrets))
    rule = json.loads((tiny / "advisor_rule.json").read_text())
    assert rule["rule"] == document["advisor"]["rule_on_all_pairs"]
    assert rule["held_out"] == held
    # the same seed gives the same JSON (timings aside); the plot is left out this time
    monkeypatch.setattr(command, "plot", lambda *args: None)
    assert _run([*TINY, "--out", str(tiny / "two")]) == 0
    again = json.loads((tiny / "two" / "transferability.json").read_text())
    assert without_timings(again) == without_timings(document)


def test_advise_applies_the_fitted_rule_to_a_pretrain_checkpoint(tiny, capsys):
    rule = advisor.Rule("logme", -0.5, "full", "lp_ft")
    (tiny / "advisor_rule.json").write_text(json.dumps({
        "rule": rule.to_dict(), "candidates": ["lp_ft", "full"],
        "fitted_on": {"data": "digits", "targets": ["jitter"], "checkpoints": ["128@2000"],
                      "finetune_steps": 300},
        "held_out": None}))
    assert cli.main(["pretrain", "--steps", "5", "--hidden", "8", "--out", str(tiny / "p.npz")]) == 0
    capsys.readouterr()
    assert cli.main(["advise", "--checkpoint", str(tiny / "p.npz"), "--target", "rotate", "--k", "5"]) == 0
    out = capsys.readouterr().out
    logme = float(out.split("logme ")[1].split(",")[0])
    expected = "full" if logme < -0.5 else "lp_ft"
    assert f"advice: {expected}\n" in out
    assert f"logme = {logme:.4g} {'<' if logme < -0.5 else '>='} -0.5, so {expected}" in out
    assert "note: the rule was measured on digits with bodies 128" in out  # an 8-unit body


def test_the_default_targets_are_written_into_the_settings_and_the_report(tiny, monkeypatch):
    from minitransfer import experiment

    monkeypatch.setattr(experiment, "TARGETS", ("jitter", "rotate"))  # the default list, shortened
    argv = [a for a in TINY if a not in ("--targets", "jitter,rotate")]
    assert _run([*argv, "--out", str(tiny / "default")]) == 0
    document = json.loads((tiny / "default" / "transferability.json").read_text())
    assert document["settings"]["targets"] == ["jitter", "rotate"]
    assert "targets jitter, rotate" in (tiny / "default" / "transferability.md").read_text()
