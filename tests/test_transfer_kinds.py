"""The four kinds of transfer (document §2.2) run end to end and report measured rows."""

import json
import os
import subprocess
import sys

import numpy as np


def test_kinds_command_measures_all_four_kinds(tmp_path):
    out = tmp_path / "kinds.json"
    done = subprocess.run([sys.executable, "-m", "minitransfer", "kinds", "--seeds", "2", "--k", "5",
                           "--pretrain-steps", "150", "--finetune-steps", "40", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, MPLBACKEND="Agg"))
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())["rows"]
    kinds = {r["kind"] for r in rows}
    assert kinds == {"supervised -> supervised", "unsupervised -> supervised",
                     "supervised -> unsupervised", "unsupervised -> unsupervised"}
    for r in rows:
        assert np.isfinite(r["mean"]) and np.isfinite(r["baseline_mean"])
        assert r["transfer_helped"] == (r["gain"] > 0)
        low, high = r["ci95"]  # the verdict reads the printed interval (stats.verdict)
        assert r["verdict"] == ("helped" if low > 0 else "hurt" if high < 0 else "no_difference")
        assert r["verdict_text"] in done.stdout
        # the per-seed values the row summarises, in seed order (rows are compared paired by seed)
        assert len(r["values"]) == len(r["baseline_values"]) == 2
        assert np.isclose(r["mean"], np.mean(r["values"]))
        assert np.isclose(r["std"], np.std(r["values"], ddof=1))
        assert np.isclose(r["baseline_std"], np.std(r["baseline_values"], ddof=1))
    recon = next(r for r in rows if r["metric"] == "reconstruction MSE")
    assert recon["gain"] == recon["baseline_mean"] - recon["mean"]  # lower error is better
    assert "supervised -> unsupervised" in done.stdout
