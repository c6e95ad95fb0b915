"""What the experiment commands share: the task, the model, pretraining once, the report files.

Each command writes into ``--out`` (DESIGN §11):
  NAME.json  every number with its seed spread or interval, the settings, the package version;
             the same seed gives byte-identical JSON apart from the ``timings`` entry;
  NAME.md    the tables and the verdicts computed from them;
  *.png      the plots.
"""

import json
import math
import os
import time

import numpy as np

from minitransfer import nn
from minitransfer.fileio import atomic_write_bytes


class UsageError(ValueError):
    """A mistake on the command line: reported in one line, exit code 2."""


DEFAULT_HIDDEN = {"digits": (128, 64), "fashion": (256, 128)}  # two hidden layers (DESIGN §11)


def hidden_sizes(args):
    """The body's hidden widths: ``--hidden`` or the data set's default."""
    return tuple(args.hidden) if args.hidden else DEFAULT_HIDDEN[args.data]


def load_task(args, target=None):
    """The source and target tasks of ``make_task``; missing or bad data is a UsageError."""
    from minitransfer.experiment import make_task

    try:
        return make_task(args.data, target or args.target, data_dir=args.data_dir)
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(f"--data {args.data}: {error}") from None


def targets_of(args, default):
    """The targets of a command over several: --target (one) or --targets, else ``default``."""
    if args.target and args.targets:
        raise UsageError(f"--target and --targets: give one of them, got --target {args.target} and "
                         f"--targets {','.join(args.targets)}")
    return [args.target] if args.target else list(args.targets or default)


def check_k(task, k, option="--k"):
    """Refuse a k larger than the target pool's smallest class."""
    counts = np.bincount(task.target_train[1])
    if k is not None and k > counts.min():
        raise UsageError(f"{option}: k={k} labelled examples per class asked for, but the target's "
                         f"training pool has only {counts.min()} examples of its smallest class "
                         f"(class {int(counts.argmin())})")


def make_model(task, hidden, seed, device="cpu", outputs=None):
    """An MLP [inputs, *hidden, outputs] (the source's classes by default), drawn from ``seed``."""
    sizes = [task.source[0].shape[1], *hidden, outputs or task.source_classes]
    return nn.MLP(sizes, generator=seed, device=device)


def pretrain_per_seed(task, hidden, seeds, steps, device="cpu", log=print):
    """Pretrain once per seed on the source (§3.3.1): {seed: model}, and the seconds it took.

    Every strategy and target of a command then starts from a copy of the same pretrained model
    ("pretrain once, fine-tune many"), so pretraining is paid once per seed.
    """
    from minitransfer.transfer import pretrain

    models, seconds = {}, {}
    for seed in seeds:
        started = time.perf_counter()
        model = make_model(task, hidden, seed, device)
        pretrain(model, task.source, steps=steps, seed=seed)
        models[seed], seconds[seed] = model, time.perf_counter() - started
        log(f"seed {seed}: pretrained {model.sizes} for {steps} steps in {seconds[seed]:.1f}s")
    return models, seconds


def output_folder(args, command):
    """Create ``--out`` (default runs/COMMAND), or say in one line why it cannot be used."""
    return make_folder(args.out or os.path.join("runs", command))


def make_folder(out):
    """Create the output folder ``out`` (and its parents); a UsageError naming --out if it cannot."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"--out: expected a folder for the run, got {out}, which is a file")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--out: cannot create the run folder {out} ({error.strerror})") from None
    return out


def settings_of(args, **extra):
    """The command's settings as plain JSON values (for NAME.json), ``extra`` added."""
    skip = {"handler", "command", "out", "threads"}
    settings = {key: (list(value) if isinstance(value, tuple) else value)
                for key, value in sorted(vars(args).items()) if key not in skip}
    settings.update(extra)
    return settings


def _plain(value):
    """NumPy numbers and arrays as Python ones; NaN and infinities as None (JSON has neither)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def write_outputs(out, name, payload, markdown_text, timings=None):
    """Write NAME.json (``payload`` + the version + ``timings``) and NAME.md; return both paths.

    Keys are sorted and floats written as Python prints them, so two runs with the same seeds
    give the same bytes except in ``timings``.
    """
    from minitransfer import __version__

    document = dict(_plain(payload), version=__version__, timings=_plain(timings or {}))
    json_path, md_path = os.path.join(out, f"{name}.json"), os.path.join(out, f"{name}.md")
    atomic_write_bytes(json_path, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode())
    atomic_write_bytes(md_path, markdown_text.encode())
    return json_path, md_path


def without_timings(document):
    """A loaded NAME.json less its ``timings``: what must repeat exactly for the same seeds."""
    return {key: value for key, value in document.items() if key != "timings"}


def markdown_table(header, rows):
    """A Markdown table from a header tuple and rows of cells (converted with str)."""
    lines = ["| " + " | ".join(str(cell) for cell in header) + " |",
             "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def mean_std(values, scale=1.0, digits=1):
    """'mean ± std' of ``values`` times ``scale`` (the std over seeds; '± —' with one seed)."""
    values = np.asarray(values, dtype=np.float64) * scale
    spread = f"{values.std(ddof=1):.{digits}f}" if len(values) > 1 else "—"
    return f"{values.mean():.{digits}f} ± {spread}"


def new_figure(figsize=(6.5, 4), **subplots):
    """A matplotlib ``Figure`` and its axes, or (None, None) without matplotlib.

    Figures are drawn without pyplot, so no GUI backend is chosen (a notebook keeps its own).
    Write one with ``report.save_figure(fig, path)``.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None, None
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(**subplots)
