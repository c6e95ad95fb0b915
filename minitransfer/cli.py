"""The command line: ``minitransfer gradcheck`` (and ``python -m minitransfer gradcheck``).

Mistakes on the command line get a one-line message and exit code 2, never a traceback.
"""

import argparse
import sys

import numpy as np


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"minitransfer: error: {message}\n")


def _gradcheck_command(args):
    from minitransfer.gradcheck import gradcheck
    from minitransfer.op_registry import REGISTRY, make_values
    from minitransfer.tensor import Tensor

    rng = np.random.default_rng(args.seed)
    rows, failures = [], 0
    for case in REGISTRY:
        max_abs = max_rel = 0.0
        passed, message = True, ""
        for shapes in case.examples:
            inputs = [Tensor(make_values(s, case.values, rng), requires_grad=True) for s in shapes]
            result = gradcheck(case.fn, *inputs, name=case.name, raise_exception=False)
            max_abs, max_rel = max(max_abs, result.max_abs_error), max(max_rel, result.max_rel_error)
            if not result.passed and passed:
                passed, message = False, result.message
        shapes_text = "; ".join(" ".join(str(s) for s in shapes) for shapes in case.examples)
        rows.append((case.name, case.op.__name__, shapes_text, max_abs, max_rel, passed, message))
        failures += not passed
    width = max(len(r[2]) for r in rows)
    print(f"{'op':<19} {'class':<13} {'shapes tried':<{width}} {'max abs err':>11} "
          f"{'max rel err':>11}  result")
    for name, cls, shapes, max_abs, max_rel, passed, message in rows:
        print(f"{name:<19} {cls:<13} {shapes:<{width}} {max_abs:>11.2e} {max_rel:>11.2e}  "
              f"{'pass' if passed else 'FAIL'}")
        if message:
            print(f"    {message}")
    print(f"{len(rows) - failures} of {len(rows)} ops pass (float64, central differences, "
          f"random upstream gradient)")
    return 1 if failures else 0


def build_parser():
    parser = _Parser(prog="minitransfer", description="Transfer learning from scratch in NumPy.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    check = commands.add_parser("gradcheck", help="check every op's backward numerically")
    check.add_argument("--seed", type=int, default=0, help="seed for inputs and upstream gradients")
    check.set_defaults(handler=_gradcheck_command)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
