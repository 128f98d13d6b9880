"""One typed `Settings` for the whole warehouse, read when an entry point asks for it.

Nothing here runs at import and nothing writes `os.environ`. The entry points (the `warehouse` CLI and the
`@definitions` function Dagster loads) call `Settings.load()`, which reads the environment and the
`.env` files (real environment variables win); everything below them gets the `Settings` passed down.
Tests and benchmarks build theirs with `Settings.from_env({...})` and `dataclasses.replace`.

The API keys are held as `SecretStr` (masked in every repr) and reach the clients inside the resource
functions (orchestration/resources.py): never run config, asset metadata, logs or DuckDB.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dotenv import dotenv_values
from pydantic import SecretStr

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

CLOCKIFY_API_URL = "https://api.clockify.me/api/v1"
CLOCKIFY_REPORTS_URL = "https://reports.api.clockify.me/v1"
LINEAR_API_URL = "https://api.linear.app/graphql"
WAREHOUSE_PATH = "data/warehouse.duckdb"  # relative paths are taken from the project root
MARTS_FILE_NAME = "marts.duckdb"  # beside the warehouse unless MARTS_PATH says otherwise
START_DATE = dt.date(2024, 1, 1)
RESYNC_DAYS = 7
BUDGET_WAIT_SECONDS = 300.0
RECONCILE_DAYS = 1
DEEP_RESYNC_MONTHS = 3
DEEP_RESYNC_DAYS = 7
WRITEBACK_MAX_WRITES = 200
DOTENV_SWITCH = "WAREHOUSE_DOTENV"  # 0: the entry points read no .env file (the tests set it)

# What each required setting is, for the one-line "X is not set" messages.
REQUIRED = {
    "CLOCKIFY_API_KEY": "your Clockify API key (Clockify > Profile settings > API)",
    "CLOCKIFY_WORKSPACE_ID": "the id of the Clockify workspace to load (in the workspace settings URL)",
    "LINEAR_API_KEY": "a Linear personal API key (Linear > Settings > Security & access)",
}


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable and the fix."""


@dataclass(frozen=True)
class ApiSettings:
    """Timeouts and the retry budget of one API call (API_MAX_ATTEMPTS, API_MAX_RETRY_SECONDS)."""

    max_attempts: int = 8
    max_retry_seconds: float = 300.0  # total wall time across attempts and waits
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    backoff_base: float = 0.5  # first backoff window in seconds; doubles
    # API_BUDGET_WAIT_SECONDS: what a client may wait in total for an API budget (Clockify's plan, Linear's
    # hourly buckets) before the run stops with what it loaded; None: as long as it takes (`sync --wait`).
    budget_wait_seconds: float | None = BUDGET_WAIT_SECONDS


@dataclass(frozen=True)
class ClockifySettings:
    api_url: str = CLOCKIFY_API_URL
    reports_url: str = CLOCKIFY_REPORTS_URL
    workspace_id: str | None = None
    api_key: SecretStr | None = None
    time_entries_strategy: Literal["report", "per_user"] = "report"
    page_size: int | None = None  # None: the client's default (the API's maximum)
    report_page_size: int | None = None
    plan: Literal["paid", "free"] = "paid"  # CLOCKIFY_PLAN: free = 30 requests/hour for the workspace
    # Where the changes feed is unavailable: re-read the last CLOCKIFY_DEEP_RESYNC_MONTHS months every
    # CLOCKIFY_DEEP_RESYNC_DAYS days, so old edits and deletions are corrected anyway.
    deep_resync_months: int = DEEP_RESYNC_MONTHS
    deep_resync_days: int = DEEP_RESYNC_DAYS


@dataclass(frozen=True)
class LinearSettings:
    api_url: str = LINEAR_API_URL
    api_key: SecretStr | None = None
    page_size: int | None = None
    reconcile_days: int = RECONCILE_DAYS  # LINEAR_RECONCILE_DAYS: days between walks of every issue id


@dataclass(frozen=True)
class WritebackSettings:
    enabled: bool = False  # CLOCKIFY_WRITEBACK=1
    team_keys: frozenset[str] | None = None  # LINEAR_TEAM_KEYS; None = all teams
    max_writes: int = WRITEBACK_MAX_WRITES  # CLOCKIFY_WRITEBACK_MAX_WRITES


@dataclass(frozen=True)
class Settings:
    warehouse_path: Path  # absolute
    marts_path: Path  # absolute: the published file BI tools read
    start_date: dt.date = START_DATE  # the first daily partition
    resync_days: int = RESYNC_DAYS  # days before yesterday the daily run loads again
    clockify: ClockifySettings = field(default_factory=ClockifySettings)
    linear: LinearSettings = field(default_factory=LinearSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    writeback: WritebackSettings = field(default_factory=WritebackSettings)
    dbt_target_path: Path = DBT_PROJECT_DIR / "target"  # DBT_TARGET_PATH: dbt's artifacts, manifest included
    dagster_home: Path | None = None  # DAGSTER_HOME: headless runs are recorded there when set
    dbt_executable: str | None = None  # DBT_EXECUTABLE: the dbt CLI to run; None = this environment's
    # The clock the API clients pace, wait and stamp budgets by (budget.ApiClock); None = the machine's.
    # Not a variable: tests and benchmarks pass the sandbox's simulated clock.
    clock: object | None = None

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """What an entry point uses: `environ` (default: the process environment) over the `.env` files
        in the working directory and the project root, unless WAREHOUSE_DOTENV=0."""
        environ = os.environ if environ is None else environ
        return cls.from_env({**read_dotenv(environ), **environ})

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Settings from a mapping of variables (no file is read). Raises ConfigError naming the variable."""

        def get(name: str) -> str | None:
            value = (env.get(name) or "").strip()
            return value or None

        warehouse = Path(get("WAREHOUSE_PATH") or WAREHOUSE_PATH).expanduser()
        if not warehouse.is_absolute():
            warehouse = PROJECT_ROOT / warehouse
        return cls(
            warehouse_path=warehouse,
            marts_path=marts_path(warehouse, get("MARTS_PATH")),
            start_date=_date("WAREHOUSE_START_DATE", get("WAREHOUSE_START_DATE"), START_DATE),
            resync_days=_whole("WAREHOUSE_RESYNC_DAYS", get("WAREHOUSE_RESYNC_DAYS"), RESYNC_DAYS, "days", minimum=0),
            clockify=ClockifySettings(
                api_url=get("CLOCKIFY_API_URL") or CLOCKIFY_API_URL,
                reports_url=get("CLOCKIFY_REPORTS_URL") or CLOCKIFY_REPORTS_URL,
                workspace_id=get("CLOCKIFY_WORKSPACE_ID"),
                api_key=_secret(get("CLOCKIFY_API_KEY")),
                plan=_plan(get("CLOCKIFY_PLAN")),
                deep_resync_months=_whole(
                    "CLOCKIFY_DEEP_RESYNC_MONTHS", get("CLOCKIFY_DEEP_RESYNC_MONTHS"), DEEP_RESYNC_MONTHS, "months", 1
                ),
                deep_resync_days=_whole(
                    "CLOCKIFY_DEEP_RESYNC_DAYS", get("CLOCKIFY_DEEP_RESYNC_DAYS"), DEEP_RESYNC_DAYS, "days", 1
                ),
            ),
            linear=LinearSettings(
                api_url=get("LINEAR_API_URL") or LINEAR_API_URL,
                api_key=_secret(get("LINEAR_API_KEY")),
                reconcile_days=_whole(
                    "LINEAR_RECONCILE_DAYS", get("LINEAR_RECONCILE_DAYS"), RECONCILE_DAYS, "days", minimum=0
                ),
            ),
            api=ApiSettings(
                max_attempts=int(_positive("API_MAX_ATTEMPTS", get("API_MAX_ATTEMPTS"), ApiSettings.max_attempts)),
                max_retry_seconds=_positive(
                    "API_MAX_RETRY_SECONDS", get("API_MAX_RETRY_SECONDS"), ApiSettings.max_retry_seconds
                ),
                budget_wait_seconds=_seconds(
                    "API_BUDGET_WAIT_SECONDS", get("API_BUDGET_WAIT_SECONDS"), BUDGET_WAIT_SECONDS
                ),
            ),
            writeback=WritebackSettings(
                enabled=_flag("CLOCKIFY_WRITEBACK", get("CLOCKIFY_WRITEBACK")),
                team_keys=frozenset(k.strip().upper() for k in (get("LINEAR_TEAM_KEYS") or "").split(",") if k.strip())
                or None,
                max_writes=_whole(
                    "CLOCKIFY_WRITEBACK_MAX_WRITES",
                    get("CLOCKIFY_WRITEBACK_MAX_WRITES"),
                    WRITEBACK_MAX_WRITES,
                    "writes per run",
                    minimum=1,
                ),
            ),
            dbt_target_path=_dbt_target_path(get("DBT_TARGET_PATH")),
            dagster_home=Path(home).expanduser() if (home := get("DAGSTER_HOME")) else None,
            dbt_executable=get("DBT_EXECUTABLE"),
        )

    def missing(self, names: tuple[str, ...] = tuple(REQUIRED)) -> list[str]:
        """One line per required setting of `names` that is not set (blank counts as not set)."""
        present = {
            "CLOCKIFY_API_KEY": self.clockify.api_key is not None,
            "CLOCKIFY_WORKSPACE_ID": self.clockify.workspace_id is not None,
            "LINEAR_API_KEY": self.linear.api_key is not None,
        }
        return [
            f"{name} is not set: set it to {REQUIRED[name]} in the environment or in .env."
            for name in names
            if not present[name]
        ]


def read_dotenv(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of `.env` in the project root and in the working directory (the working directory's
    win); nothing when WAREHOUSE_DOTENV=0. The files are only read: os.environ stays as it is."""
    if (environ.get(DOTENV_SWITCH) or "").strip().lower() in ("0", "false", "no", "off"):
        return {}
    values: dict[str, str] = {}
    for path in (PROJECT_ROOT / ".env", Path.cwd() / ".env"):  # later files win: the working directory's
        if path.is_file():
            values.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    return values


def marts_path(warehouse: Path, configured: str | None) -> Path:
    """`MARTS_PATH` when set (relative paths from the warehouse's directory), else marts.duckdb beside it."""
    warehouse = warehouse.expanduser().resolve()
    if configured:
        path = Path(configured).expanduser()
        return path if path.is_absolute() else (warehouse.parent / path).resolve()
    return warehouse.parent / MARTS_FILE_NAME


def _dbt_target_path(configured: str | None) -> Path:
    path = Path(configured or "target").expanduser()
    return path if path.is_absolute() else DBT_PROJECT_DIR / path


def _secret(value: str | None) -> SecretStr | None:
    return SecretStr(value) if value else None


def _date(name: str, raw: str | None, default: dt.date) -> dt.date:
    if raw is None:
        return default
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a date: set it as YYYY-MM-DD, e.g. {default}.") from None


def _positive(name: str, raw: str | None, default: float) -> float:
    """A positive number; API_MAX_ATTEMPTS must also be whole."""
    if raw is None:
        return default
    whole = isinstance(default, int)
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        value = -1
    if value <= 0:
        unit = "attempts" if whole else "seconds"
        raise ConfigError(f"{name}={raw!r} must be a positive number of {unit}, e.g. {default:g}.")
    return value


def _whole(name: str, raw: str | None, default: int, unit: str, minimum: int) -> int:
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        least = f", at least {minimum}" if minimum else ""
        raise ConfigError(f"{name}={raw!r} must be a whole number of {unit}{least} (default {default}).")
    return int(raw)


def _seconds(name: str, raw: str | None, default: float) -> float:
    """A number of seconds, 0 or more."""
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise ConfigError(f"{name}={raw!r} must be a number of seconds, 0 or more (default {default:g}).")
    return value


def _plan(raw: str | None) -> Literal["paid", "free"]:
    value = (raw or "paid").strip().lower()
    if value not in ("paid", "free"):
        raise ConfigError(
            f"CLOCKIFY_PLAN={raw!r} must be free (a Free-plan workspace: 30 requests/hour) or paid (default)."
        )
    return "free" if value == "free" else "paid"


def _flag(name: str, raw: str | None) -> bool:
    value = (raw or "0").lower()
    if value not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
        raise ConfigError(f"{name}={value!r} must be 1 (write to Clockify) or 0 (default).")
    return value in ("1", "true", "yes", "on")
