# Tune's developer commands. `make run` and `make test` work on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format bench clean install install-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,sentry]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

## Install, migrate the embedded SQLite database (tune.db) and serve on http://127.0.0.1:8000
run: install
	TUNE_ENV=$${TUNE_ENV:-development} $(BIN)/tune run --host $(HOST) --port $(PORT)

## Install the test extras, lint, and run every test
test: install-test lint
	$(BIN)/pytest

lint: install-test
	$(BIN)/ruff format --check webapp tests bench
	$(BIN)/ruff check webapp tests bench
	$(BIN)/mypy

format: install-test
	$(BIN)/ruff format webapp tests bench
	$(BIN)/ruff check --fix webapp tests bench

## Benchmarks (not part of `make test`); figures go to bench/results and docs/benchmarks.md
bench: install-test
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
