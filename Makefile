# The two commands of the README: `make demo` and `make test`. Each creates .venv with the
# tested dependency versions (constraints.txt) on first use, then runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.edge-runtime-installed
# TensorRT API stubs for mypy: installed beside the venv's site-packages (not in it, so that
# `import tensorrt` never finds a stub-only package), then patched to parse (setup.cfg mypy_path).
TRT_STUBS_DIST := $(VENV)/tensorrt-stubs-dist
TRT_STUBS := $(VENV)/tensorrt-stubs-patched

.PHONY: demo test lint typecheck unit install bench clean

demo: $(STAMP)
	$(BIN)/edge-runtime demo

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/python -m mypy

unit: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench.overhead
	$(BIN)/python -m bench.int8

install: $(STAMP)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "edge-runtime needs Python >= 3.10; set PYTHON=python3.10 or newer")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): setup.cfg pyproject.toml constraints.txt tools/patch_tensorrt_stubs.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps --upgrade -c constraints.txt \
		--target $(TRT_STUBS_DIST) tensorrt-stubs
	$(BIN)/python tools/patch_tensorrt_stubs.py $(TRT_STUBS_DIST) $(TRT_STUBS)
	@touch $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
