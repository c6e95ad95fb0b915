"""The benchmarks' contenders (``benchmarks/_networks.py``) compute the same training step.

A ratio of times means something only when both sides do the same work: the eager step, the
captured step, the hand-written floor, the floor that keeps its gradients, the eager step's
NumPy calls alone ("ops") and (when installed) PyTorch must all arrive at the same weights after
the same steps from the same start. A floor that skipped a product, or a contender that trained
another network, fails here. The eager and captured steps, ops and the lean engine make the same
float32 calls in the same order, so they must agree bit for bit.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import _networks  # noqa: E402


@pytest.mark.parametrize("batch", [1, 5])
def test_every_contender_trains_the_same_network_to_the_same_weights(batch):
    start, steps = _networks.initial_weights(), _networks.make_contenders(batch)
    for step in steps.values():
        for _ in range(3):
            step()
    reference = [w.copy() for w in steps["floor"].weights()]
    assert [w.shape for w in reference] == [(128, 784), (128,), (10, 128), (10,)]
    # Every parameter moves by far more than the tolerance below, so a contender that skipped
    # the update of any one of them (or trained at another rate) would fail the comparison.
    for w, w0 in zip(reference, start):
        assert float(np.abs(w - w0).max()) > 1e-4
    for name, step in steps.items():
        for w, w_ref in zip(step.weights(), reference):
            np.testing.assert_allclose(w, w_ref, rtol=0, atol=1e-6, err_msg=name)
    for w_eager, *w_others in zip(*(steps[name].weights() for name in
                                    ("eager", "captured", "ops", "lean"))):
        for w_other in w_others:
            np.testing.assert_array_equal(w_eager, w_other)


def test_without_weights_the_engines_contenders_start_from_initial_weights():
    """bench_memory builds the eager and captured models once, from their own draws (a second
    model, drawn only to be copied, would count in their peak): the same start as the others."""
    x, y = _networks.make_batch(2)
    for make in (_networks.make_minitransfer, _networks.make_captured):
        for w, w0 in zip(make(x, y).weights(), _networks.initial_weights()):
            np.testing.assert_array_equal(w, w0)


def test_the_floor_runs_with_numpy_alone():
    """bench_memory compares each contender's peak memory with the floor's, whose process must
    hold NumPy alone: importing minitransfer there would raise the floor and flatter the ratio."""
    import subprocess

    benchmarks = Path(__file__).resolve().parent.parent / "benchmarks"
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import _networks; "
            "x, y = _networks.make_batch(4); "
            "step = _networks.make_floor(x, y, _networks.initial_weights(numpy_only=True)); step(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('minitransfer', 'torch')))")
    done = subprocess.run([sys.executable, "-c", code, str(benchmarks)], capture_output=True,
                          text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"
