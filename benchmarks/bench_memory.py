"""Memory of 1,000 training steps of the 784-128-10 MLP: minitransfer against the NumPy floor.

Contenders: the eager step (zero_grad, forward, loss, backward, step), the captured step
(``minitransfer.capture``: recorded once, replayed on arrays allocated once) and the floor.
Each contender runs in its own subprocess, so that each peak is its own: the resident set
size (RSS) is read from /proc/self/status (VmRSS now, VmHWM the peak), or from
resource.getrusage where /proc is missing (peak only). Each builds its network once, as a
training program does: the engine's MLP from its own draws, the floor its NumPy arrays.
Reported per contender:

  - peak RSS over the whole run (imports included: importing minitransfer is part of its cost);
  - RSS growth from step 100 to step 1,000: a leak (a graph or gradient kept alive from one
    step to the next) shows up here, while the first steps' allocations do not.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/bench_memory.py
"""

import argparse
import json
import os
import subprocess
import sys

import _common

CONTENDERS = ("eager", "captured", "floor")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    _common.add_thread_option(parser)
    parser.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    parser.add_argument("--steps", type=int, default=1000, help="training steps (default 1000)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    return parser.parse_args()


def rss_mb():
    """(current RSS, peak RSS) in MB; current is None without /proc."""
    try:
        with open("/proc/self/status") as file:
            fields = dict(line.split(":", 1) for line in file if ":" in line)
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
    except OSError:
        import resource

        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
        return None, peak_kb / 1024


def child(args):
    """Train one contender and print its measurements as one JSON line."""
    _common.set_threads(args.threads)
    import _networks  # imports NumPy; the floor's process imports nothing else

    x, y = _networks.make_batch(args.batch)
    if args.child == "eager":
        step = _networks.make_minitransfer(x, y)
    elif args.child == "captured":
        step = _networks.make_captured(x, y)
    else:
        step = _networks.make_floor(x, y, _networks.initial_weights(numpy_only=True))
    after_import, _ = rss_mb()
    at_100 = None
    for i in range(1, args.steps + 1):
        step()
        if i == 100:
            at_100, _ = rss_mb()
    at_end, peak = rss_mb()
    growth = None if at_100 is None else at_end - at_100
    print(json.dumps({"after_setup_mb": after_import, "rss_at_100_mb": at_100,
                      "rss_at_end_mb": at_end, "peak_mb": peak, "growth_100_to_end_mb": growth}))


def run_child(name, args):
    command = [sys.executable, os.path.abspath(__file__), "--child", name, "--threads",
               str(args.threads), "--batch", str(args.batch), "--steps", str(args.steps)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    args = parse_args()
    if args.child:
        return child(args)
    print(f"bench_memory: 784-128-10 MLP, float32, batch {args.batch}, {args.steps} SGD steps, "
          f"threads={args.threads}, each contender in its own process")
    results = {name: run_child(name, args) for name in CONTENDERS}
    print(f"{'':>13}  {'peak RSS':>9}  {'RSS @100':>9}  {'RSS @end':>9}  {'growth 100→end':>15}")
    for name, r in results.items():
        growth = "n/a" if r["growth_100_to_end_mb"] is None else f"{r['growth_100_to_end_mb']:+.3f} MB"
        at_100 = "n/a" if r["rss_at_100_mb"] is None else f"{r['rss_at_100_mb']:.1f} MB"
        at_end = "n/a" if r["rss_at_end_mb"] is None else f"{r['rss_at_end_mb']:.1f} MB"
        print(f"{name:>13}  {r['peak_mb']:6.1f} MB  {at_100:>9}  {at_end:>9}  {growth:>15}")
    ratios = {name: results[name]["peak_mb"] / results["floor"]["peak_mb"] for name in ("eager", "captured")}
    print("peak RSS / the floor's: " + ", ".join(f"{name} {r:.2f}" for name, r in ratios.items()))
    if args.json:
        record = {"benchmark": "bench_memory", "threads": args.threads, "batch": args.batch,
                  "steps": args.steps, "results": results, "peak_ratios": ratios}
        with open(args.json, "w") as file:
            json.dump(record, file, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
