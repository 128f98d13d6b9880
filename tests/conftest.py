"""Shared fixtures: a sandbox serving both APIs, and an environment pointing the pipeline at it."""

from __future__ import annotations

import datetime as dt
import os

import pytest

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
# Tests never write run history into a developer's DAGSTER_HOME; those that need one make a temp home.
os.environ.pop("DAGSTER_HOME", None)

from sandbox import Sandbox, SandboxConfig  # noqa: E402

# A fixed anchor keeps every test's data identical from day to day.
ANCHOR = dt.date(2024, 6, 28)
SMALL = dict(seed=11, users=6, teams=3, issues=90, days=40, anchor=ANCHOR, projects=5, clients=3, tags=4)


@pytest.fixture
def sandbox():
    """A fresh sandbox per test: tests mutate its data and inject faults."""
    with Sandbox(SandboxConfig(**SMALL)) as sb:
        yield sb


@pytest.fixture
def pipeline_env(sandbox, tmp_path, monkeypatch):
    """Point every setting at the sandbox and a temp warehouse file."""
    for key, value in sandbox.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("API_MAX_RETRY_SECONDS", "60")
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return sandbox
