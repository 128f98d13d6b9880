"""Shared fixtures: a sandbox serving both APIs, and an environment pointing the pipeline at it."""

from __future__ import annotations

import datetime as dt
import os
import time

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


class Budget:
    """What is left of a test's pytest timeout (pyproject: `timeout`, or the test's `timeout` marker), less a
    margin: the test's own waits stay inside it, so a hang fails with the test's message and output instead of
    pytest-timeout's stack dump, and no internal timeout can outlast pytest's."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def left(self, cap: float | None = None) -> float:
        """Seconds left (at most `cap`), at least 1 so a wait still happens once."""
        left = max(1.0, self.deadline - time.monotonic())
        return min(left, cap) if cap is not None else left


@pytest.fixture
def budget(request) -> Budget:
    marker = request.node.get_closest_marker("timeout")
    timeout = float(marker.args[0]) if marker and marker.args else float(request.config.getini("timeout") or 0)
    assert timeout > 0, "tests run with a pytest timeout (pyproject.toml [tool.pytest.ini_options] timeout)"
    return Budget(timeout - 30)  # 30 s for the test's own clean-up and assertions
