# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
# Run history of the UI and of syncs persists here (tests use their own temp homes); the demo keeps its own,
# in data/demo/dagster_home (WAREHOUSE_DEMO_DIR), and so does `make ui` while no Clockify key is set.
DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install demo test check lint ui bench clean browser readers

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Then what a first sync or demo would do before its first asset (dbt parse ~5 s, the run history's storage),
# ahead of it: `warehouse prepare` is quick when both are current.
install: $(STAMP)
	DAGSTER_HOME=$(DAGSTER_HOME) $(BIN)/warehouse prepare

# DuckDB 1.x readers of the published marts (one environment holds one duckdb): .venv-duckdb1 (1.4) and
# .venv-duckdb10 (1.0.0), each with duckdb-engine + SQLAlchemy, pinned in tests/readers/duckdb*.txt.
# tests/test_bi_readers.py opens the published file with them. Built once (~20 s), rebuilt when a pin changes.
READER_STAMPS := .venv-duckdb1/.installed .venv-duckdb10/.installed
.venv-duckdb%/.installed: tests/readers/duckdb%.txt
	test -x .venv-duckdb$*/bin/python || $(PYTHON) -m venv .venv-duckdb$*
	.venv-duckdb$*/bin/pip install --quiet --disable-pip-version-check -r $<
	touch $@

readers: $(READER_STAMPS)

demo: install
	$(BIN)/warehouse demo

# The report test renders the HTML in headless Chromium: Debian's package (no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's chromium for the report test ..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "warning: chromium is missing: install it (e.g. sudo apt-get install chromium) for the report test"; fi; }

# Three workers (pytest-xdist): most tests wait on the sandbox's latency, dbt and subprocesses (two workers
# kept a 2-core machine ~55% busy), so three keep it busy. --dist loadgroup: one group at a time per worker,
# a group being a file, or one test of a long file (tests/conftest.py), longest first in collection order
# (--no-loadscope-reorder keeps that order). --durations: CI's log names the slowest tests.
TEST_WORKERS ?= 3
test: $(STAMP) browser readers lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder --durations=25

# The fast subset (well under a minute): lint, format, the import layers, and the tests not marked slow.
check: $(STAMP) lint
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

ui: $(STAMP)
	DAGSTER_HOME=$(DAGSTER_HOME) $(BIN)/warehouse ui

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf data .dagster_home dbt_project/target dbt_project/logs
