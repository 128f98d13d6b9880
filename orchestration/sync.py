"""Headless runs of the warehouse job for a date range (what `warehouse sync` and `warehouse demo` call)."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

from dagster import DagsterInstance, ExecuteInProcessResult

from orchestration import settings
from orchestration.schedules import range_tags

REQUIRED_ENV = {
    "CLOCKIFY_API_KEY": "your Clockify API key (Clockify > Profile settings > API)",
    "CLOCKIFY_WORKSPACE_ID": "the id of the Clockify workspace to load (in the workspace settings URL)",
    "LINEAR_API_KEY": "a Linear personal API key (Linear > Settings > Security & access)",
}


class SyncError(RuntimeError):
    """A sync could not run or failed; the message is one line naming the problem and the fix."""


def parse_day(text: str, flag: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise SyncError(f"{flag} {text!r} is not a date: write it as YYYY-MM-DD, e.g. 2024-05-31.") from None


def validate_range(start: dt.date, end: dt.date, today: dt.date | None = None) -> None:
    today = today or dt.datetime.now(dt.timezone.utc).date()
    first = settings.start_date()
    if start > end:
        raise SyncError(f"--start {start} is after --end {end}: swap them.")
    if start < first:
        raise SyncError(
            f"--start {start} is before WAREHOUSE_START_DATE {first}: start later, or set WAREHOUSE_START_DATE earlier."
        )
    if end > today:
        raise SyncError(f"--end {end} is in the future (today is {today} UTC): end today or earlier.")


def missing_settings() -> list[str]:
    """One line per required variable that is not set."""
    return [
        f"{name} is not set: set it to {meaning} in the environment or in .env."
        for name, meaning in REQUIRED_ENV.items()
        if not os.environ.get(name)
    ]


def _instance() -> DagsterInstance:
    # With DAGSTER_HOME (make sets a project-local one) runs are recorded and show in the UI.
    if os.environ.get("DAGSTER_HOME"):
        settings.ensure_dagster_home()
        return DagsterInstance.get()
    return DagsterInstance.ephemeral()


@dataclass
class SyncOutcome:
    result: ExecuteInProcessResult
    start: dt.date
    end: dt.date

    @property
    def run_id(self) -> str:
        return self.result.run_id


def first_failure(result: ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            message = (error.cause.message if error and error.cause else error.message) if error else "unknown"
            # Dagster wraps user errors; keep the last line, which is ours.
            return f"{event.step_key}: {message.strip().splitlines()[-1]}"
    return "the run failed before any step ran"


def run_sync(
    start: dt.date,
    end: dt.date,
    *,
    instance: DagsterInstance | None = None,
    asset_selection=None,
    log_level: str = "INFO",
) -> SyncOutcome:
    """Materialise every asset (or `asset_selection`) for the days [start, end] in one run."""
    validate_range(start, end)
    problems = missing_settings()
    if problems:
        raise SyncError(" ".join(problems))
    # Built per call: resources read URLs and the warehouse path from the environment as it is now.
    from orchestration.definitions import build_definitions

    job = build_definitions().resolve_job_def("warehouse_job")
    result = job.execute_in_process(
        # INFO keeps the assets' progress lines and drops Dagster's per-event debug chatter.
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        instance=instance or _instance(),
        tags=range_tags(start, end),
        raise_on_error=False,
        asset_selection=asset_selection,
    )
    if not result.success:
        raise SyncError(f"sync {start} .. {end} failed at {first_failure(result)}")
    return SyncOutcome(result=result, start=start, end=end)
