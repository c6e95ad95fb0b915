"""Write the lessons as Jupyter notebooks: ``make notebooks``, or

    python lessons/_notebooks.py notebooks/            # every lesson
    python lessons/_notebooks.py notebooks/ 01 05      # some of them, by number

The lessons stay plain Python files in git (jupytext's percent format); the notebooks are
generated from them (by jupytext) into a folder git ignores. Each notebook gets one cell
before its first line of code that puts the lessons folder on Python's path, so that
``from _lesson import ...`` and ``from exercises import ...`` work from the notebook's folder
(Jupyter starts a notebook's kernel there). Open one with ``jupyter lab notebooks/``.
"""

import os
import sys
from pathlib import Path

LESSONS = Path(__file__).resolve().parent

PATH_CELL = """\
# Added by `make notebooks`: the lessons' shared helpers (_lesson.py, exercises/) live there.
import sys

sys.path.insert(0, {folder!r})"""


def lesson_paths(numbers=()):
    paths = sorted(LESSONS.glob("[0-9][0-9]_*.py"))
    chosen = [p for p in paths if not numbers or p.name[:2] in numbers]
    missing = set(numbers) - {p.name[:2] for p in chosen}
    if missing:
        raise SystemExit(f"_notebooks.py: no lesson numbered {sorted(missing)} in {LESSONS}")
    return chosen


def write_notebook(lesson, out_dir):
    """lessons/NN_name.py -> out_dir/NN_name.ipynb (unexecuted); returns the notebook's path."""
    import jupytext  # the notebooks extra: pip install -e ".[notebooks]"
    import nbformat

    notebook = jupytext.read(lesson)
    folder = os.path.relpath(LESSONS, out_dir)  # relative: the notebook runs from out_dir
    first_code = next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")
    notebook.cells.insert(first_code, nbformat.v4.new_code_cell(PATH_CELL.format(folder=folder)))
    path = Path(out_dir) / f"{lesson.stem}.ipynb"
    nbformat.write(notebook, path)
    return path


def main(argv):
    if not argv:
        raise SystemExit(__doc__)
    out_dir = Path(argv[0])
    out_dir.mkdir(parents=True, exist_ok=True)
    for lesson in lesson_paths(argv[1:]):
        print(f"wrote {write_notebook(lesson, out_dir)}")


if __name__ == "__main__":
    main(sys.argv[1:])
