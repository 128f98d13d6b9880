"""Headless runs: the warehouse job for a date range (`warehouse sync`, `warehouse demo`), the write-back job
(`warehouse writeback`), the Dagster instance they are recorded in, and recovery of runs a killed process
left unfinished.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus, ExecuteInProcessResult, RunsFilter

from orchestration import instance_storage
from orchestration.definitions import build_definitions
from orchestration.jobs import WAREHOUSE_JOB, WRITEBACK_JOB
from orchestration.partitions import range_tags
from orchestration.settings import PROJECT_ROOT, Settings
from orchestration.warehouse.locking import warehouse_lock
from orchestration.writeback.plan import WritebackError


class SyncError(RuntimeError):
    """A sync could not run or failed; the message is one line naming the problem and the fix."""


def parse_day(text: str, flag: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise SyncError(f"{flag} {text!r} is not a date: write it as YYYY-MM-DD, e.g. 2024-05-31.") from None


def validate_range(start: dt.date, end: dt.date, first: dt.date, today: dt.date | None = None) -> None:
    """`first` is the first partition (WAREHOUSE_START_DATE); `today` defaults to today in UTC."""
    today = today or dt.datetime.now(dt.UTC).date()
    if start > end:
        raise SyncError(f"--start {start} is after --end {end}: swap them.")
    if start < first:
        raise SyncError(
            f"--start {start} is before WAREHOUSE_START_DATE {first}: start later, or set WAREHOUSE_START_DATE earlier."
        )
    if end > today:
        raise SyncError(f"--end {end} is in the future (today is {today} UTC): end today or earlier.")


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


def prepare_dagster_home(home: Path) -> Path:
    """The project-local DAGSTER_HOME (run history persists) with the project's dagster.yaml.

    The copy in DAGSTER_HOME is kept equal to the project's file, so a changed instance setting (such as
    the duckdb pool) reaches homes created by an older checkout; edit the project's dagster.yaml instead.
    """
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    wanted = (PROJECT_ROOT / "dagster.yaml").read_text()
    if not config.exists() or config.read_text() != wanted:
        config.write_text(wanted)
    return home


def open_instance(settings: Settings) -> DagsterInstance:
    """The instance headless runs are recorded in: DAGSTER_HOME's when set (make sets a project-local one,
    so runs show in the UI), else an ephemeral one. Runs a killed sync left unfinished are recovered."""
    if settings.dagster_home is not None:
        home = prepare_dagster_home(settings.dagster_home)
        # Two syncs started at once on a fresh DAGSTER_HOME would both create its SQLite storages (and
        # stamp their schema versions twice): take turns creating the instance.
        with warehouse_lock(home / "instance", timeout_seconds=300):
            instance = instance_storage.open_home(home)
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
    settings: Settings,
    start: dt.date,
    end: dt.date,
    *,
    instance: DagsterInstance | None = None,
    asset_selection=None,
    log_level: str = "INFO",
) -> SyncOutcome:
    """Materialise every asset (or `asset_selection`) for the days [start, end] in one run."""
    validate_range(start, end, settings.start_date)
    problems = settings.missing()
    if problems:
        raise SyncError(" ".join(problems))
    job = build_definitions(settings).resolve_job_def(WAREHOUSE_JOB)
    result = job.execute_in_process(
        # INFO keeps the assets' progress lines and drops Dagster's per-event debug chatter.
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        instance=instance or open_instance(settings),
        tags={**range_tags(start, end), PROCESS_TAG: process_tag()},
        raise_on_error=False,
        asset_selection=asset_selection,
    )
    if not result.success:
        raise SyncError(f"sync {start} .. {end} failed at {first_failure(result)}")
    return SyncOutcome(result=result, start=start, end=end)


def run_writeback_job(
    settings: Settings, dry_run: bool = False, max_writes: int | None = None, log_level: str = "WARNING"
):
    """Run clockify_writeback_job in process (what `warehouse writeback` calls); the asset's metadata.

    Raises WritebackError (one line) when settings are missing or the run fails. Runs are recorded in
    DAGSTER_HOME when it is set, like `warehouse sync`.
    """
    missing = settings.missing(("CLOCKIFY_API_KEY", "CLOCKIFY_WORKSPACE_ID"))
    if missing:
        raise WritebackError(" ".join(missing))
    op_config: dict = {"dry_run": dry_run}
    if max_writes is not None:
        op_config["max_writes"] = max_writes
    job = build_definitions(settings).resolve_job_def(WRITEBACK_JOB)
    result = job.execute_in_process(
        run_config={
            "ops": {"raw__clockify_issue_task_links": {"config": op_config}},
            "loggers": {"console": {"config": {"log_level": log_level}}},
        },
        instance=open_instance(settings),
        tags={PROCESS_TAG: process_tag()},
        raise_on_error=False,
    )
    if not result.success:
        raise WritebackError(f"write-back failed at {first_failure(result)}")
    (event,) = result.get_asset_materialization_events()
    return event.materialization.metadata
