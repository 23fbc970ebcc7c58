# CodexOS tenancy. `make demo` runs the main job, `make test` runs the tests; both set up
# everything they need (virtualenv, dependencies, server binaries) on a fresh machine.
.DEFAULT_GOAL := help
SHELL := /bin/bash
VENV := .venv
UV := .tools/bin/uv
UV_VERSION := 0.13.8
PYTHON ?= python3
export UV_PYTHON_DOWNLOADS := never
# The demo, the UI and the tests run in the local profile: throwaway servers for anything unset.
LOCAL := TENANCY_PROFILE=local

.PHONY: help setup venv demo ui test lint deps down clean example

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-6s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

deps: ## Find or install PostgreSQL >= 15, Redis >= 7, promtool and Chromium (Debian packages)
	@bash scripts/ensure-servers.sh

setup: deps $(VENV)/.synced ## Create the virtualenv and find the server binaries (demo and test do this)

venv: $(VENV)/.synced ## Only the virtualenv, no server binaries (what the deploy jobs need)

demo: deps $(VENV)/.synced ## Run the main job on embedded defaults (throwaway local servers)
	$(LOCAL) $(VENV)/bin/python -m pipelines.demo

ui: $(VENV)/.synced ## Open the Dagster UI (http://127.0.0.1:3000) on the demo's data
	@mkdir -p .run/dagster && cp -n pipelines/dagster.yaml .run/dagster/dagster.yaml
	$(LOCAL) DAGSTER_HOME=$(CURDIR)/.run/dagster $(VENV)/bin/dagster dev -h 127.0.0.1 -p 3000

test: deps $(VENV)/.synced ## Run the test suite; it starts its own PostgreSQL and Redis
	$(LOCAL) $(VENV)/bin/pytest $(PYTEST_ARGS)

lint: $(VENV)/.synced ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

down: ## Stop the local servers that `make demo` left running
	-@[ -x $(VENV)/bin/tenancy ] && $(LOCAL) $(VENV)/bin/tenancy dev down

clean: down ## Remove the virtualenv and the run directory
	rm -rf $(VENV) .tools .run

example: deps $(VENV)/.synced ## Serve the example service behind the tenancy middleware (http://127.0.0.1:8000)
	$(LOCAL) $(VENV)/bin/python -m tenancy.web.example
