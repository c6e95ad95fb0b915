"""Time one training step of the document's 784-128-10 MLP, float32, against a NumPy floor.

One step = forward, cross-entropy, backward, SGD update, for

  (a) minitransfer: nn.MLP([784, 128, 10]), nn.CrossEntropyLoss, optim.SGD
      (zero_grad, forward, loss, backward, step, as a training loop writes them);
  (b) the floor: the same network written by hand in NumPy (``_networks.make_floor``):
      5 matrix products by ``np.dot``, since the input needs no gradient;
  (c) PyTorch CPU, when it is installed, with the same number of threads.

The contenders run in interleaved rounds in one process, so that a busy neighbour slows all of
them alike; the figures are medians over the rounds of the time per step.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/bench_step.py
    ... bench_step.py --threads 2 --json step.json
"""

import argparse
import json
import time

import _common


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    _common.add_thread_option(parser)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 256])
    parser.add_argument("--rounds", type=int, default=21, help="interleaved rounds (default 21)")
    parser.add_argument("--seconds", type=float, default=0.05,
                        help="time per contender per round (default 0.05 s)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall: time.perf_counter (default); cpu: time.process_time, the CPU "
                             "time of every thread of this process, which a busy machine disturbs "
                             "less (only meaningful with --threads 1)")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return parser.parse_args()


ARGS = parse_args()
_common.set_threads(ARGS.threads)  # before NumPy and PyTorch load their thread pools

import _networks  # noqa: E402  (imports NumPy)

CLOCK = time.perf_counter if ARGS.clock == "wall" else time.process_time


def time_per_step(step, seconds):
    """Seconds per call of ``step``, over as many calls as fit in about ``seconds``."""
    calls, start = 0, CLOCK()
    while True:
        step()
        calls += 1
        elapsed = CLOCK() - start
        if elapsed >= seconds:
            return elapsed / calls


def bench_batch(batch):
    x, y = _networks.make_batch(batch)
    weights = _networks.initial_weights()
    contenders = {"minitransfer": _networks.make_minitransfer(x, y, weights),
                  "floor": _networks.make_floor(x, y, weights)}
    torch_step = None if ARGS.no_torch else _networks.make_torch(x, y, weights, ARGS.threads)
    if torch_step is not None:
        contenders["torch"] = torch_step
    for step in contenders.values():  # warm up: the first calls allocate and load code
        for _ in range(20):
            step()
    times = {name: [] for name in contenders}
    for _ in range(ARGS.rounds):
        for name, step in contenders.items():
            times[name].append(time_per_step(step, ARGS.seconds))
    result = {name: _common.median(values) * 1e6 for name, values in times.items()}
    result["minitransfer/floor"] = result["minitransfer"] / result["floor"]
    if "torch" in result:
        result["minitransfer/torch"] = result["minitransfer"] / result["torch"]
    return result


def torch_version():
    if ARGS.no_torch:
        return None
    try:
        import torch
    except ImportError:
        return None
    return f"{torch.__version__}, {torch.get_num_threads()} threads"


def main():
    print(f"bench_step: 784-128-10 MLP, float32, one SGD step; threads={ARGS.threads}, "
          f"clock={ARGS.clock}")
    results = {batch: bench_batch(batch) for batch in ARGS.batches}
    report = _common.blas_report()
    report.append(f"torch {torch_version() or 'not installed (or --no-torch): no PyTorch column'}")
    for line in report:
        print("  " + line)
    print(f"{'batch':>5}  {'minitransfer':>12}  {'floor':>8}  {'torch':>8}  {'mt/floor':>8}  "
          f"{'mt/torch':>8}")
    for batch, r in results.items():
        torch_us = f"{r['torch']:6.0f}µs" if "torch" in r else f"{'-':>8}"
        torch_ratio = f"{r['minitransfer/torch']:8.2f}" if "torch" in r else f"{'-':>8}"
        print(f"{batch:>5}  {r['minitransfer']:10.0f}µs  {r['floor']:6.0f}µs  {torch_us}  "
              f"{r['minitransfer/floor']:8.2f}  {torch_ratio}")
    print(f"(µs per step: medians of {ARGS.rounds} interleaved rounds)")
    if ARGS.json:
        record = {"benchmark": "bench_step", "threads": ARGS.threads, "clock": ARGS.clock,
                  "rounds": ARGS.rounds, "environment": report, "unit": "µs per step",
                  "batches": {str(batch): r for batch, r in results.items()}}
        with open(ARGS.json, "w") as file:
            json.dump(record, file, indent=2)
        print(f"wrote {ARGS.json}")


if __name__ == "__main__":
    main()
