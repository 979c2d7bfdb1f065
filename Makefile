# Two entry points (see README): `make demo` and `make test`. Both build the project-local
# virtual environment first. torch is pinned to 2.13.0 here: on our machines that resolves to
# a CPU wheel on local disk; an unpinned torch would pull a multi-GB CUDA build.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
TORCH   := torch==2.13.0
EXTRAS  := dev,datasets,tensorboard,ray
STAMP   := $(VENV)/.installed

.PHONY: demo test test-slow lint bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]" "$(TORCH)"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/lrlab demo --out runs/demo

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/python -m pytest -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
