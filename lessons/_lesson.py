"""What every lesson shares: quick mode, the thread policy, matplotlib, saving figures, readings.

A lesson starts with

    from _lesson import QUICK, figures, plt
    FIGURES, save = figures("04")      # figures/04/ (or $MINITRANSFER_FIGURES/04/)

``python lessons/04_training_an_mlp.py`` finds this file because Python puts the script's folder
on its path; a notebook finds it when it runs from the lessons folder, or when ``make notebooks``
wrote it (its first code cell puts the lessons folder on the path).

Importing it sets NumPy's BLAS to the package's default thread count (one thread, the fastest
for the lessons' small matrices; ``MINITRANSFER_THREADS=2`` to choose another): README, Threads.
"""

import os
import sys
from pathlib import Path

import matplotlib
import numpy as np

if not os.environ.get("MPLBACKEND") and "ipykernel" not in sys.modules:
    matplotlib.use("Agg")  # a script saves its figures and never opens a window
import matplotlib.pyplot as plt  # noqa: E402

from minitransfer.threads import apply_default  # noqa: E402

QUICK = os.environ.get("MINITRANSFER_QUICK") == "1"  # the tests' small, fast run
THREADS = apply_default()  # BLAS threads for the whole lesson: $MINITRANSFER_THREADS, else 1

__all__ = ["QUICK", "THREADS", "figures", "plt", "reading", "summary_reading"]


def figures(lesson):
    """The lesson's figure folder (created) and a ``save(fig, name)`` that writes a PNG there."""
    folder = Path(os.environ.get("MINITRANSFER_FIGURES", "figures")) / lesson
    folder.mkdir(parents=True, exist_ok=True)

    def save(fig, name):
        fig.tight_layout()
        fig.savefig(folder / name, dpi=100)
        print(f"figure saved: {folder / name}")
        if "inline" not in matplotlib.get_backend():
            plt.close(fig)  # in a notebook the figure stays open to be shown inline

    return folder, save


_HOLM_WORDS = {"helped": "helped", "hurt": "hurt", "no_difference": "no detectable difference"}


def reading(label, interval, holm=None, family=None, scale=100, unit="points", meaning=None, digits=1):
    """One result read in words, the way every lesson prints it, for example

        full k=5: +2.8 [+2.1, +3.4] points → helped (interval above 0) | Holm over 8: helped (...)

    where the Holm part reads "helped (adjusted p = 0.012)".
    ``interval``: a ``stats.Interval``, read by ``stats.verdict``; ``holm``: its
    ``stats.Comparison`` in a family of ``family`` comparisons read together (``stats.holm_verdicts``),
    or None. Numbers are multiplied by ``scale`` (100: accuracy in points) and printed with
    ``digits`` decimals. ``meaning`` maps a
    verdict code to what it means for this comparison ("helped": "the edge shrinks"), printed
    after the verdict. tests/test_lessons.py reads these lines back and checks every verdict
    against the numbers printed beside it.
    """
    if np.isnan(interval.low):
        numbers = f"{scale * interval.estimate:+.{digits}f} [no interval: {interval.n} seed]"
    else:
        numbers = (f"{scale * interval.estimate:+.{digits}f} [{scale * interval.low:+.{digits}f}, "
                   f"{scale * interval.high:+.{digits}f}]")
    verdict = interval.verdict()
    line = f"{label}: {numbers} {unit} → {verdict.text}"
    if meaning and verdict.code in meaning:
        line += f": {meaning[verdict.code]}"
    if holm is not None and holm.verdict.code in _HOLM_WORDS:
        line += (f" | Holm over {family}: {_HOLM_WORDS[holm.verdict.code]} "
                 f"(adjusted p = {holm.p_adjusted:.3f})")
    return line


def summary_reading(label, row, family):
    """``reading`` of one row of ``experiment.summarize`` (its gain, interval and Holm verdict)."""
    from minitransfer import stats

    interval = stats.Interval(row["gain_vs_scratch"], *row["ci95"], row["n_paired"])
    code = row["verdict_holm"]
    holm = None if code in (None, stats.UNDECIDED) else \
        stats.Comparison(interval, row["p_value"], row["p_holm"], stats.Verdict(code, code))
    return reading(label, interval, holm, family)
