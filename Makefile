# `make demo` and `make test` do all set-up themselves on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test lint demo benchmark clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

lint: $(BIN)/.installed
	$(BIN)/ruff check tap_hubspot_associations tests benchmarks
	$(BIN)/ruff format --check tap_hubspot_associations tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

demo: $(BIN)/.installed
	$(BIN)/python -m tap_hubspot_associations.demo

benchmark: $(BIN)/.installed
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
