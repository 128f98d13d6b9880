"""Configuration read from the environment (and a git-ignored `.env` file).

Only non-secret settings are read here; API keys reach resources through `dagster.EnvVar`, so their values
never enter run config, asset metadata or logs.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

from dotenv import load_dotenv

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

DEFAULTS = {
    "CLOCKIFY_API_URL": "https://api.clockify.me/api/v1",
    "CLOCKIFY_REPORTS_URL": "https://reports.api.clockify.me/v1",
    "LINEAR_API_URL": "https://api.linear.app/graphql",
    "WAREHOUSE_PATH": "data/warehouse.duckdb",
    "WAREHOUSE_START_DATE": "2024-01-01",
}

# dbt must never phone home (and cannot: there is no network).
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable and the fix."""


def load_env() -> None:
    """Honour a `.env` in the working directory or the project root; real environment variables win."""
    load_dotenv(Path.cwd() / ".env", override=False)
    load_dotenv(PROJECT_ROOT / ".env", override=False)


def get(name: str) -> str:
    return os.environ.get(name) or DEFAULTS[name]


def warehouse_path() -> Path:
    """Absolute path of the DuckDB file; relative paths are taken from the project root.

    The same absolute path is exported back into `WAREHOUSE_PATH` so the dbt profile, which reads the
    variable from its own working directory, opens the very same file.
    """
    path = Path(get("WAREHOUSE_PATH")).expanduser()
    if not path.is_absolute():
        path = PROJECT_ROOT / path
    os.environ["WAREHOUSE_PATH"] = str(path)
    return path


def ensure_dagster_home() -> Path:
    """Use the project-local DAGSTER_HOME (run history persists) with the project's dagster.yaml.

    The copy in DAGSTER_HOME is kept equal to the project's file, so a changed instance setting (such as
    the duckdb pool) reaches homes created by an older checkout; edit the project's dagster.yaml instead.
    """
    home = Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    wanted = (PROJECT_ROOT / "dagster.yaml").read_text()
    if not config.exists() or config.read_text() != wanted:
        config.write_text(wanted)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def start_date() -> dt.date:
    raw = get("WAREHOUSE_START_DATE")
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ConfigError(
            f"WAREHOUSE_START_DATE={raw!r} is not a date: set it as YYYY-MM-DD, e.g. 2024-01-01."
        ) from None


def marts_storage_version() -> str | None:
    """`MARTS_STORAGE_VERSION`: DuckDB storage version of the published marts file (None: publish's default,
    v1.0.0, which every DuckDB since 1.0 reads; `latest` = the running DuckDB's own, unreadable before 2.0)."""
    raw = (os.environ.get("MARTS_STORAGE_VERSION") or "").strip()
    if not raw:
        return None
    if raw != "latest" and not re.fullmatch(r"v\d+\.\d+\.\d+", raw):
        raise ConfigError(
            f"MARTS_STORAGE_VERSION={raw!r} is not a DuckDB version: set it like v1.0.0 (the default, read by "
            "DuckDB 1.0 and later) or latest."
        )
    return raw


def marts_parquet_dir() -> Path | None:
    """`MARTS_PARQUET_DIR`: where each publish also writes the marts as Parquet (None: no Parquet).

    Relative paths are taken from the warehouse file's directory, like `MARTS_PATH`.
    """
    raw = (os.environ.get("MARTS_PARQUET_DIR") or "").strip()
    return Path(raw).expanduser() if raw else None


load_env()
