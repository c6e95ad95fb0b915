# The two commands of the quick start: `make demo` and `make test`; `make notebooks` writes the
# lessons as Jupyter notebooks into notebooks/ (git-ignored; the lessons stay .py files).
# Each creates .venv when it is missing and installs the package (editable) with the extras
# it needs; a stamp file remembers the install until setup.cfg or pyproject.toml change.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint gradcheck bench notebooks clean

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit("minitransfer needs Python 3.10 or newer, found " + sys.version.split()[0]) if sys.version_info < (3, 10) else None'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed-test: setup.cfg pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[test,lint,data,plot,notebooks]"
	@touch $@

$(VENV)/.installed-demo: setup.cfg pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[data,plot]"
	@touch $@

demo: $(VENV)/.installed-demo
	MPLBACKEND=Agg $(PY) -m minitransfer run --out runs/demo

lint: $(VENV)/.installed-test
	$(PY) -m ruff check .

test: lint
	MPLBACKEND=Agg $(PY) -m pytest -q

notebooks: $(VENV)/.installed-test
	$(PY) lessons/_notebooks.py notebooks

gradcheck: $(VENV)/.installed-demo
	$(PY) -m minitransfer gradcheck

# Benchmarks print ratios measured side by side (never timed tests). OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE, set on some machines for old OpenBLAS builds, slow a current NumPy.
bench: $(VENV)/.installed-test
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) benchmarks/bench_step.py
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) benchmarks/bench_memory.py
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) benchmarks/bench_gradcheck.py --skip-full

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis runs notebooks
