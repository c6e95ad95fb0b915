"""Time one training step of the document's 784-128-10 MLP, float32, against a NumPy floor.

One step = forward, cross-entropy, backward, SGD update, for

  (a) eager: nn.MLP([784, 128, 10]), nn.CrossEntropyLoss, optim.SGD (zero_grad, forward,
      loss, backward, step, as a training loop writes them);
  (b) captured: the same step recorded once by ``minitransfer.capture`` and replayed;
  (c) the floor: the same network written by hand in NumPy (``_networks.make_floor``):
      5 matrix products (the input needs no gradient), each by ``np.dot`` or ``np.matmul``,
      whichever is faster for its shape; and "kept", the same with the update an engine
      must make, g kept (the floor scales its gradients in place, which ``p.grad`` forbids):
      θ −= η g in one BLAS pass as minitransfer's SGD makes it (``minitransfer.blas``);
  (d) PyTorch CPU, when it is installed;
  (e) "ops": the eager step's own NumPy calls with no engine around them
      (``_networks.make_eager_ops``). Eager minus ops is the engine's Python per step;
  (f) "lean": the same calls under the leanest eager engine, without minitransfer's checks
      and bookkeeping (``_lean_engine``): what those cost.

Each contender is timed with 1 and with 2 BLAS threads (``--threads``; switched with
threadpoolctl, and ``torch.set_num_threads`` for PyTorch) and compared at its best thread
count: a small matrix is often faster on one thread, and the floor is what NumPy can do at
*its* best. At each thread count the contenders run in interleaved rounds in one process, so
that a busy neighbour slows all of them alike; the figures are medians over the rounds of the
time per step.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/bench_step.py
    ... bench_step.py --threads 1 --json step.json
"""

import argparse
import json
import os
import time

import _common


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", default="1,2",
                        help="BLAS/PyTorch thread counts to try, comma-separated (default 1,2)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 256])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument("--seconds", type=float, default=0.03,
                        help="time per contender per round and thread count (default 0.03 s)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall: time.perf_counter (default); cpu: time.process_time, the CPU "
                             "time of every thread of this process, which a busy machine disturbs "
                             "less (only meaningful with --threads 1)")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()
    args.thread_counts = sorted({int(n) for n in args.threads.split(",")})
    return args


ARGS = parse_args()
# Thread pools are sized when the libraries load: give them the largest count tried; each
# round then limits them to the count it measures. PyTorch's idle OpenMP threads would spin and
# steal the cores the other contenders measure on; a passive wait keeps them asleep.
_common.set_threads(max(ARGS.thread_counts))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import _networks  # noqa: E402  (imports NumPy)

CLOCK = time.perf_counter if ARGS.clock == "wall" else time.process_time
NAMES = ("eager", "captured", "floor", "torch")


def thread_limit(threads):
    """A context that runs NumPy's BLAS (and PyTorch) with ``threads`` threads."""
    from threadpoolctl import threadpool_limits

    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and not ARGS.no_torch:
        torch.set_num_threads(threads)
    return threadpool_limits(limits=threads, user_api="blas")


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
    """{contender: {threads: µs per step}} for one batch size."""
    contenders = _networks.make_contenders(batch, with_torch=not ARGS.no_torch)
    for step in contenders.values():  # warm up: the first calls allocate and load code
        for _ in range(20):
            step()
    times = {name: {n: [] for n in ARGS.thread_counts} for name in contenders}
    # One thread count after the other, fewest first: BLAS threads keep spinning for a while
    # after a multi-threaded product and would slow a one-thread round that followed it.
    for threads in ARGS.thread_counts:
        with thread_limit(threads):
            for _ in range(ARGS.rounds):
                for name, step in contenders.items():
                    times[name][threads].append(time_per_step(step, ARGS.seconds))
    return {name: {n: _common.median(v) * 1e6 for n, v in by_threads.items()}
            for name, by_threads in times.items()}


def best(by_threads):
    """(µs, threads) at the best thread count."""
    threads = min(by_threads, key=by_threads.get)
    return by_threads[threads], threads


def main():
    print(f"bench_step: 784-128-10 MLP, float32, one SGD step; threads tried: "
          f"{ARGS.threads}, clock={ARGS.clock}")
    results = {batch: bench_batch(batch) for batch in ARGS.batches}
    report = _common.blas_report()
    report.append("torch " + (_torch_version() or "not installed (or --no-torch): no PyTorch column"))
    for line in report:
        print("  " + line)
    print("µs per step at each contender's best thread count (the count in brackets):")
    print(f"{'batch':>5}  {'eager':>11}  {'captured':>11}  {'floor':>11}  {'torch':>11}  "
          f"{'eager/floor':>11}  {'capt/floor':>10}  {'capt/kept':>9}  {'capt/torch':>10}")
    for batch, r in results.items():
        cells, at = [], {name: best(r[name]) for name in r}
        for name in NAMES:
            cells.append(f"{at[name][0]:7.0f} [{at[name][1]}]" if name in at else f"{'-':>11}")
        ratio = {name: at[name][0] / at["floor"][0] for name in at}
        versus_torch = f"{at['captured'][0] / at['torch'][0]:10.2f}" if "torch" in at else f"{'-':>10}"
        print(f"{batch:>5}  {'  '.join(cells)}  {ratio['eager']:11.2f}  {ratio['captured']:10.2f}  "
              f"{at['captured'][0] / at['kept'][0]:9.2f}  {versus_torch}")
    print("the eager step's own NumPy calls without the engine (ops), and the rest, the engine's "
          "Python, at one thread count:")
    for batch, r in results.items():
        n = min(ARGS.thread_counts)
        print(f"  batch {batch}, {n} thread(s): ops {r['ops'][n]:.0f} µs ({r['ops'][n] / r['floor'][n]:.2f}"
              f" x the floor), eager - ops {r['eager'][n] - r['ops'][n]:.0f} µs; the lean engine "
              f"{r['lean'][n]:.0f} µs ({r['lean'][n] / r['floor'][n]:.2f} x the floor)")
    print(f"(medians of {ARGS.rounds} interleaved rounds; every thread count, µs per step:)")
    for batch, r in results.items():
        print(f"  batch {batch}: " + "; ".join(
            f"{name} " + " ".join(f"{n}t {us:.0f}" for n, us in r[name].items()) for name in r))
    if ARGS.json:
        record = {"benchmark": "bench_step", "threads": ARGS.thread_counts, "clock": ARGS.clock,
                  "rounds": ARGS.rounds, "environment": report, "unit": "µs per step",
                  "batches": {str(batch): r for batch, r in results.items()}}
        with open(ARGS.json, "w") as file:
            json.dump(record, file, indent=2)
        print(f"wrote {ARGS.json}")


def _torch_version():
    if ARGS.no_torch:
        return None
    try:
        import torch
    except ImportError:
        return None
    return f"{torch.__version__}"


if __name__ == "__main__":
    main()
