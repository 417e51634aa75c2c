# Gantry — developer entry points. `make help` lists them.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install system-deps test test-fast lint typecheck proto proto-check run bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

system-deps: ## Install the Debian packages the suite needs (only those missing)
	@./scripts/install-system-deps.sh

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory system-deps
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install Gantry editable with dev deps

lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check .


typecheck: $(STAMP) ## mypy --strict
	$(VENV)/bin/mypy

test: $(STAMP) system-deps ## Install what is needed, then ruff, mypy --strict and the whole suite
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

test-fast: $(STAMP) ## pytest without the slow end-to-end tests
	$(VENV)/bin/pytest -m 'not slow and not bench'

proto: $(STAMP) ## Regenerate proto/mesos/**/*_pb2.py(i) from the .proto files
	$(PY) -m proto.generate

proto-check: $(STAMP) ## Fail when the generated modules are stale
	$(PY) -m proto.generate --check

run: $(STAMP) ## Run Gantry on its embedded local cluster
	$(VENV)/bin/gantry run

bench: $(STAMP) ## Benchmarks; results in bench/results/ and docs/performance.md
	$(PY) -m bench

clean: ## Remove the venv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
