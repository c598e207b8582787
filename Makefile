# `make demo` and `make test` do all set-up themselves on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MELTANO := .venv-meltano/bin/meltano
DAGSTER := .venv-dagster/.installed

.PHONY: test check lint demo demo-stop benchmark clean mutation dist

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

# The tap is on no public package index: `make dist` builds the wheel (in a venv of its own,
# so only Python is needed), and a copy of the plugin definition whose pip_url is that wheel,
# for `meltano add --from-ref`.
define DIST_DEFINITION
import pathlib
(wheel,) = pathlib.Path("dist").resolve().glob("*.whl")
if any(character.isspace() for character in str(wheel)):
    raise SystemExit(f"make dist: Meltano's pip_url cannot hold a path with spaces: {wheel}")
lines = pathlib.Path("tap-hubspot-associations.yml").read_text().splitlines()
body = lines[lines.index("name: tap-hubspot-associations") :]
body = [f"pip_url: {wheel}" if line.startswith("pip_url:") else line for line in body]
head = [
    "# Plugin definition of tap-hubspot-associations written by `make dist`: its pip_url is",
    "# the wheel built beside it, on this machine. Add it to a Meltano project with",
    "#   meltano add --plugin-type extractor --from-ref <this file> tap-hubspot-associations",
]
pathlib.Path("dist/tap-hubspot-associations.yml").write_text("\n".join(head + body) + "\n")
endef
export DIST_DEFINITION

dist:
	$(PYTHON) -m venv .venv-build
	.venv-build/bin/python -m pip install --quiet --upgrade pip
	rm -rf dist
	.venv-build/bin/python -m pip wheel --quiet --no-deps --wheel-dir dist .
	.venv-build/bin/python -c "$$DIST_DEFINITION"

# dagster-meltano, for the test that loads docs/orchestrators.md's Dagster code; installed
# with the uv that comes with Meltano, with the Dagster it pins.
# A stamp marks it whole (the venv's python is a link to an older file, so make would
# rebuild it on every run), and an interrupted install is started again from nothing.
$(DAGSTER): $(MELTANO)
	rm -rf .venv-dagster
	.venv-meltano/bin/uv venv --quiet --python $(PYTHON) .venv-dagster
	.venv-meltano/bin/uv pip install --quiet --python .venv-dagster/bin/python dagster-meltano==1.5.5
	touch $@

lint: $(BIN)/.installed
	$(BIN)/ruff check tap_hubspot_associations hubspot_emulator tests benchmarks
	$(BIN)/ruff format --check tap_hubspot_associations hubspot_emulator tests benchmarks
	$(BIN)/mypy

# In two processes: most end-to-end tests wait on servers. A module's tests stay together.
test: lint $(MELTANO) $(DAGSTER)
	$(BIN)/pytest -n 2 --dist loadfile

# The fast layer: lint and the unit tests (tests/unit), no subprocess, server, Meltano or
# PostgreSQL.
check: lint
	$(BIN)/pytest tests/unit

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
	rm -rf $(VENV) .venv-meltano .venv-dagster .venv-build dist .meltano .pytest_cache .mypy_cache .ruff_cache output mutants
