# `make demo` and `make test` do all set-up themselves on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MELTANO := .venv-meltano/bin/meltano

.PHONY: test check lint demo demo-stop benchmark clean mutation

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
check: lint
	$(BIN)/pytest -m "not e2e"

# The demo's PostgreSQL (output/demo/postgres) keeps running for you to query it.
demo: $(BIN)/.installed $(MELTANO)
	$(BIN)/python -m hubspot_emulator.demo

demo-stop: $(BIN)/.installed
	$(BIN)/python -m hubspot_emulator.demo --stop

# Mutation testing of the pure-logic modules against the fast unit layer (minutes; not
# part of `make test`): the score and the triage of survivors are in docs/testing.md.
mutation: $(BIN)/.installed
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2
	$(BIN)/mutmut results

benchmark: $(BIN)/.installed
	$(BIN)/python benchmarks/run.py

clean:
	if [ -x $(BIN)/python ]; then $(BIN)/python -m hubspot_emulator.demo --stop; fi
	rm -rf $(VENV) .venv-meltano .meltano .pytest_cache .mypy_cache .ruff_cache output mutants
