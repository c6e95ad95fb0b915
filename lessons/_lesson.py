"""What every lesson shares: quick mode, the thread policy, matplotlib for scripts, saving figures.

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

if not os.environ.get("MPLBACKEND") and "ipykernel" not in sys.modules:
    matplotlib.use("Agg")  # a script saves its figures and never opens a window
import matplotlib.pyplot as plt  # noqa: E402

from minitransfer.threads import apply_default  # noqa: E402

QUICK = os.environ.get("MINITRANSFER_QUICK") == "1"  # the tests' small, fast run
THREADS = apply_default()  # BLAS threads for the whole lesson: $MINITRANSFER_THREADS, else 1

__all__ = ["QUICK", "THREADS", "figures", "plt"]


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
