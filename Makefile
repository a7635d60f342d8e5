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
# The environments rebuild by themselves when a lock changes (and reinstall the project when a
# pyproject.toml does).
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

# test-all: the CPython versions to test, and the newest patch release of each under pyenv.
TEST_PYTHONS ?= 3.10 3.11 3.12 3.13
PYENV_VERSIONS = $(or $(shell pyenv root 2>/dev/null),$(PYENV_ROOT),$(HOME)/.pyenv)/versions
pyenv_python = $(lastword $(shell ls -d $(PYENV_VERSIONS)/$(1).*/bin/python$(1) 2>/dev/null | sort -V))
FOUND_PYTHONS = $(foreach v,$(TEST_PYTHONS),$(if $(call pyenv_python,$(v)),$(v)))
MISSING_PYTHONS = $(filter-out $(FOUND_PYTHONS),$(TEST_PYTHONS))

# uv, pinned, in a small venv of its own (it is not part of the test environment): it installs
# the environments and, for `make lock`, resolves them.
UV_VERSION ?= 0.13.10
UV := .venvs/uv/bin/uv
# uv's cache may sit on another file system than the venvs: copy rather than warn about links
export UV_LINK_MODE := copy
LOCK_FLAGS = --quiet --universal --python-version 3.10 --no-header --annotation-style line \
	$(if $(UPGRADE),--upgrade)

.PHONY: demo test test-all lint bench lock clean
# the per-version venvs' stamps are not intermediate files: make must not delete them
.PRECIOUS: .venvs/%/.locked-stamp .venvs/%/.installed-stamp

# Two steps, so that editing a pyproject.toml reinstalls only the project (seconds) and a new
# lock rebuilds the venv from scratch (--clear: nothing left over from an older lock).
# $(1): the venv's directory, $(2): the interpreter that makes it.
# The installer is uv (pinned, below): it installs the same pins as pip would, several times
# faster, which matters with one venv per CPython version on a 2-core CI machine.
define install_locked
	$(2) -m venv --clear $(1)
	$(UV) pip install --quiet --python $(1)/bin/python --requirement $(DEV_LOCK)
	touch $(1)/.locked-stamp
endef
define install_project
	$(UV) pip install --quiet --python $(1)/bin/python --no-deps \
		-e . $(foreach p,$(INTEGRATIONS),-e $(dir $(p)))
	touch $(1)/.installed-stamp
endef

$(VENV)/.locked-stamp: $(DEV_LOCK) | $(UV)
	$(call install_locked,$(VENV),$(PYTHON))

$(STAMP): $(VENV)/.locked-stamp pyproject.toml $(INTEGRATIONS)
	$(call install_project,$(VENV))

.venvs/%/.locked-stamp: $(DEV_LOCK) | $(UV)
	$(call install_locked,.venvs/$*,$(call pyenv_python,$*))

.venvs/%/.installed-stamp: .venvs/%/.locked-stamp pyproject.toml $(INTEGRATIONS)
	$(call install_project,.venvs/$*)

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

# The benchmarks' venv is their own: the peers they measure (Logfire, Langfuse, LangSmith,
# honeyhive) must not end up in the test environment, where Logfire's pydantic plugin alone
# changes what an exiting process does.
BENCH_VENV := .venvs/bench
$(BENCH_VENV)/.bench-stamp: $(DEV_LOCK) $(BENCH_LOCK) pyproject.toml $(INTEGRATIONS) | $(UV)
	$(call install_locked,$(BENCH_VENV),$(PYTHON))
	$(UV) pip install --quiet --python $(BENCH_VENV)/bin/python --requirement $(BENCH_LOCK)
	$(call install_project,$(BENCH_VENV))
	touch $@

# Every budget with PASS or FAIL (exit 1 when one fails), then the README's tables from that run.
bench: $(BENCH_VENV)/.bench-stamp
	$(BENCH_VENV)/bin/python -m benchmarks; status=$$?; \
	$(BENCH_VENV)/bin/python -m benchmarks.readme; exit $$status

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
