"""How long each transferability score takes on 1,000 examples × 128 features (issue 17's goal:
under 1 s each), on two kinds of features: ReLU features that carry five classes, and Gaussian
noise (LogME's fixed point needs the most iterations there). Medians of interleaved rounds.

    .venv/bin/python benchmarks/bench_transferability.py [--threads N] [--rounds R]
"""

import argparse
import statistics
import time

from _common import add_thread_option, blas_report, set_threads


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_thread_option(parser)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    set_threads(args.threads)

    import numpy as np

    from minitransfer.transferability import hscore, leep, logme, max_evidence, nce

    print("\n".join(blas_report()))
    rng = np.random.default_rng(0)
    n, dim, classes = 1000, 128, 5
    labels = np.arange(n) % classes
    kinds = {"ReLU features of 5 classes": np.maximum(rng.normal(size=(n, dim))
                                                      + 2 * rng.normal(size=(classes, dim))[labels], 0),
             "Gaussian noise": rng.normal(size=(n, dim))}
    probs = rng.dirichlet(np.ones(classes), size=n)
    for kind, features in kinds.items():
        iterations = max_evidence(features, np.eye(classes)[labels]).iterations
        calls = {"logme": lambda f=features: logme(f, labels), "hscore": lambda f=features: hscore(f, labels),
                 "leep": lambda: leep(probs, labels), "nce": lambda: nce(np.argmax(probs, 1), labels)}
        times = {name: [] for name in calls}
        for _ in range(args.rounds):
            for name, call in calls.items():
                started = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - started)
        print(f"\n{kind}, {n} x {dim} (LogME's fixed point: {iterations} iterations), "
              f"{args.threads} thread(s), median of {args.rounds}:")
        for name, values in times.items():
            print(f"  {name:<7} {1e3 * statistics.median(values):8.2f} ms")


if __name__ == "__main__":
    main()
