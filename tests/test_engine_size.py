"""The engine stays small enough to read in one sitting (DESIGN §2: at most 900 lines of code).

The engine is ``backend.py``, ``tensor.py``, ``autograd.py`` and the op classes in
``functions/``. Lines are counted as cloc counts lines of code: blank lines, comment lines
and docstrings are left out, because the guide asks for the derivative in every op's
docstring and for comments that say why, and a budget should not push either out.
``python tests/test_engine_size.py`` prints the table with physical lines beside.
"""

import ast
import io
import pathlib
import tokenize

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "minitransfer"
ENGINE = [PACKAGE / "backend.py", PACKAGE / "tensor.py", PACKAGE / "autograd.py",
          *sorted((PACKAGE / "functions").glob("*.py"))]
BUDGET = 900


def count_lines(source):
    """(physical lines, lines of code) of Python source; code = lines holding a token that is
    not a comment, a docstring or white space."""
    docstring_lines = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                docstring_lines.update(range(first.lineno, first.end_lineno + 1))
    skipped = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
               tokenize.DEDENT, tokenize.ENDMARKER}
    code_lines = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skipped:
            code_lines.update(range(token.start[0], token.end[0] + 1))
    return len(source.splitlines()), len(code_lines - docstring_lines)


def engine_table():
    rows = [(path.relative_to(PACKAGE.parent).as_posix(), *count_lines(path.read_text("utf-8")))
            for path in ENGINE]
    lines = [f"{name:40s} {physical:6d} {code:6d}" for name, physical, code in rows]
    totals = sum(r[1] for r in rows), sum(r[2] for r in rows)
    lines.append(f"{'engine':40s} {totals[0]:6d} {totals[1]:6d}")
    return totals, f"{'file':40s} {'lines':>6s} {'code':>6s}\n" + "\n".join(lines)


def test_line_counter_on_hand_counted_source():
    source = '''"""Module docstring,
over two lines."""

import math  # a comment after code: the line counts


def area(r):
    """The docstring does not count."""
    # a comment line does not count
    return (math.pi
            * r**2)
'''
    # code: the import, the def, and the return over two lines = 4 of 11 physical lines
    assert count_lines(source) == (11, 4)


def test_engine_stays_under_its_line_budget():
    (physical, code), table = engine_table()
    assert code <= BUDGET, f"the engine has {code} lines of code, over {BUDGET}:\n{table}"


if __name__ == "__main__":
    print(engine_table()[1])
