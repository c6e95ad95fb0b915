"""The main job (`minitransfer run`), its statistics and its command line."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from minitransfer.experiment import compare, confidence_interval, split_target, summarize
from minitransfer.report import format_table, markdown


def _cli(*args, cwd=None):
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "minitransfer", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=env)


def test_confidence_interval_by_hand():
    # differences 1, 2, 3: mean 2, s = 1, t(0.975, 2) = 4.302653 -> 2 ± 4.302653 / sqrt(3)
    low, high = confidence_interval([1.0, 2.0, 3.0])
    assert low == pytest.approx(2 - 4.302653 / 3**0.5) and high == pytest.approx(2 + 4.302653 / 3**0.5)


def _run(strategy, seed, accuracy, curve=((10, 0.5), (20, 0.6))):
    return {"strategy": strategy, "k": 5, "seed": seed, "accuracy": accuracy, "curve": list(curve)}


def test_summary_pairs_by_seed_and_flags_negative_transfer():
    results = [
        _run("scratch", 0, 0.80, [(10, 0.5), (20, 0.7)]),
        _run("scratch", 1, 0.70, [(10, 0.5), (20, 0.8)]),
        _run("probe", 0, 0.60, [(10, 0.75), (20, 0.6)]),
        _run("probe", 1, 0.51, [(10, 0.3), (20, 0.51)]),
    ]
    rows = {r["strategy"]: r for r in summarize(results)}
    assert rows["scratch"]["gain_vs_scratch"] is None and rows["scratch"]["mean"] == pytest.approx(0.75)
    assert rows["scratch"]["verdict"] is None and rows["scratch"]["negative_transfer"] is None
    probe = rows["probe"]
    assert probe["gain_vs_scratch"] == pytest.approx(-0.195)  # (-0.20 + -0.19) / 2
    # differences -0.20, -0.19: s = 0.00707, t(0.975, 1) = 12.706 -> half width 0.0635
    assert probe["ci95"][1] == pytest.approx(-0.195 + 12.7062 * 0.0070711 / 2**0.5, rel=1e-4)
    assert probe["negative_transfer"] is True and probe["verdict"] == "hurt"
    assert probe["verdict_text"] == "hurt (interval below 0)"
    # steps to target: scratch's mean final *validation* accuracy (last curve points 0.7, 0.8)
    assert rows["scratch"]["target_accuracy"] == pytest.approx(0.75)
    assert probe["steps_to_target"] == 10 and probe["seeds_reaching_target"] == 1


def test_summary_with_one_seed_is_undecided_not_negative():
    rows = {r["strategy"]: r for r in summarize([_run("scratch", 0, 0.9), _run("probe", 0, 0.3)])}
    probe = rows["probe"]
    assert probe["gain_vs_scratch"] == pytest.approx(-0.6) and probe["n_paired"] == 1
    assert all(math.isnan(bound) for bound in probe["ci95"])
    assert probe["negative_transfer"] is None  # undecided, not "no negative transfer"
    assert probe["verdict"] == "undecided" and probe["verdict_text"] == "undecided (one seed)"
    table = format_table(list(rows.values()))
    assert "undecided (one seed)" in table and "[no interval: 1 seed]" in table


def test_summary_interval_straddling_zero_is_not_negative_transfer():
    # differences -0.10, +0.02, -0.04: mean -0.04 < 0, but the interval holds 0
    results = [_run("scratch", s, 0.5) for s in range(3)]
    results += [_run("probe", s, 0.5 + d) for s, d in enumerate((-0.10, 0.02, -0.04))]
    probe = {r["strategy"]: r for r in summarize(results)}["probe"]
    low, high = probe["ci95"]
    assert probe["gain_vs_scratch"] == pytest.approx(-0.04) and low < 0 < high
    # s = 0.06, t(0.975, 2) = 4.302653: -0.04 ± 4.302653 · 0.06 / √3
    assert high == pytest.approx(-0.04 + 4.302653 * 0.06 / 3**0.5, rel=1e-5)
    assert probe["negative_transfer"] is False and probe["verdict"] == "no_difference"


def test_summary_uses_exact_t_quantiles_for_any_number_of_seeds():
    # four seeds, differences 0.1, 0.2, 0.3, 0.4: half width t(0.975, 3) · s / 2, t = 3.182446
    results = [_run("scratch", s, 0.5) for s in range(4)]
    results += [_run("probe", s, 0.5 + 0.1 * (s + 1)) for s in range(4)]
    probe = {r["strategy"]: r for r in summarize(results)}["probe"]
    s = (sum((0.1 * (i + 1) - 0.25) ** 2 for i in range(4)) / 3) ** 0.5
    assert probe["ci95"][1] - probe["gain_vs_scratch"] == pytest.approx(3.182446 * s / 2, rel=1e-6)


def test_summary_with_mismatched_seeds_pairs_gain_and_interval_on_the_same_seeds():
    # probe ran seeds 0-3, scratch only 0-2: mean and n_seeds use all four seeds of probe,
    # gain, interval and verdict the three paired ones
    results = [_run("scratch", s, 0.5) for s in range(3)]
    results += [_run("probe", s, a) for s, a in enumerate((0.6, 0.7, 0.8, 0.1))]
    probe = {r["strategy"]: r for r in summarize(results)}["probe"]
    assert probe["n_seeds"] == 4 and probe["n_paired"] == 3
    assert probe["mean"] == pytest.approx(0.55)
    assert probe["gain_vs_scratch"] == pytest.approx(0.2)  # differences 0.1, 0.2, 0.3
    assert probe["ci95"][0] == pytest.approx(0.2 - 4.302653 * 0.1 / 3**0.5, rel=1e-5)


def test_summary_reads_many_comparisons_together_with_holm():
    results = [_run("scratch", s, 0.5) for s in range(3)]
    gains = {"a": (0.30, 0.31, 0.32), "b": (0.03, 0.05, 0.04), "c": (0.01, -0.01, 0.0),
             "d": (0.02, -0.02, 0.01)}
    for name, ds in gains.items():
        results += [_run(name, s, 0.5 + d) for s, d in enumerate(ds)]
    rows = {r["strategy"]: r for r in summarize(results)}
    assert rows["b"]["verdict"] == "helped"  # alone: the interval is above 0 (p = 0.020)
    assert rows["b"]["p_holm"] == pytest.approx(3 * rows["b"]["p_value"])  # 2nd smallest of 4
    assert rows["b"]["verdict_holm"] == "no_difference" and rows["a"]["verdict_holm"] == "helped"
    assert "verdicts stand: a at k=5 (helped)." in markdown({}, list(rows.values()))


def test_quick_run_writes_a_well_formed_report_and_plots(tmp_path):
    out = tmp_path / "run"
    done = _cli("run", "--quick", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "gain vs scratch" in done.stdout and "lp_ft" in done.stdout
    report = json.loads((out / "report.json").read_text())
    assert {"config", "summary", "results"} <= set(report)
    assert len(report["results"]) == 4 * 2 * 2  # strategies x ks x seeds
    for record in report["summary"]:
        assert {"strategy", "k", "mean", "std", "n_seeds", "n_paired", "gain_vs_scratch", "ci95",
                "negative_transfer", "verdict", "verdict_text", "verdict_holm"} <= set(record)
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


def _tiny_task():
    from minitransfer.experiment import Task

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 6)) * 3

    def draw(n):
        y = np.arange(n) % 3
        return (centres[y] + rng.normal(size=(n, 6))).astype(np.float32), y.astype(np.int64)

    return Task("tiny", draw(60), draw(48), draw(30), 3, 3)


def test_split_target_carves_a_fixed_balanced_validation_set_before_the_k_examples():
    task = _tiny_task()
    (pool_x, pool_y), (val_x, val_y) = split_target(task)
    assert np.bincount(val_y).tolist() == [4, 4, 4]  # round(0.25 · 16) per class
    assert len(pool_y) + len(val_y) == 48
    pool_rows, val_rows = {r.tobytes() for r in pool_x}, {r.tobytes() for r in val_x}
    assert not pool_rows & val_rows and pool_rows | val_rows == {r.tobytes() for r in task.target_train[0]}
    np.testing.assert_array_equal(split_target(task)[1][0], val_x)  # the same set every call


def test_compare_curves_on_validation_and_reads_the_test_set_once_per_run(monkeypatch):
    from minitransfer import experiment
    from minitransfer.transfer import strategies

    task = _tiny_task()
    (_, val_y), test_x = split_target(task)[1], task.target_test[0]
    seen = {"test_in_experiment": 0, "test_in_fine_tune": 0, "validation_in_fine_tune": 0}

    def spy(where, real):
        def evaluate(model, data, *args, **kwargs):
            if data[0] is test_x:
                seen[f"test_in_{where}"] += 1
            elif where == "fine_tune" and len(data[1]) == len(val_y):
                seen["validation_in_fine_tune"] += 1
            return real(model, data, *args, **kwargs)
        return evaluate

    monkeypatch.setattr(experiment, "evaluate", spy("experiment", experiment.evaluate))
    monkeypatch.setattr(strategies, "evaluate", spy("fine_tune", strategies.evaluate))
    results = compare(task, ["scratch", "linear_probe"], [2, None], [0], hidden=8, pretrain_steps=5,
                      finetune_steps=6, batch_size=8, log=lambda *_: None)
    assert len(results) == 4 and seen["test_in_experiment"] == 4 and seen["test_in_fine_tune"] == 0
    assert seen["validation_in_fine_tune"] == 4 and all(r["curve"] == r["curve"][-1:] for r in results)
    all_k = [r for r in results if r["k"] == "all"]
    assert {r["train_examples"] for r in all_k} == {48 - 12}  # k = all: the pool less validation


def test_the_main_job_runs_five_seeds_by_default():
    from minitransfer.cli import build_parser

    assert build_parser().parse_args(["run"]).seeds == [0, 1, 2, 3, 4]
    assert build_parser().parse_args(["run", "--seeds", "3"]).seeds == [0, 1, 2]


def test_make_task_subsamples_the_jittered_source_as_if_every_copy_had_been_made():
    """make_task shifts only the source rows it keeps; they must be the rows that jittering all
    copies and then subsampling gives (the construction it replaced, written out here)."""
    from minitransfer.data import digits, train_test_split, transforms
    from minitransfer.experiment import make_task

    task = make_task("digits", "jitter", source_copies=3, max_source=500)
    ds = digits()
    x_train, _, y_train, _ = train_test_split(ds.x, ds.y, test_fraction=0.5, seed=0)
    clean, labels = x_train[y_train < 5], y_train[y_train < 5]
    every = np.concatenate([transforms.jitter(clean, 2, seed=s) for s in range(3)])
    keep = np.random.default_rng(0).permutation(len(every))[:500]
    np.testing.assert_array_equal(task.source[0], every[keep])
    np.testing.assert_array_equal(task.source[1], np.tile(labels, 3)[keep])
    np.testing.assert_array_equal(task.source_images, np.tile(np.arange(len(labels)), 3)[keep])
