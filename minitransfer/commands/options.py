"""Argument types and the flags that every experiment command shares (DESIGN §11).

The same flags everywhere: ``--data``, ``--data-dir``, ``--target``, ``--strategies``, ``--k``
(one) or ``--ks`` (several), ``--seeds``, ``--hidden``, ``--out``, ``--quick``, ``--device``,
``--threads``.
A mistake in one of them exits with code 2 and one line, as ``minitransfer run`` does.
"""

import argparse


def choices(allowed, what):
    """A parser for a comma-separated list whose items must come from ``allowed``."""

    def parse(text):
        items = [item.strip() for item in text.split(",") if item.strip()]
        unknown = [item for item in items if item not in allowed]
        if unknown or not items:
            raise argparse.ArgumentTypeError(f"unknown {what} {', '.join(unknown) or '(none)'}; "
                                             f"choose from {', '.join(allowed)}")
        return list(dict.fromkeys(items))  # each once, in the order given

    return parse


def counts_or_all(text, what):
    """'5,25,all' -> [5, 25, None]: positive integers or 'all' (None), each once, in the order
    given; ``what`` starts the message for anything else ("k must be a positive integer")."""
    values = []
    for item in text.split(","):
        item = item.strip()
        if item == "all":
            values.append(None)
        elif item.isdigit() and int(item) > 0:
            values.append(int(item))
        else:
            raise argparse.ArgumentTypeError(f"{what} or 'all', got {item!r}")
    return list(dict.fromkeys(values))


def ks(text):
    """'5,25,all' -> [5, 25, None] (None: every labelled example)."""
    return counts_or_all(text, "k must be a positive integer")


def one_k(text):
    """A single k: a positive integer or 'all'."""
    values = ks(text)
    if len(values) != 1:
        raise argparse.ArgumentTypeError(f"expected one k (a positive integer or 'all'), got {text!r}")
    return values[0]


def seeds(text):
    """'3' means seeds 0, 1, 2; '4,7' means exactly those seeds."""
    try:
        if "," in text:
            values = [int(s) for s in text.split(",")]
            if min(values) < 0:
                raise ValueError
            return list(dict.fromkeys(values))  # each once, in the order given
        if int(text) < 1:
            raise ValueError
        return list(range(int(text)))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seeds (e.g. 3) or a list of "
                                         f"seeds >= 0 (e.g. 0,4), got {text!r}") from None


def fraction(text):
    """An accuracy between 0 and 1 (not a percentage)."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected an accuracy between 0 and 1 (e.g. 0.8), "
                                         f"got {text!r}")
    return value


def hidden(text):
    """'128,64' -> (128, 64): the hidden layer widths of the body, input to output."""
    try:
        widths = tuple(int(item) for item in text.split(","))
        if not widths or min(widths) < 1:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected hidden widths as positive integers separated "
                                         f"by commas (e.g. 128,64), got {text!r}") from None
    return widths


def positive_floats(text):
    """'0,0.05,0.1' -> [0.0, 0.05, 0.1] (each >= 0)."""
    try:
        values = [float(item) for item in text.split(",")]
        if not values or min(values) < 0:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers >= 0 separated by commas (e.g. "
                                         f"0,0.05,0.1), got {text!r}") from None
    return list(dict.fromkeys(values))


def threads(text):
    """--threads: a positive number of BLAS threads."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer number of threads, got {text!r}")
    return int(text)


def add_thread_option(parser):
    """--threads, which every command has (cli.main applies it before the command runs)."""
    parser.add_argument("--threads", type=threads, default=None,
                        help="BLAS threads (default: $MINITRANSFER_THREADS, else 1, the fastest "
                             "for this package's small matrices: see README, Threads)")


def add_data_options(parser, target="jitter"):
    """--data, --data-dir and --target (``target`` its default; None: one target instead of the
    command's list, read with ``common.targets_of``)."""
    from minitransfer.experiment import TARGETS

    parser.add_argument("--data", choices=("digits", "fashion"), default="digits",
                        help="bundled 8x8 digits (default) or Fashion-MNIST from --data-dir")
    parser.add_argument("--data-dir", default=None, help="folder with the Fashion-MNIST IDX files "
                        "(default: /usr/share/datasets/fashion-mnist)")
    parser.add_argument("--target", choices=TARGETS, default=target,
                        help=f"how the target task's images differ (default: {target})" if target
                        else "one target, instead of the command's list (--targets)")


def add_checkpoint_options(parser, help_text):
    """--checkpoint PATH and --sha256 [HEX], for the commands that read a pretrained model."""
    parser.add_argument("--checkpoint", default="pretrained.npz", help=help_text)
    parser.add_argument("--sha256", nargs="?", const=True, default=None, metavar="HEX",
                        help="refuse a --checkpoint whose SHA-256 digest differs from HEX (alone: "
                             "the digest in CHECKPOINT.sha256), before reading it")


def add_experiment_options(parser, *, target="jitter", strategies=None, k=None, ks_default=None,
                           seeds_default=3):
    """The shared flags of an experiment command.

    ``target``: the default of --target, or None for a command over several targets: it then
    gets ``--targets`` too, read with ``common.targets_of``;
    ``strategies``: (allowed, default) or None when the command has no --strategies;
    ``k``: the default of a single --k, or None; ``ks_default``: the default of --ks, or None.
    """
    from minitransfer.experiment import TARGETS

    add_data_options(parser, target)
    if target is None:  # a command over several targets: --targets, or --target for one
        parser.add_argument("--targets", type=choices(TARGETS, "target"), default=None,
                            help="several targets, comma-separated (default: the command's list)")
    if strategies is not None:
        allowed, default = strategies
        parser.add_argument("--strategies", type=choices(allowed, "strategy"), default=list(default),
                            help=f"comma-separated, from {', '.join(allowed)} "
                                 f"(default {','.join(default)})")
    if k is not None:
        parser.add_argument("--k", type=one_k, default=k,
                            help=f"labelled target examples per class, or 'all' (default {k})")
    if ks_default is not None:
        parser.add_argument("--ks", type=ks, default=ks_default,
                            help="labelled target examples per class, e.g. 5,25,all")
    parser.add_argument("--seeds", type=seeds, default=list(range(seeds_default)),
                        help=f"how many seeds, or a list (default {seeds_default})")
    parser.add_argument("--hidden", type=hidden, default=None,
                        help="hidden widths of the body, e.g. 128,64 (default: 128,64 on digits, "
                             "256,128 on fashion)")
    parser.add_argument("--out", default=None, help="output folder (default runs/COMMAND)")
    parser.add_argument("--quick", action="store_true", help="a small run (< 30 s)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    add_thread_option(parser)
