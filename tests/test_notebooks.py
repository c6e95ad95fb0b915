"""Lessons 01, 05 and 06 run as Jupyter notebooks through a real kernel, with no cell error.

Each notebook is written from its lesson the way ``make notebooks`` writes it
(``lessons/_notebooks.py``: jupytext, plus one cell that puts the lessons folder on the path),
into a temporary folder, and executed there by nbclient on an ipykernel kernel, in quick mode,
with matplotlib's inline backend as in Jupyter (no MPLBACKEND). The notebook must print what
the script prints (``test_lessons.EXPECTED``), save its figures, and show them inline.
Needs the ``notebooks`` extra (jupytext, nbclient, ipykernel), which ``make test`` installs.
"""

import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("jupytext")
pytest.importorskip("ipykernel")

from test_lessons import EXPECTED, check_figures  # noqa: E402  (after the skips)

LESSONS = Path(__file__).resolve().parent.parent / "lessons"
KERNEL = "minitransfer-tests"
_spec = importlib.util.spec_from_file_location("lesson_notebooks", LESSONS / "_notebooks.py")
notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(notebooks)


@pytest.fixture(scope="module")
def kernel_home(tmp_path_factory):
    """A kernelspec that runs this interpreter, so the kernel imports this checkout's package
    whatever other "python3" kernels the machine has."""
    home = tmp_path_factory.mktemp("jupyter")
    spec_dir = home / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": KERNEL, "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return home


def _outputs(notebook):
    text, images = [], 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                text.append(output["text"])
            elif "image/png" in output.get("data", {}):
                images += 1
            elif "text/plain" in output.get("data", {}):
                text.append(output["data"]["text/plain"])
    return "".join(text), images


@pytest.mark.parametrize("number", ["01", "05", "06"])
def test_lesson_runs_as_a_notebook(number, tmp_path, kernel_home, monkeypatch):
    for name in [k for k in os.environ if k.startswith("MINITRANSFER_")] + ["MPLBACKEND"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MINITRANSFER_QUICK", "1")
    monkeypatch.setenv("MINITRANSFER_FIGURES", str(tmp_path / "figures"))
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_home))
    for threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(threads, "1")
    (lesson,) = notebooks.lesson_paths([number])
    out_dir = tmp_path / "notebooks"
    out_dir.mkdir()
    notebook = nbformat.read(notebooks.write_notebook(lesson, out_dir), as_version=4)

    client = nbclient.NotebookClient(notebook, timeout=150, kernel_name=KERNEL,
                                     resources={"metadata": {"path": str(out_dir)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on any error

    text, images = _outputs(notebook)
    patterns, figures = EXPECTED[lesson.stem]
    for pattern in patterns:
        assert re.search(pattern, text), f"{lesson.stem} as a notebook: expected /{pattern}/ in:\n{text}"
    check_figures(tmp_path / "figures" / number, figures)
    n_png = sum(name.endswith(".png") for name in figures)
    assert images >= n_png, f"{lesson.stem}: {images} figures shown inline, {n_png} saved"
