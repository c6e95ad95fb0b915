"""The prepared GPU check (issue: the CuPy backend, proved on a real GPU). Prints one table.

Run on a machine with an NVIDIA GPU, CuPy and (optionally) PyTorch with CUDA:

    python benchmarks/gpu_check.py            # about 1-3 minutes
    python benchmarks/gpu_check.py --skip-tests

It (1) runs the op test suite with the CuPy backend (pytest, the 'cupy' parameter of
tests/test_engine_gradients.py and the CUDA DataLoader test); (2) trains the 784-128-10 MLP
for 50 steps on CPU and on GPU from the same seed and compares the losses (float64: 1e-9
relative, float32: 1e-4); (3) times one training step at batch 64, 1,024 and 8,192 for
minitransfer on CuPy and for PyTorch CUDA. Every part reports what is missing instead of
crashing, so a half-equipped machine still gives a useful table.
"""

import argparse
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import minitransfer as mt  # noqa: E402
from minitransfer import backend, nn, optim  # noqa: E402


def run_op_tests():
    """pytest on the CuPy-parametrised engine tests; returns (passed?, summary line)."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "tests/test_engine_gradients.py", "tests/test_data_loader.py", "-k", "cupy or cuda"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return done.returncode == 0, (lines[-1] if lines else done.stderr.strip()[-200:])


def _batches(seed, batch, steps):
    rng = np.random.default_rng(seed)
    x = rng.random((steps, batch, 784), dtype=np.float64)
    y = rng.integers(0, 10, size=(steps, batch))
    return x, y


def train_losses(device, dtype, steps=50, batch=64, seed=0):
    """Losses of 50 SGD steps of the 784-128-10 MLP on fixed random batches."""
    model = nn.MLP([784, 128, 10], generator=seed, dtype=dtype, device=device)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    xs, ys = _batches(seed, batch, steps)
    losses = []
    for x, y in zip(xs, ys):
        opt.zero_grad()
        loss = loss_fn(model(mt.tensor(x.astype(dtype), device=device)), mt.tensor(y, device=device))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses)


def time_minitransfer(batch, repeats):
    import cupy

    model = nn.MLP([784, 128, 10], generator=0, device="cuda")
    opt = optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    x = mt.tensor(np.random.default_rng(0).random((batch, 784), dtype=np.float32), device="cuda")
    y = mt.tensor(np.arange(batch) % 10, device="cuda")

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    return _timed(step, repeats, cupy.cuda.Device().synchronize)


def time_torch(batch, repeats):
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("PyTorch has no CUDA device")
    net = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)).cuda()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.rand(batch, 784, device="cuda")
    y = torch.arange(batch, device="cuda") % 10

    def step():
        opt.zero_grad()
        loss_fn(net(x), y).backward()
        opt.step()

    return _timed(step, repeats, torch.cuda.synchronize)


def _timed(step, repeats, synchronize):
    for _ in range(10):  # warm-up: kernel compilation and caching allocators
        step()
    synchronize()
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeats):
            step()
        synchronize()
        rounds.append((time.perf_counter() - started) / repeats)
    return float(np.median(rounds))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-tests", action="store_true", help="skip the pytest part")
    args = parser.parse_args()
    rows = []
    problem = backend.cupy_problem()
    rows.append(("GPU usable by minitransfer", "yes" if problem is None else f"NO: {problem}"))
    if problem is not None:
        print("\n".join(f"{a:<44} {b}" for a, b in rows))
        return 1
    import cupy

    name = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    rows.append(("CuPy / device", f"{cupy.__version__} / {name}"))
    if not args.skip_tests:
        ok, line = run_op_tests()
        rows.append(("op tests on CuPy (pytest -k 'cupy or cuda')", ("pass: " if ok else "FAIL: ") + line))
    for dtype, tolerance in (("float64", 1e-9), ("float32", 1e-4)):
        cpu, gpu = train_losses("cpu", dtype), train_losses("cuda", dtype)
        worst = float(np.max(np.abs(cpu - gpu) / np.abs(cpu)))
        verdict = "pass" if worst <= tolerance else "FAIL"
        rows.append((f"50 steps CPU vs GPU, {dtype} (max rel diff)",
                     f"{worst:.2e} (<= {tolerance:g}: {verdict})"))
    for batch, repeats in ((64, 200), (1024, 100), (8192, 50)):
        ours = time_minitransfer(batch, repeats)
        try:
            theirs = time_torch(batch, repeats)
            text = (f"minitransfer {ours * 1e6:8.1f} us   torch {theirs * 1e6:8.1f} us   "
                    f"ratio {ours / theirs:.2f}")
        except Exception as error:  # torch missing or without CUDA
            text = f"minitransfer {ours * 1e6:8.1f} us   torch: {type(error).__name__}: {error}"
        rows.append((f"training step, batch {batch}", text))
    width = max(len(a) for a, _ in rows)
    print("\n".join(f"{a:<{width}}  {b}" for a, b in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
