"""The main job (`minitransfer run`), its statistics and its command line."""

import json
import os
import subprocess
import sys

import pytest

from minitransfer.experiment import confidence_interval, summarize


def _cli(*args, cwd=None):
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "minitransfer", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=env)


def test_confidence_interval_by_hand():
    # differences 1, 2, 3: mean 2, s = 1, t(0.975, 2) = 4.303 -> 2 ± 4.303 / sqrt(3)
    low, high = confidence_interval([1.0, 2.0, 3.0])
    assert low == pytest.approx(2 - 4.303 / 3**0.5) and high == pytest.approx(2 + 4.303 / 3**0.5)


def test_summary_pairs_by_seed_and_flags_negative_transfer():
    curve = [(10, 0.5), (20, 0.8)]
    results = [
        {"strategy": "scratch", "k": 5, "seed": 0, "accuracy": 0.80, "curve": curve},
        {"strategy": "scratch", "k": 5, "seed": 1, "accuracy": 0.70, "curve": curve},
        {"strategy": "probe", "k": 5, "seed": 0, "accuracy": 0.60, "curve": [(10, 0.75), (20, 0.6)]},
        {"strategy": "probe", "k": 5, "seed": 1, "accuracy": 0.51, "curve": [(10, 0.3), (20, 0.51)]},
    ]
    rows = {r["strategy"]: r for r in summarize(results)}
    assert rows["scratch"]["gain_vs_scratch"] is None and rows["scratch"]["mean"] == pytest.approx(0.75)
    probe = rows["probe"]
    assert probe["gain_vs_scratch"] == pytest.approx(-0.195)  # (-0.20 + -0.19) / 2
    # differences -0.20, -0.19: s = 0.00707, t(0.975, 1) = 12.706 -> half width 0.0635
    assert probe["ci95"][1] == pytest.approx(-0.195 + 12.706 * 0.0070711 / 2**0.5, rel=1e-4)
    assert probe["negative_transfer"] is True
    assert rows["scratch"]["target_accuracy"] == pytest.approx(0.75)
    assert probe["steps_to_target"] == 10 and probe["seeds_reaching_target"] == 1


def test_quick_run_writes_a_well_formed_report_and_plots(tmp_path):
    out = tmp_path / "run"
    done = _cli("run", "--quick", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "gain vs scratch" in done.stdout and "lp_ft" in done.stdout
    report = json.loads((out / "report.json").read_text())
    assert {"config", "summary", "results"} <= set(report)
    assert len(report["results"]) == 4 * 2 * 2  # strategies x ks x seeds
    for record in report["summary"]:
        assert {"strategy", "k", "mean", "std", "gain_vs_scratch", "ci95", "negative_transfer"} <= set(record)
        assert 0.0 <= record["mean"] <= 1.0
    assert (out / "report.md").read_text().startswith("# Transfer report: digits:jitter")
    for png in ("accuracy_vs_k.png", "learning_curves.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((out / "results.jsonl").read_text().splitlines()) == 16


def test_command_line_mistakes_are_one_line_with_exit_code_2(tmp_path):
    for args, words in [
        (("run", "--strategies", "scratch,magic"), "unknown strategy magic"),
        (("run", "--target", "blur"), "invalid choice"),
        (("run", "--ks", "5,500", "--out", str(tmp_path / "r")), "k=500"),
        (("run", "--data", "fashion", "--data-dir", str(tmp_path / "nowhere")), "--data fashion"),
        (("run", "--seeds", "zero"), "number of seeds"),
        (("run", "--frobnicate"), "unrecognized arguments"),
    ]:
        done = _cli(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert words in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) <= 2


def test_pretrain_once_then_finetune_from_the_checkpoint(tmp_path):
    ckpt = tmp_path / "pre.npz"
    done = _cli("pretrain", "--steps", "100", "--out", str(ckpt))
    assert done.returncode == 0, done.stderr and ckpt.exists()
    done = _cli("finetune", "--checkpoint", str(ckpt), "--strategy", "lp_ft", "--k", "5", "--steps", "40")
    assert done.returncode == 0, done.stderr
    assert "held-out accuracy" in done.stdout and "reused" in done.stdout


def test_device_cuda_without_a_gpu_is_one_clear_line():
    import minitransfer as mt

    if mt.gpu_available():
        pytest.skip("a GPU is usable here")
    done = _cli("run", "--quick", "--device", "cuda")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "needs a usable GPU" in done.stderr and "cupy" in done.stderr.lower()


def test_lessons_command_lists_and_refuses_unknown_numbers():
    done = _cli("lessons")
    assert done.returncode == 0 and "01_tensors_and_graph.py" in done.stdout
    assert len([line for line in done.stdout.splitlines() if line[:2].isdigit()]) >= 11
    done = _cli("lessons", "99")
    assert done.returncode == 2 and "lesson 99: expected one of 1, 2" in done.stderr
