"""Nothing lost, and the same answer twice: SIGKILL in the middle of saves and of `minitransfer run`,
`--resume`, and bit-identical reports across processes.

These tests start real processes and kill them with SIGKILL (no cleanup handler runs), which is
what a power cut, an out-of-memory kill or `kill -9` does.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import minitransfer as mt
from minitransfer.results_file import append_result, load_results, rewrite_results

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

# One BLAS thread per child: several children share the cores, and BLAS threads that spin
# while waiting for a core make three concurrent runs ten times slower, not three.
ENV = dict(os.environ, MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
           MKL_NUM_THREADS="1")

# A child that saves a big state dict again and again: version v holds arrays filled with v,
# 8 MB in all, so that each save takes tens of milliseconds and a kill lands inside one.
SAVER = """
import sys
import numpy as np
import minitransfer as mt
path, version = sys.argv[1], 0
while True:
    mt.save({f"layer{i}": np.full((512, 1024), version, dtype=np.float32) for i in range(4)}, path)
    print(version, flush=True)
    version += 1
"""


def test_a_checkpoint_killed_in_the_middle_of_a_save_loads_as_one_complete_version(tmp_path):
    path = tmp_path / "model.npz"
    rng = np.random.default_rng(0)
    leftovers = 0
    for attempt in range(4):
        child = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], stdout=subprocess.PIPE,
                                 text=True, env=ENV)
        first = child.stdout.readline()  # one complete version exists before the kill
        assert first.strip().isdigit(), first
        time.sleep(rng.uniform(0.0, 0.15))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        printed = [int(line) for line in [first, *child.stdout.read().split()] if line.strip()]
        child.stdout.close()
        assert child.returncode == -signal.SIGKILL
        state = mt.load(path)  # never a half-written archive
        assert sorted(state) == [f"layer{i}" for i in range(4)]
        versions = {float(v.numpy().min()) for v in state.values()} | {
            float(v.numpy().max()) for v in state.values()}
        assert len(versions) == 1, f"attempt {attempt}: arrays from different versions {versions}"
        version = versions.pop()
        # the last version reported as saved, or the next one when the kill came after its
        # rename and before its print
        assert printed[-1] <= version <= printed[-1] + 1, (attempt, printed[-1], version)
        assert all(v.shape == (512, 1024) and v.dtype == np.float32 for v in state.values())
        stray = [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
        leftovers += len(stray)
        for name in stray:  # what a kill inside save() leaves: a temporary file, never read
            assert name.startswith(".model.npz.")
            os.remove(tmp_path / name)
    # The kills did land inside save() (between creating the temporary file and the rename).
    assert leftovers >= 1


# ---- minitransfer run: killed, resumed, and compared with an uninterrupted run -----------------
RUN = ["run", "--ks", "5,10", "--seeds", "2", "--pretrain-steps", "100", "--finetune-steps", "30",
       "--strategies", "scratch,linear_probe"]
RUNS = 2 * 2 * 2  # ks x seeds x strategies


def _start(out, *extra):
    return subprocess.Popen([sys.executable, "-m", "minitransfer", *RUN, "--out", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def _finish(process):
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    return stdout


def _lines(path):
    return path.read_text().splitlines() if path.exists() else []


def without_timings(text):
    """report.json's text without the lines of its `seconds` fields (wall-clock time)."""
    kept = [line for line in text.splitlines() if not re.fullmatch(r'\s*"seconds": [0-9.e+-]+,?', line)]
    assert len(kept) == len(text.splitlines()) - RUNS  # exactly one timing per run was removed
    return "\n".join(kept)


def _records(path):
    return sorted(json.dumps({k: v for k, v in r.items() if k != "seconds"}, sort_keys=True)
                   for r in load_results(path))


def test_a_killed_run_resumes_to_the_report_of_an_uninterrupted_one(tmp_path):
    whole, killed, again = tmp_path / "whole", tmp_path / "killed", tmp_path / "again"
    reference = _start(whole)
    victim = _start(killed)
    results = killed / "results.jsonl"
    deadline = time.monotonic() + 120
    while len(_lines(results)) < 1 and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    assert victim.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    done_before = len(load_results(results))
    assert 1 <= done_before < RUNS, done_before  # killed in the middle
    assert not (killed / "report.json").exists()
    # A kill can also land in the middle of an append: simulate its cut-off last line.
    with open(results, "a") as f:
        f.write('{"strategy": "scratch", "k": 10, "seed": 1, "accur')

    resumed = _start(killed, "--resume")
    repeat = _start(again)  # the same command in yet another process: the determinism check
    resumed_log = _finish(resumed)
    _finish(reference), _finish(repeat)

    # --resume redid only the runs that were missing, then wrote the same report.
    assert resumed_log.count("pretrained") == (1 if done_before >= 4 else 2)
    lines = _lines(results)
    assert len(lines) == RUNS and all(json.loads(line) for line in lines)  # the cut line is gone
    assert _records(results) == _records(whole / "results.jsonl")
    report = json.loads((killed / "report.json").read_text())
    expected = json.loads((whole / "report.json").read_text())
    assert report["summary"] == expected["summary"] and report["config"] == expected["config"]
    assert without_timings((killed / "report.json").read_text()) == without_timings(
        (whole / "report.json").read_text())
    assert (killed / "report.md").read_bytes() == (whole / "report.md").read_bytes()

    # Determinism: two uninterrupted processes, the same bytes apart from the timings.
    assert without_timings((again / "report.json").read_text()) == without_timings(
        (whole / "report.json").read_text())
    assert (again / "report.md").read_bytes() == (whole / "report.md").read_bytes()
    seconds = [r["seconds"] for r in expected["results"]]
    assert len(seconds) == RUNS and all(s > 0 for s in seconds)


def test_a_cut_off_line_is_dropped_before_the_next_append(tmp_path):
    path = tmp_path / "results.jsonl"
    record = {"strategy": "full", "k": 5, "seed": 0, "accuracy": 0.5, "train_examples": 25,
              "steps": 10, "seconds": 0.1, "final_loss": 1.0, "curve": [[10, 0.5]]}
    path.write_text(json.dumps(record) + "\n" + "[1, 2]\n" + json.dumps({"strategy": "x"}) + "\n"
                    + json.dumps(record) + "\n" + '{"strategy": "full", "k": 5, "se')
    done = load_results(path)
    assert done == [record]  # not a record, incomplete, a duplicate and a cut-off line: skipped
    rewrite_results(path, done)
    append_result(path, dict(record, seed=1))
    assert [json.loads(line)["seed"] for line in _lines(path)] == [0, 1]
    before = path.stat().st_mtime_ns
    rewrite_results(path, load_results(path))  # nothing to repair: the file is not rewritten
    assert path.stat().st_mtime_ns == before


def test_ctrl_c_stops_a_run_in_one_line_and_keeps_the_finished_runs(tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "minitransfer", *RUN, "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.monotonic() + 120
    while not _lines(out / "results.jsonl") and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines() == [
        "minitransfer: interrupted (finished runs are kept: add --resume to continue)"]
    kept = load_results(out / "results.jsonl")
    assert 1 <= len(kept) < RUNS and len(_lines(out / "results.jsonl")) == len(kept)
