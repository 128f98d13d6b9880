"""Resources built from the environment. Secrets go through EnvVar: never in run config or logs."""

from __future__ import annotations

import os

from dagster import EnvVar

from orchestration import settings
from orchestration.clients.clockify.client import ClockifyClient
from orchestration.clients.linear.client import LinearClient
from orchestration.warehouse.duckdb import Warehouse


def _number_env(name: str, default: float, kind=float, unit: str = "seconds") -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = -1
    if value <= 0:
        raise settings.ConfigError(f"{name}={raw!r} must be a positive number of {unit}, e.g. {default:g}.")
    return value


def build_resources() -> dict:
    # Retries are bounded in attempts and in total time; both are settable for flaky networks.
    retry = {
        "max_retry_seconds": _number_env("API_MAX_RETRY_SECONDS", 300.0),
        "max_attempts": _number_env("API_MAX_ATTEMPTS", 8, int, "attempts"),
    }
    return {
        "clockify": ClockifyClient(
            api_key=EnvVar("CLOCKIFY_API_KEY"),
            workspace_id=EnvVar("CLOCKIFY_WORKSPACE_ID"),
            api_url=settings.get("CLOCKIFY_API_URL"),
            reports_url=settings.get("CLOCKIFY_REPORTS_URL"),
            **retry,
        ),
        "linear": LinearClient(
            api_key=EnvVar("LINEAR_API_KEY"),
            api_url=settings.get("LINEAR_API_URL"),
            **retry,
        ),
        "warehouse": Warehouse(path=str(settings.warehouse_path())),
    }
