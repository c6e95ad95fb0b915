"""Time the gradient checks of the document's 784-128-10 MLP, in float64.

``minitransfer.gradcheck`` compares backward() with central differences. For the MLP the
checked function takes the four parameter tensors and returns the cross-entropy of a fixed
batch, so that every weight is an input of the check:

    loss(W1, b1, W2, b2) = cross_entropy(relu(x W1ᵀ + b1) W2ᵀ + b2, y)

  - mode="directional": one random direction per parameter tensor, two forward passes each
    (8 forward passes and one backward in all): the check the tests run on large models;
  - mode="full": every one of the 101,770 weights, two forward passes each (~200,000 passes):
    what the directional check saves. ``--skip-full`` leaves it out.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/bench_gradcheck.py
"""

import argparse
import json
import time

import _common


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    _common.add_thread_option(parser)
    parser.add_argument("--batch", type=int, default=8, help="examples in the batch (default 8)")
    parser.add_argument("--repeats", type=int, default=20,
                        help="repeats of the directional check, median reported (default 20)")
    parser.add_argument("--skip-full", action="store_true", help="leave out the full check")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return parser.parse_args()


ARGS = parse_args()
_common.set_threads(ARGS.threads)

import _networks  # noqa: E402  (imports NumPy)

import minitransfer as mt  # noqa: E402
from minitransfer import functional as F  # noqa: E402


def mlp_check_inputs(batch):
    """The MLP's parameters as float64 leaf tensors, and a loss function of them."""
    x, y = _networks.make_batch(batch)
    inputs, labels = mt.tensor(x.astype("float64")), mt.tensor(y)
    params = [mt.tensor(w.astype("float64"), requires_grad=True)
              for w in _networks.initial_weights()]

    def mlp_loss(w1, b1, w2, b2):
        hidden = F.relu(F.linear(inputs, w1, b1))
        return F.cross_entropy(F.linear(hidden, w2, b2), labels)

    return mlp_loss, params


def timed_check(fn, params, mode, seed):
    start = time.perf_counter()
    result = mt.gradcheck(fn, *params, mode=mode, seed=seed, name="mlp")
    return time.perf_counter() - start, result


def main():
    print(f"bench_gradcheck: 784-128-10 MLP, float64, batch {ARGS.batch}, threads={ARGS.threads}")
    for line in _common.blas_report():
        print("  " + line)
    fn, params = mlp_check_inputs(ARGS.batch)
    count = sum(p.numel() for p in params)
    timed_check(fn, params, "directional", seed=0)  # warm up
    runs = [timed_check(fn, params, "directional", seed=seed) for seed in range(ARGS.repeats)]
    directional = _common.median([seconds for seconds, _ in runs])
    worst = max(result.max_rel_error for _, result in runs)
    passed = all(result.passed for _, result in runs)
    print(f"directional: {directional * 1e3:8.1f} ms  (median of {ARGS.repeats} random directions; "
          f"{'passed' if passed else 'FAILED'}, worst relative error {worst:.1e})")
    record = {"benchmark": "bench_gradcheck", "threads": ARGS.threads, "batch": ARGS.batch,
              "parameters": count, "directional_s": directional, "directional_passed": passed}
    if not ARGS.skip_full:
        seconds, result = timed_check(fn, params, "full", seed=0)
        print(f"full:        {seconds:8.1f} s   ({count:,} weights, one at a time; "
              f"{'passed' if result.passed else 'FAILED'}, worst relative error "
              f"{result.max_rel_error:.1e})")
        print(f"full/directional: {seconds / directional:,.0f}×")
        record.update(full_s=seconds, full_passed=result.passed)
    if ARGS.json:
        with open(ARGS.json, "w") as file:
            json.dump(record, file, indent=2)
        print(f"wrote {ARGS.json}")


if __name__ == "__main__":
    main()
