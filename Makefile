# `make demo` and `make test` do all set-up themselves on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MELTANO := .venv-meltano/bin/meltano

.PHONY: test check lint demo benchmark clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e . --group dev
	touch $@

# Meltano lives in a venv of its own: its dependencies are not the tap's.
$(MELTANO):
	$(PYTHON) -m venv .venv-meltano
	.venv-meltano/bin/python -m pip install --quiet --upgrade pip
	.venv-meltano/bin/python -m pip install --quiet meltano==4.4.1

lint: $(BIN)/.installed
	$(BIN)/ruff check tap_hubspot_associations hubspot_emulator tests benchmarks
	$(BIN)/ruff format --check tap_hubspot_associations hubspot_emulator tests benchmarks
	$(BIN)/mypy

test: lint $(MELTANO)
	$(BIN)/pytest

# The fast layer: lint and the unit tests, no subprocess, server, Meltano or PostgreSQL.
# test_core.py is left out because the SDK's test factory builds the tap when the module
# is collected, so the module starts its emulator on import even when every test in it
# is deselected.
check: lint
	$(BIN)/pytest -m "not e2e" --ignore=tests/test_core.py

demo: $(BIN)/.installed $(MELTANO)
	$(BIN)/python -m hubspot_emulator.demo

benchmark: $(BIN)/.installed
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .venv-meltano .meltano .pytest_cache .mypy_cache .ruff_cache output
