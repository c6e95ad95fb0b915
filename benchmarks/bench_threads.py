"""One BLAS thread or two? The measurement behind the package's default (minitransfer.threads).

Two figures, each with 1 and 2 threads side by side, so that a busy neighbour slows both alike:

  (a) one training step (forward, cross-entropy, backward, SGD) of the 784-128-10 MLP in
      float32 at batch 1, 64 and 256: rounds alternate between 1 and 2 threads in one process
      (``minitransfer.set_num_threads`` between rounds, never inside one); medians of the rounds;
  (b) the main job, ``minitransfer run`` (what ``make demo`` runs; ``--run-args`` to shrink it),
      each repeat in a fresh process with ``--threads 1`` then ``--threads 2``; every time is
      listed, and the reports of the two thread counts are compared (they must be identical).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/bench_threads.py
    ... bench_threads.py --repeats 2 --run-args="--seeds 1"     # a smaller main job
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

import _common

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THREAD_COUNTS = (1, 2)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 256])
    parser.add_argument("--rounds", type=int, default=21, help="rounds per thread count (default 21)")
    parser.add_argument("--seconds", type=float, default=0.05, help="time per round (default 0.05 s)")
    parser.add_argument("--repeats", type=int, default=3, help="main jobs per thread count (default 3)")
    parser.add_argument("--run-args", default="", help="extra options for 'minitransfer run', "
                        "e.g. --run-args='--seeds 1' (default: none, the main job as make demo runs it)")
    parser.add_argument("--skip-run", action="store_true", help="time the steps only")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return parser.parse_args()


def time_per_step(step, seconds):
    calls, start = 0, time.perf_counter()
    while True:
        step()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return elapsed / calls


def bench_steps(args):
    """{batch: {threads: (median, mean) µs per step}}, rounds alternating between thread counts.

    The median is the typical step; the mean is what a training run waits, stalls included."""
    import _networks

    import minitransfer as mt

    results = {}
    for batch in args.batches:
        x, y = _networks.make_batch(batch)
        step = _networks.make_minitransfer(x, y, _networks.initial_weights())
        times = {n: [] for n in THREAD_COUNTS}
        for n in THREAD_COUNTS:  # warm up both thread pools
            mt.set_num_threads(n)
            for _ in range(20):
                step()
        for _ in range(args.rounds):
            for n in THREAD_COUNTS:
                mt.set_num_threads(n)
                times[n].append(time_per_step(step, args.seconds))
        results[batch] = {n: (_common.median(values) * 1e6, sum(values) / len(values) * 1e6)
                          for n, values in times.items()}
    return results


CHILD = ("import sys; from minitransfer import cli, get_num_threads; code = cli.main(sys.argv[1:]); "
         "print(f'threads in effect: {get_num_threads()}'); sys.exit(code)")


def bench_main_job(args):
    """{threads: [seconds, ...]}, and whether every report.md was the same."""
    seconds = {n: [] for n in THREAD_COUNTS}
    reports = set()
    env = dict(os.environ, MPLBACKEND="Agg")
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            for n in THREAD_COUNTS:
                out = os.path.join(folder, f"run-{n}")
                command = [sys.executable, "-c", CHILD, "run", "--threads", str(n), "--out", out,
                           *shlex.split(args.run_args)]
                started = time.perf_counter()
                done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
                elapsed = time.perf_counter() - started
                if done.returncode != 0 or f"threads in effect: {n}" not in done.stdout:
                    sys.exit(f"minitransfer run --threads {n} failed:\n{done.stdout}\n{done.stderr}")
                seconds[n].append(elapsed)
                with open(os.path.join(out, "report.md"), encoding="utf-8") as file:
                    reports.add(file.read())
                print(f"  main job, repeat {repeat + 1}, {n} thread(s): {elapsed:.1f} s", flush=True)
    return seconds, len(reports) == 1


def main():
    args = parse_args()
    sys.path.insert(0, ROOT)  # the repository, when the package is not installed
    print(f"bench_threads: {os.cpu_count()} CPUs; load average before: "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for line in _common.blas_report():  # before any set_num_threads: NumPy's own default
        print("  " + line)
    steps = bench_steps(args)
    print(f"one SGD step of the 784-128-10 MLP, float32 (µs per step over {args.rounds} alternating "
          f"rounds: median / mean)")
    print(f"{'batch':>5}  {'1 thread':>13}  {'2 threads':>13}  {'2 / 1':>11}")
    for batch, r in steps.items():
        print(f"{batch:>5}  {r[1][0]:6.0f} /{r[1][1]:6.0f}  {r[2][0]:6.0f} /{r[2][1]:6.0f}  "
              f"{r[2][0] / r[1][0]:4.2f} / {r[2][1] / r[1][1]:4.2f}")
    record = {"benchmark": "bench_threads", "cpus": os.cpu_count(), "steps_us": steps}
    if not args.skip_run:
        print(f"main job: minitransfer run {args.run_args} (wall-clock s, each in a fresh process)")
        seconds, same = bench_main_job(args)
        for n, values in seconds.items():
            print(f"  {n} thread(s): {', '.join(f'{v:.1f}' for v in values)}  (median "
                  f"{_common.median(values):.1f} s)")
        print(f"  the reports of 1 and 2 threads are identical: {same}")
        record.update(main_job_seconds=seconds, run_args=args.run_args, identical_reports=same)
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        with open(args.json, "w") as file:
            json.dump(record, file, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
