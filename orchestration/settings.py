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
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from pydantic import SecretStr

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

CLOCKIFY_API_URL = "https://api.clockify.me/api/v1"
CLOCKIFY_REPORTS_URL = "https://reports.api.clockify.me/v1"
LINEAR_API_URL = "https://api.linear.app/graphql"
# Regional and subdomain workspaces live on their own host, main API and reports API side by side
# (api-notes.md): https://<region>.clockify.me/api/v1 and .../report/v1 (note: `report`, singular).
CLOCKIFY_REGIONS = ("euc1", "use2", "euw2", "apse2")
# CLOCKIFY_HOST_TEMPLATE: where `{host}` lives; the sandbox serves each host under a path instead
# (`http://127.0.0.1:<port>/{host}`), and a proxy may too.
CLOCKIFY_HOST_TEMPLATE = "https://{host}.clockify.me"
HOST_API_PATH = "/api/v1"
HOST_REPORTS_PATH = "/report/v1"
REGIONAL_API_URL = CLOCKIFY_HOST_TEMPLATE.replace("{host}", "{region}") + HOST_API_PATH
REGIONAL_REPORTS_URL = CLOCKIFY_HOST_TEMPLATE.replace("{host}", "{region}") + HOST_REPORTS_PATH
WAREHOUSE_PATH = "data/warehouse.duckdb"  # relative paths are taken from the project root
# The demo's own files (warehouse, marts, report, logs, run history): never WAREHOUSE_PATH's.
DEMO_DIR = "data/demo"
DEMO_DAGSTER_HOME = "dagster_home"  # under the demo directory
LOGS_DIR = "logs"  # beside the warehouse: each sync's and demo's full log
REPORT_FILE_NAME = "report.html"  # beside the warehouse unless `warehouse report --out` says otherwise
MARTS_FILE_NAME = "marts.duckdb"  # beside the warehouse unless MARTS_PATH says otherwise
# MARTS_STORAGE_VERSION: a DuckDB version like v1.0.0, or latest (the running DuckDB's own format).
MARTS_STORAGE_VERSION_PATTERN = re.compile(r"v\d+\.\d+\.\d+|latest")
START_DATE = dt.date(2024, 1, 1)
RESYNC_DAYS = 7
# WAREHOUSE_STEP_THREADS: steps of a run at once (orchestration/executor.py; 1 = one at a time)
STEP_THREADS = 4
BUDGET_WAIT_SECONDS = 300.0
RECONCILE_DAYS = 1
DEEP_RESYNC_MONTHS = 3
DEEP_RESYNC_DAYS = 7
# Days within which a daily run reads each slowly changing Clockify record again (orchestration/clients/
# clockify/rotation.py): the rarely changing lists; member profiles and each project's DONE-task listing
# (one request each: a team of 200 costs 200/period requests a day).
REFRESH_DAYS = 7
RECORD_REFRESH_DAYS = 28
WRITEBACK_MAX_WRITES = 200
# The zone whose calendar days and ISO weeks a Clockify user without a profile time zone is counted in.
WAREHOUSE_TIMEZONE = "UTC"
# Hours of a working day for people whose Clockify profile sets no work capacity (capacity_per_person_week).
WORKDAY_HOURS = 8.0
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
    region: str | None = None  # CLOCKIFY_REGION: sets both URLs unless they are set themselves
    subdomain: str | None = None  # CLOCKIFY_SUBDOMAIN: the same, for https://<subdomain>.clockify.me
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
    refresh_days: int = REFRESH_DAYS  # CLOCKIFY_REFRESH_DAYS
    record_refresh_days: int = RECORD_REFRESH_DAYS  # CLOCKIFY_RECORD_REFRESH_DAYS


@dataclass(frozen=True)
class LinearSettings:
    api_url: str = LINEAR_API_URL
    api_key: SecretStr | None = None
    page_size: int | None = None
    # Not read from the environment: a headless sync learns it from its checks (`warehouse check`), and
    # the warehouse's source marker records it (orchestration/warehouse/source.py).
    organization_id: str | None = None
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
    # MARTS_STORAGE_VERSION: DuckDB storage version of the published file, like v1.0.0 or latest (None:
    # publish's default, v1.0.0, which every DuckDB since 1.0 reads; latest is unreadable before 2.0).
    marts_storage_version: str | None = None
    # MARTS_PARQUET_DIR, absolute: each publish also writes the marts as Parquet there (None: no Parquet).
    marts_parquet_dir: Path | None = None
    start_date: dt.date = START_DATE  # the first daily partition
    resync_days: int = RESYNC_DAYS  # days before yesterday the daily run loads again
    step_threads: int = STEP_THREADS  # steps of a run at once; each API client's steps take turns anyway
    clockify: ClockifySettings = field(default_factory=ClockifySettings)
    linear: LinearSettings = field(default_factory=LinearSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    writeback: WritebackSettings = field(default_factory=WritebackSettings)
    dbt_target_path: Path = DBT_PROJECT_DIR / "target"  # DBT_TARGET_PATH: dbt's artifacts, manifest included
    dagster_home: Path | None = None  # DAGSTER_HOME: headless runs are recorded there when set
    dbt_executable: str | None = None  # DBT_EXECUTABLE: the dbt CLI to run; None = this environment's
    demo_dir: Path = PROJECT_ROOT / DEMO_DIR  # WAREHOUSE_DEMO_DIR: the demo's files (absolute)
    # The data comes from the built-in sandbox, not from a real workspace: set by `demo()` (the demo, and
    # the UI and `dagster` commands when no CLOCKIFY_API_KEY is set) or WAREHOUSE_SANDBOX=1.
    sandbox: bool = False
    # WAREHOUSE_TIMEZONE (IANA name): the local days and weeks of users whose Clockify profile has no zone
    timezone: str = WAREHOUSE_TIMEZONE
    # WAREHOUSE_WORKDAY_HOURS: hours of a working day where a Clockify member profile has no work capacity
    workday_hours: float = WORKDAY_HOURS
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

        warehouse = _from_root(get("WAREHOUSE_PATH") or WAREHOUSE_PATH)
        region = _region(get("CLOCKIFY_REGION"))
        subdomain = _subdomain(get("CLOCKIFY_SUBDOMAIN"), region)
        host_base = _host_base(get("CLOCKIFY_HOST_TEMPLATE"), region or subdomain)
        return cls(
            warehouse_path=warehouse,
            marts_path=marts_path(warehouse, get("MARTS_PATH")),
            marts_storage_version=_storage_version(get("MARTS_STORAGE_VERSION")),
            marts_parquet_dir=marts_parquet_dir(warehouse, get("MARTS_PARQUET_DIR")),
            start_date=_date("WAREHOUSE_START_DATE", get("WAREHOUSE_START_DATE"), START_DATE),
            resync_days=_whole("WAREHOUSE_RESYNC_DAYS", get("WAREHOUSE_RESYNC_DAYS"), RESYNC_DAYS, "days", minimum=0),
            step_threads=_whole(
                "WAREHOUSE_STEP_THREADS", get("WAREHOUSE_STEP_THREADS"), STEP_THREADS, "steps", minimum=1
            ),
            clockify=ClockifySettings(
                # The explicit URLs win over the region or subdomain.
                api_url=get("CLOCKIFY_API_URL") or (host_base + HOST_API_PATH if host_base else CLOCKIFY_API_URL),
                reports_url=get("CLOCKIFY_REPORTS_URL")
                or (host_base + HOST_REPORTS_PATH if host_base else CLOCKIFY_REPORTS_URL),
                region=region,
                subdomain=subdomain,
                workspace_id=get("CLOCKIFY_WORKSPACE_ID"),
                api_key=_secret(get("CLOCKIFY_API_KEY")),
                time_entries_strategy=_strategy(get("CLOCKIFY_TIME_ENTRIES_STRATEGY")),
                plan=_plan(get("CLOCKIFY_PLAN")),
                deep_resync_months=_whole(
                    "CLOCKIFY_DEEP_RESYNC_MONTHS", get("CLOCKIFY_DEEP_RESYNC_MONTHS"), DEEP_RESYNC_MONTHS, "months", 1
                ),
                deep_resync_days=_whole(
                    "CLOCKIFY_DEEP_RESYNC_DAYS", get("CLOCKIFY_DEEP_RESYNC_DAYS"), DEEP_RESYNC_DAYS, "days", 1
                ),
                refresh_days=_whole("CLOCKIFY_REFRESH_DAYS", get("CLOCKIFY_REFRESH_DAYS"), REFRESH_DAYS, "days", 1),
                record_refresh_days=_whole(
                    "CLOCKIFY_RECORD_REFRESH_DAYS",
                    get("CLOCKIFY_RECORD_REFRESH_DAYS"),
                    RECORD_REFRESH_DAYS,
                    "days",
                    1,
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
                enabled=_flag("CLOCKIFY_WRITEBACK", get("CLOCKIFY_WRITEBACK"), "write to Clockify"),
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
            demo_dir=_from_root(get("WAREHOUSE_DEMO_DIR") or DEMO_DIR),
            sandbox=_flag("WAREHOUSE_SANDBOX", get("WAREHOUSE_SANDBOX"), "use the built-in sandbox"),
            timezone=_timezone("WAREHOUSE_TIMEZONE", get("WAREHOUSE_TIMEZONE")),
            workday_hours=_workday_hours(get("WAREHOUSE_WORKDAY_HOURS")),
        )

    def configured(self) -> list[str]:
        """The settings of a real source that are set (keys, workspace, hosts). None: nothing is configured
        (right after `make demo`), and the Dagster code location and the UI read the built-in sandbox."""
        c, lin = self.clockify, self.linear
        found = {
            "CLOCKIFY_API_KEY": c.api_key is not None,
            "CLOCKIFY_WORKSPACE_ID": c.workspace_id is not None,
            "LINEAR_API_KEY": lin.api_key is not None,
            "CLOCKIFY_REGION": c.region is not None,
            "CLOCKIFY_SUBDOMAIN": c.subdomain is not None,
            "CLOCKIFY_API_URL": c.region is None and c.subdomain is None and c.api_url != CLOCKIFY_API_URL,
            "CLOCKIFY_REPORTS_URL": c.region is None and c.subdomain is None and c.reports_url != CLOCKIFY_REPORTS_URL,
            "LINEAR_API_URL": lin.api_url != LINEAR_API_URL,
        }
        return [name for name, present in found.items() if present]

    def demo(self, sandbox_env: Mapping[str, str] | None = None) -> Settings:
        """These settings for the sandbox: its URLs, keys and workspace (`sandbox_env`, from `Sandbox.env()`;
        None: the ones these settings already hold, as in a process `warehouse ui` handed the sandbox's
        variables to), and the demo's own files under `demo_dir` (warehouse, marts, report, logs and
        DAGSTER_HOME), whatever WAREHOUSE_PATH, MARTS_PATH and DAGSTER_HOME say: a demo never writes a real
        warehouse or its run history."""
        if sandbox_env is None:
            clockify, linear = replace(self.clockify, region=None, subdomain=None), self.linear
        else:
            env = dict(sandbox_env)
            clockify = replace(
                self.clockify,
                api_url=env.get("CLOCKIFY_API_URL", self.clockify.api_url),
                reports_url=env.get("CLOCKIFY_REPORTS_URL", self.clockify.reports_url),
                workspace_id=env.get("CLOCKIFY_WORKSPACE_ID"),
                api_key=_secret(env.get("CLOCKIFY_API_KEY")),
                region=None,
                subdomain=None,
            )
            linear = replace(
                self.linear,
                api_url=env.get("LINEAR_API_URL", self.linear.api_url),
                api_key=_secret(env.get("LINEAR_API_KEY")),
            )
        linear = replace(linear, organization_id=None)
        warehouse = self.demo_dir / "warehouse.duckdb"
        return replace(
            self,
            warehouse_path=warehouse,
            marts_path=warehouse.parent / MARTS_FILE_NAME,
            clockify=clockify,
            linear=linear,
            writeback=replace(self.writeback, enabled=False),  # the demo never writes to any Clockify
            dagster_home=self.demo_dir / DEMO_DAGSTER_HOME,
            sandbox=True,
        )

    @property
    def report_path(self) -> Path:
        """Where `warehouse report` writes by default: report.html beside the warehouse."""
        return self.warehouse_path.parent / REPORT_FILE_NAME

    @property
    def logs_dir(self) -> Path:
        """Where each sync and demo writes its full log: logs/ beside the warehouse."""
        return self.warehouse_path.parent / LOGS_DIR

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


def marts_parquet_dir(warehouse: Path, configured: str | None) -> Path | None:
    """`MARTS_PARQUET_DIR` (relative paths from the warehouse's directory, like MARTS_PATH), or None.

    Made absolute without resolving symlinks: the directory itself is the symlink each publish replaces.
    """
    if not configured:
        return None
    return Path(os.path.abspath(warehouse.expanduser().resolve().parent / Path(configured).expanduser()))


def _storage_version(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not MARTS_STORAGE_VERSION_PATTERN.fullmatch(raw):
        raise ConfigError(
            f"MARTS_STORAGE_VERSION={raw!r} is not a DuckDB version: set it like v1.0.0 (the default, read by "
            "DuckDB 1.0 and later) or latest."
        )
    return raw


def _from_root(configured: str) -> Path:
    """A path setting: relative paths are taken from the project root."""
    path = Path(configured).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def _region(raw: str | None) -> str | None:
    if raw is None:
        return None
    region = raw.lower()
    if region not in CLOCKIFY_REGIONS:
        raise ConfigError(
            f"CLOCKIFY_REGION={raw!r} is not a Clockify region: set it to one of {', '.join(CLOCKIFY_REGIONS)} "
            "(the start of your workspace's address, e.g. euc1.clockify.me), or leave it unset for the global "
            "hosts; a subdomain workspace sets CLOCKIFY_SUBDOMAIN instead."
        )
    return region


def _subdomain(raw: str | None, region: str | None) -> str | None:
    if raw is None:
        return None
    name = raw.lower()
    for prefix in ("https://", "http://"):  # a pasted address: keep its first label
        name = name.removeprefix(prefix)
    name = name.split(".clockify.me")[0].strip("/")
    if region is not None:
        raise ConfigError(
            f"CLOCKIFY_SUBDOMAIN={raw!r} and CLOCKIFY_REGION={region!r} are both set: a workspace has one host; "
            "keep CLOCKIFY_SUBDOMAIN for https://<name>.clockify.me, or CLOCKIFY_REGION for a regional one."
        )
    if not re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", name) or name in CLOCKIFY_REGIONS:
        hint = f"; {name} is a region: set CLOCKIFY_REGION={name}" if name in CLOCKIFY_REGIONS else ""
        raise ConfigError(
            f"CLOCKIFY_SUBDOMAIN={raw!r} is not a subdomain: set it to the first part of your workspace's address "
            f"(acme for https://acme.clockify.me){hint}."
        )
    return name


def _host_base(template: str | None, host: str | None) -> str | None:
    """`https://<host>.clockify.me` (or CLOCKIFY_HOST_TEMPLATE's form) for a region or subdomain."""
    if host is None:
        return None
    template = template or CLOCKIFY_HOST_TEMPLATE
    if "{host}" not in template:
        raise ConfigError(
            f"CLOCKIFY_HOST_TEMPLATE={template!r} has no {{host}}: write it like {CLOCKIFY_HOST_TEMPLATE}, "
            "or leave it unset."
        )
    return template.replace("{host}", host).rstrip("/")


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


def _timezone(name: str, raw: str | None) -> str:
    """An IANA zone name (e.g. Europe/Berlin); offsets like +02:00 are refused: they know no DST."""
    if raw is None:
        return WAREHOUSE_TIMEZONE
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{name}={raw!r} is not an IANA time zone: set it to a name like America/Los_Angeles or UTC."
        ) from None
    return raw


def _workday_hours(raw: str | None) -> float:
    if raw is None:
        return WORKDAY_HOURS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 24:
        raise ConfigError(
            f"WAREHOUSE_WORKDAY_HOURS={raw!r} must be the hours of a working day, more than 0 and at most 24 "
            f"(default {WORKDAY_HOURS:g})."
        )
    return value


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


def _flag(name: str, raw: str | None, meaning: str) -> bool:
    value = (raw or "0").lower()
    if value not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
        raise ConfigError(f"{name}={value!r} must be 1 ({meaning}) or 0 (default).")
    return value in ("1", "true", "yes", "on")


def _strategy(raw: str | None) -> Literal["report", "per_user"]:
    value = (raw or "report").lower()
    if value not in ("report", "per_user"):
        raise ConfigError(
            f"CLOCKIFY_TIME_ENTRIES_STRATEGY={raw!r} must be report (the detailed report, default) or per_user "
            "(one main-API read per user)."
        )
    return cast(Literal["report", "per_user"], value)
