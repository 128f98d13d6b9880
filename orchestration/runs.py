"""Headless runs of the warehouse job for a date range (what `warehouse sync` and `warehouse demo` call)."""

from __future__ import annotations

import datetime as dt
import os
import socket
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
    today = today or dt.datetime.now(dt.UTC).date()
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


# Which process runs a headless sync: lets the next sync recognise runs whose process was killed.
PROCESS_TAG = "warehouse/process"


def _process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), so a recycled pid is not mistaken."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def process_tag() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_process_start(pid)}"


def _process_is_gone(tag: str) -> bool:
    host, _, rest = tag.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another machine's run: not ours to judge
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return bool(started) and _process_start(pid) not in ("", started)


def recover_abandoned_runs(instance: DagsterInstance) -> list[str]:
    """Mark failed the unfinished headless runs whose process is gone, and free their pool slots.

    A sync killed with SIGKILL (OOM killer, `kill -9`, a closed CI job) never reports its end: its run
    stays STARTED and keeps the "duckdb" pool slot (limit 1), so every later run would wait for it
    forever. Returns the ids of the runs recovered.
    """
    from dagster import DagsterRunStatus, RunsFilter

    unfinished = [DagsterRunStatus.STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.NOT_STARTED]
    recovered = []
    for run in instance.get_runs(RunsFilter(statuses=unfinished)):
        tag = run.tags.get(PROCESS_TAG)
        if not tag or not _process_is_gone(tag):
            continue
        instance.report_run_failed(run, message=f"The process that ran this sync ({tag}) is gone (killed?).")
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        recovered.append(run.run_id)
    return recovered


def initialize_pool(instance: DagsterInstance, pool: str = "duckdb") -> None:
    """Give pool `duckdb` its limit (dagster.yaml default_limit) now: the run queue only learns of a pool
    the first time it sees one, and dequeues that first time without counting it, so on a fresh
    DAGSTER_HOME two runs queued at once from the UI could both start."""
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits and pool not in storage.get_concurrency_keys():
        storage.initialize_concurrency_limit_to_default(pool)


def _instance() -> DagsterInstance:
    # With DAGSTER_HOME (make sets a project-local one) runs are recorded and show in the UI.
    if os.environ.get("DAGSTER_HOME"):
        from orchestration.warehouse.locking import warehouse_lock

        home = settings.ensure_dagster_home()
        # Two syncs started at once on a fresh DAGSTER_HOME would both create its SQLite storages (and
        # stamp their schema versions twice): take turns creating the instance.
        with warehouse_lock(home / "instance", timeout_seconds=300):
            instance = DagsterInstance.get()
            initialize_pool(instance)
        for run_id in recover_abandoned_runs(instance):
            print(
                f"note: run {run_id[:8]} was left unfinished by a killed sync; marked failed, pool slot freed.",
                flush=True,
            )
        return instance
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
        tags={**range_tags(start, end), PROCESS_TAG: process_tag()},
        raise_on_error=False,
        asset_selection=asset_selection,
    )
    if not result.success:
        raise SyncError(f"sync {start} .. {end} failed at {first_failure(result)}")
    return SyncOutcome(result=result, start=start, end=end)
