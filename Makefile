# Entry points; each makes or reuses its own virtual environment:
#   make demo       run the quickstart example into the embedded store, then print its tree
#   make test       lint, type-check and run the whole test suite on one interpreter ($(PYTHON))
#   make test-all   what CI runs: lint once, then the suite on every CPython 3.10-3.13 that pyenv
#                   has (each in its own .venvs/3.X); a version pyenv lacks is skipped with a line
#   make bench      the performance benchmarks (README, "Performance")
#   make lock       re-resolve the locked environments (below); only ever run on purpose
#
# The environments are installed from committed locks, so that a release of any dependency never
# changes what `make test` runs: requirements/dev.lock holds exact versions of the runtime
# dependencies, every extra and the `dev` dependency group, resolved once for all of CPython
# 3.10-3.13 (uv's --universal mode: one file, with markers where versions differ); then the
# project and the integrations are installed editable with --no-deps, so nothing unpinned comes in.
# requirements/bench.lock adds the `bench` group on top, constrained by dev.lock.
#
# To add or change a development dependency: edit [dependency-groups] `dev` (or `bench`) in
# pyproject.toml (runtime dependencies and extras the same way, in [project]), run `make lock`,
# and commit pyproject.toml with both locks. `make lock` keeps every existing pin that still fits
# and resolves only what changed; `make lock UPGRADE=1` moves every pin to its newest release.
# The environments rebuild by themselves when a lock or a pyproject.toml changes.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEV_LOCK := requirements/dev.lock
BENCH_LOCK := requirements/bench.lock
INTEGRATIONS := $(wildcard integrations/*/pyproject.toml)
INTEGRATION_SOURCES := $(wildcard integrations/*/src)
LINTED := $(wildcard src tests examples integrations benchmarks)
ENV_INPUTS := $(DEV_LOCK) pyproject.toml $(INTEGRATIONS)

# test-all: the CPython versions to test, and the newest patch release of each under pyenv.
TEST_PYTHONS ?= 3.10 3.11 3.12 3.13
PYENV_VERSIONS = $(or $(shell pyenv root 2>/dev/null),$(PYENV_ROOT),$(HOME)/.pyenv)/versions
pyenv_python = $(lastword $(shell ls -d $(PYENV_VERSIONS)/$(1).*/bin/python$(1) 2>/dev/null | sort -V))
FOUND_PYTHONS = $(foreach v,$(TEST_PYTHONS),$(if $(call pyenv_python,$(v)),$(v)))
MISSING_PYTHONS = $(filter-out $(FOUND_PYTHONS),$(TEST_PYTHONS))

# make lock: uv, pinned, in a small venv of its own (it is not part of the test environment).
UV_VERSION ?= 0.13.10
UV := .venvs/uv/bin/uv
LOCK_FLAGS = --quiet --universal --python-version 3.10 --no-header --annotation-style line \
	$(if $(UPGRADE),--upgrade)

.PHONY: demo test test-all lint bench lock clean

# $(1): the venv's directory, $(2): the interpreter that makes it.
define install_env
	$(2) -m venv --clear $(1)
	$(1)/bin/python -m pip install --quiet --requirement $(DEV_LOCK)
	$(1)/bin/python -m pip install --quiet --no-deps -e . $(foreach p,$(INTEGRATIONS),-e $(dir $(p)))
	touch $(1)/.installed-stamp
endef

$(STAMP): $(ENV_INPUTS)
	$(call install_env,$(VENV),$(PYTHON))

.venvs/%/.installed-stamp: $(ENV_INPUTS)
	$(call install_env,.venvs/$*,$(call pyenv_python,$*))

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

# Every version runs even after one fails; the last line adds them up, and the exit code is
# non-zero if any version failed. With no pyenv interpreter at all, the suite runs in .venv.
test-all: lint $(foreach v,$(FOUND_PYTHONS),.venvs/$(v)/.installed-stamp)
	@$(foreach v,$(MISSING_PYTHONS),echo "test-all: skipping CPython $(v): not installed under pyenv";)
	@failed=""; mkdir -p .venvs; : > .venvs/test-all.log; \
	for env in $(if $(FOUND_PYTHONS),$(addprefix .venvs/,$(FOUND_PYTHONS)),$(VENV)); do \
	  echo "test-all: $$($$env/bin/python -V) ($$env)"; \
	  start=$$(date +%s); \
	  $$env/bin/python -m pytest -q 2>&1 | tee .venvs/last-run.log; \
	  code=$${PIPESTATUS[0]}; \
	  echo "$$env $$code $$(( $$(date +%s) - start ))s $$(tail -n 1 .venvs/last-run.log)" >> .venvs/test-all.log; \
	  [ "$$code" = 0 ] || failed="$$failed $$env"; \
	done; \
	echo "test-all: per interpreter (venv, exit code, time, pytest's last line):"; \
	sed 's/^/  /' .venvs/test-all.log; \
	awk '{ for (i = 1; i < NF; i++) { w = $$(i + 1); sub(/[^a-z]+$$/, "", w); \
	       if (w == "passed") p += $$i; if (w == "failed" || w == "errors" || w == "error") f += $$i; \
	       if (w == "skipped") s += $$i } } \
	     END { printf "test-all: %d passed, %d failed, %d skipped\n", p, f, s }' .venvs/test-all.log; \
	if [ -n "$$failed" ]; then echo "test-all: FAILED in$$failed"; exit 1; fi

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --requirement $(BENCH_LOCK)
	$(BIN)/python -m benchmarks

$(UV):
	$(PYTHON) -m venv --clear .venvs/uv
	.venvs/uv/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

lock: $(UV)
	$(UV) pip compile pyproject.toml --all-extras --group pyproject.toml:dev \
		$(LOCK_FLAGS) --output-file $(DEV_LOCK)
	$(UV) pip compile pyproject.toml --group pyproject.toml:bench --constraint $(DEV_LOCK) \
		$(LOCK_FLAGS) --output-file $(BENCH_LOCK)

clean:
	rm -rf $(VENV) .venvs .honeytrace
