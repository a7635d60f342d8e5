# Two entry points, each making or reusing its own virtual environment in .venv:
#   make demo   run the quickstart example into the embedded store, then print its tree
#   make test   lint, type-check and run the whole test suite
#   make bench  the performance benchmarks (README, "Performance")
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
INTEGRATIONS := $(wildcard integrations/*/pyproject.toml)
INTEGRATION_SOURCES := $(wildcard integrations/*/src)
LINTED := $(wildcard src tests examples integrations benchmarks)

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml $(INTEGRATIONS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]" $(foreach p,$(INTEGRATIONS),-e "$(dir $(p))[test]")
	touch $(STAMP)

demo: $(STAMP)
	HONEYTRACE_EXPORTER=local $(BIN)/python examples/quickstart.py
	$(BIN)/honeytrace show latest

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy
	$(if $(INTEGRATION_SOURCES),$(BIN)/mypy $(INTEGRATION_SOURCES))

test: lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .honeytrace
