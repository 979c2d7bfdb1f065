# Two entry points (see README): `make demo` and `make test`. Both build the project-local
# virtual environment first. torch is pinned to 2.13.0 here: on our machines that resolves to
# a CPU wheel on local disk; an unpinned torch would pull a multi-GB CUDA build.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
TORCH   := torch==2.13.0
# The demo needs the core and its data (mnist1d); the tests need everything CI checks: the dev
# tools, every extra an integration or test imports, and the notebook kernel (see README).
DEMO_EXTRAS := datasets
TEST_EXTRAS := dev,datasets,tensorboard,ray,lightning,transformers,notebook,lrfree
BASE        := $(VENV)/.base
DEMO_STAMP  := $(VENV)/.installed-demo
TEST_STAMP  := $(VENV)/.installed-test

.PHONY: demo test test-slow lint bench venv clean

venv: $(TEST_STAMP)

# The venv with pip and the pinned torch; each stamp below adds the project with its extras.
$(BASE):
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	touch $(BASE)

$(DEMO_STAMP): pyproject.toml $(BASE)
	$(BIN)/python -m pip install --quiet -e ".[$(DEMO_EXTRAS)]" "$(TORCH)"
	touch $(DEMO_STAMP)

$(TEST_STAMP): pyproject.toml $(BASE)
	$(BIN)/python -m pip install --quiet -e ".[$(TEST_EXTRAS)]" "$(TORCH)"
	touch $(TEST_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/lrlab demo --out runs/demo

test: $(TEST_STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/python -m pytest -q

test-slow: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
