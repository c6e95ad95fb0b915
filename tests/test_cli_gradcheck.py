"""`python -m minitransfer gradcheck` lists every op and exits 0 when all pass."""

import subprocess
import sys

from minitransfer.op_registry import REGISTRY


def test_gradcheck_command_lists_every_op_and_passes():
    done = subprocess.run([sys.executable, "-m", "minitransfer", "gradcheck"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for case in REGISTRY:
        row = next(line for line in lines if line.startswith(case.name + " "))
        assert row.rstrip().endswith("pass"), row
    assert f"{len(REGISTRY)} of {len(REGISTRY)} ops pass" in done.stdout


def test_unknown_command_is_one_line_and_exit_code_2():
    done = subprocess.run([sys.executable, "-m", "minitransfer", "frobnicate"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "invalid choice" in done.stderr
