"""The thread policy: set_num_threads / get_num_threads, and where the default is applied.

Thread counts are read back through threadpoolctl's own ``threadpool_info()``, which asks each
BLAS library loaded in the process, so a setter that did nothing would fail these tests. A
process-wide setting must not leak into other tests: the fixture restores the count.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import minitransfer as mt
from minitransfer import cli, threads

ROOT = Path(__file__).resolve().parent.parent


def blas_counts():
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


@pytest.fixture(autouse=True)
def restore_threads(monkeypatch):
    monkeypatch.delenv(threads.ENVIRONMENT_VARIABLE, raising=False)
    before = mt.get_num_threads()
    yield
    mt.set_num_threads(before)


def test_set_then_get_round_trip_through_the_blas_library():
    assert blas_counts(), "NumPy's BLAS was not found by threadpoolctl"
    for n in (2, 1, 3):
        mt.set_num_threads(n)
        assert blas_counts() == [n] * len(blas_counts())
        assert mt.get_num_threads() == n


def test_numpy_integers_are_accepted_and_bad_counts_refused_before_anything_changes():
    mt.set_num_threads(np.int64(2))
    assert mt.get_num_threads() == 2
    for bad, error in [(0, ValueError), (-1, ValueError), (1.0, TypeError), ("2", TypeError),
                       (True, TypeError), (None, TypeError)]:
        with pytest.raises(error, match="set_num_threads: n must be a positive integer"):
            mt.set_num_threads(bad)
        assert blas_counts() == [2] * len(blas_counts())


def test_import_minitransfer_changes_no_thread_count_and_loads_no_threadpoolctl():
    code = ("import sys; from threadpoolctl import threadpool_info; import numpy; "
            "before = [i['num_threads'] for i in threadpool_info()]; "
            "del sys.modules['threadpoolctl']; "
            "import minitransfer, minitransfer.nn, minitransfer.train; "
            "loaded = 'threadpoolctl' in sys.modules; "
            "print(before, [i['num_threads'] for i in threadpool_info()], loaded)")
    env = dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2", MKL_NUM_THREADS="2")
    env.pop(threads.ENVIRONMENT_VARIABLE, None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[2]", "[2]", "False"]


def test_the_default_is_one_thread_unless_the_environment_says_otherwise(monkeypatch):
    assert threads.DEFAULT_THREADS == 1 and threads.default_num_threads() == 1
    monkeypatch.setenv("MINITRANSFER_THREADS", "3")
    assert threads.default_num_threads() == 3
    for text in ("two", "0", "1.5"):
        monkeypatch.setenv("MINITRANSFER_THREADS", text)
        with pytest.raises(ValueError, match=f"MINITRANSFER_THREADS must be a positive integer.*{text!r}"):
            threads.default_num_threads()


def test_every_command_has_a_threads_option():
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert {"gradcheck", "run", "pretrain", "finetune", "kinds", "lessons"} <= set(commands)
    for name, sub in commands.items():
        options = {o for action in sub._actions for o in action.option_strings}
        assert "--threads" in options, name


def test_the_command_line_applies_threads_before_the_command_runs(monkeypatch, capsys):
    seen = {}

    def command(args):
        seen["threads"] = mt.get_num_threads()
        return 0

    monkeypatch.setattr(cli, "_lessons_command", command)  # the handler build_parser installs
    mt.set_num_threads(2)
    assert cli.main(["lessons"]) == 0 and seen["threads"] == 1  # the default policy
    assert cli.main(["lessons", "--threads", "2"]) == 0 and seen["threads"] == 2
    monkeypatch.setenv("MINITRANSFER_THREADS", "3")
    assert cli.main(["lessons"]) == 0 and seen["threads"] == 3
    monkeypatch.setenv("MINITRANSFER_THREADS", "lots")
    with pytest.raises(SystemExit) as stop:
        cli.main(["lessons"])
    assert stop.value.code == 2
    assert "MINITRANSFER_THREADS must be a positive integer" in capsys.readouterr().err


def test_a_lesson_run_by_the_command_line_gets_its_thread_count(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda command, env: calls.append(env) or 0)
    assert cli.main(["lessons", "1", "--threads", "2", "--quick"]) == 0
    assert calls[0]["MINITRANSFER_THREADS"] == "2" and calls[0]["MINITRANSFER_QUICK"] == "1"


@pytest.mark.parametrize("variable, expected", [(None, "1 1"), ("2", "2 2")])
def test_a_lesson_applies_the_policy_when_it_starts(variable, expected):
    env = dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2", MPLBACKEND="Agg")
    env.pop(threads.ENVIRONMENT_VARIABLE, None)
    if variable is not None:
        env[threads.ENVIRONMENT_VARIABLE] = variable
        env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = "1"  # NumPy alone would use 1
    code = "import _lesson, minitransfer; print(_lesson.THREADS, minitransfer.get_num_threads())"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "lessons", env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected


def test_the_benchmarks_default_is_the_package_policy(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import _common

    assert _common.default_threads() == threads.DEFAULT_THREADS
    monkeypatch.setenv("MINITRANSFER_THREADS", "2")
    assert _common.default_threads() == 2
