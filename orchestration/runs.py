"""Headless runs: the warehouse job for a date range (`warehouse sync`, `warehouse demo`), the write-back job
(`warehouse writeback`), the Dagster instance they are recorded in, recovery of runs a killed process
left unfinished, and what `warehouse prepare` does ahead of a first run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import io
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dagster import AssetKey, DagsterInstance, DagsterRunStatus, ExecuteInProcessResult, RunsFilter, logger

from orchestration import instance_storage
from orchestration.dbt_project import PARTIAL_PARSE_FILE, build_target_path, dbt_project, manifest_is_stale
from orchestration.definitions import build_definitions
from orchestration.executor import execute_in_threads
from orchestration.jobs import WAREHOUSE_JOB, WRITEBACK_JOB
from orchestration.partitions import range_tags
from orchestration.settings import PROJECT_ROOT, Settings
from orchestration.warehouse import ledger, source
from orchestration.warehouse import raw_tables as t
from orchestration.warehouse.duckdb import Warehouse, connect_with_lock_wait
from orchestration.warehouse.locking import warehouse_lock
from orchestration.writeback.plan import WritebackError

ISSUES_KEY = AssetKey(["raw", t.LINEAR_ISSUES.name])  # the step `full_reread` configures


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


def prepare_ahead(settings: Settings, seed_only: bool = False) -> list[str]:
    """What a first `warehouse sync` (or `warehouse demo`, for `settings.demo()`) would do before its first
    asset, done now (`warehouse prepare`, run by `make install`): the dbt manifest parsed (~5 s) when not
    current, or when this warehouse's build directory has no partial parse yet (so its first build need not
    parse either), and DAGSTER_HOME's storage created (~0.5 s). `seed_only`: parse only for the latter (the
    demo's: one manifest cannot be current for two warehouse names, and the settings' own comes last).
    Nothing when all is there already; one line per step."""
    project = dbt_project(settings)
    seeded = (build_target_path(project, settings.warehouse_path) / PARTIAL_PARSE_FILE).exists()
    lines = []
    if not seeded or (not seed_only and manifest_is_stale(project)):
        started = time.perf_counter()
        project.preparer.prepare(project)
        lines.append(f"dbt manifest parsed for {settings.warehouse_path} ({time.perf_counter() - started:.1f} s)")
    else:
        lines.append(f"dbt manifest ready for {settings.warehouse_path}")
    if settings.dagster_home is not None:
        open_instance(settings).dispose()
        lines.append(f"run history ready in {settings.dagster_home}")
    return lines


# --- what a headless run prints and logs -------------------------------------------------------------------
DBT_STEP = "hours_dbt_assets"
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class Redact(logging.Filter):
    """Masks every secret value in a record's text, whatever logged it (defence in depth: the keys are
    `SecretStr` until a client is made, and no message is meant to hold one)."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = sorted({v for v in secrets if len(v) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        masked = text
        for secret in self.secrets:
            masked = masked.replace(secret, "***")
        if masked != text:
            record.msg, record.args = masked, None
        return True


def _not_twice(record: logging.LogRecord) -> bool:
    """Dagster captures what its own Python loggers say in a step (dagster-dbt uses them) and passes it to the
    run's logger: the copy that propagates to the root logger is dropped."""
    return not (record.name.startswith("dagster") and not hasattr(record, "dagster_meta"))


def secrets_of(settings: Settings) -> list[str]:
    keys = (settings.clockify.api_key, settings.linear.api_key)
    return [k.get_secret_value() for k in keys if k is not None]


def _step_name(step_key: str) -> str:
    """`raw__clockify_time_entries` -> `raw/clockify_time_entries` (the asset key, as the UI shows it)."""
    return "dbt build" if step_key == DBT_STEP else step_key.replace("__", "/")


def _metadata_value(metadata, name: str):
    entry = metadata.get(name)
    return getattr(entry, "value", entry)


@dataclass
class _Progress:
    """Turns a run's Dagster events into one line per stage: each raw asset as it is fetched and loaded
    (rows, API requests, seconds, its date range), the dbt build as a count of models built and tests run
    with each failure named, and each failed step."""

    write: Callable[[str], None]
    dbt_models: int = 0
    check_steps: frozenset[str] = frozenset()  # steps of the raw tables' asset checks
    built: int = 0
    tests: int = 0
    failed_tests: list[str] = field(default_factory=list)
    warned_tests: list[str] = field(default_factory=list)
    loads: dict[str, str] = field(default_factory=dict)
    _next_quarter: int = 1

    def event(self, event) -> None:
        kind, step = event.event_type_value, event.step_key or ""
        data = event.event_specific_data
        if step in self.check_steps and kind in ("STEP_START", "STEP_SUCCESS"):
            return  # a check of a raw table: its evaluation is the line
        if kind == "STEP_START":
            if step == DBT_STEP:
                count = f" {self.dbt_models} models and their tests" if self.dbt_models else ""
                self.write(f"dbt build:{count} ...")
            else:
                self.write(f"{'fetching' if step.startswith('raw__') else 'running'} {_step_name(step)} ...")
        elif kind == "ASSET_MATERIALIZATION":
            materialization = data.materialization
            if step == DBT_STEP:
                self.built += 1
                # A count at each quarter of the models (the last one is the step's own line).
                if self._next_quarter < 4 and self.built * 4 >= self._next_quarter * self.dbt_models > 0:
                    self._next_quarter += 1
                    failed = len(self.failed_tests)
                    self.write(f"dbt build: {self.built}/{self.dbt_models} models built, {failed} failed")
                return
            metadata = materialization.metadata
            parts = []
            rows = _metadata_value(metadata, "dagster/row_count")
            if rows is not None:
                parts.append(f"{rows:,} rows")
            requests = _metadata_value(metadata, "api_requests")
            if requests is not None:
                parts.append(f"{requests} requests")
            window = _metadata_value(metadata, "date_range")
            if window:
                parts.append(str(window))
            self.loads[step] = ", ".join(parts)
        elif kind == "ASSET_CHECK_EVALUATION":
            name = f"{data.check_name} on {data.asset_key.to_user_string()}"
            if step != DBT_STEP:
                severity = getattr(data.severity, "value", "ERROR").lower()
                self.write(f"check {name}: {'passed' if data.passed else f'did not pass ({severity})'}")
                return
            self.tests += 1
            rules = _metadata_value(data.metadata, "failed_rules")  # a model's rules test: the rules it found broken
            if rules:
                name += f" ({', '.join(rules)})"
            if not data.passed:
                if getattr(data.severity, "value", "ERROR") == "WARN":  # dbt's `severity: warn` tests
                    self.warned_tests.append(name)
                    self.write(f"dbt test warning: {name}")
                else:
                    self.failed_tests.append(name)
                    self.write(f"dbt test failed: {name}")
        elif kind == "STEP_SUCCESS":
            seconds = data.duration_ms / 1000
            if step == DBT_STEP:
                self.write(
                    f"dbt build: {self.built} models built, {self.tests} tests, {len(self.failed_tests)} failed, "
                    f"{len(self.warned_tests)} warnings ({seconds:.1f} s)"
                )
            else:
                found = self.loads.get(step)
                verb = "loaded" if step.startswith("raw__") else "done"
                self.write(f"{verb} {_step_name(step)}: {found + ', ' if found else ''}{seconds:.1f} s")
        elif kind == "STEP_FAILURE":
            error = data.error
            message = (error.cause.message if error and error.cause else error.message) if error else "unknown"
            self.write(f"failed {_step_name(step)}: {message.strip().splitlines()[-1]}")


class _ProgressHandler(logging.Handler):
    def __init__(self, progress: _Progress) -> None:
        super().__init__(logging.DEBUG)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        if event is not None:
            self.progress.event(event)


class _LineLog(io.TextIOBase):
    """A stdout stand-in: each printed line becomes an INFO record of `log` (the root's handlers: the log
    file, and the screen when verbose)."""

    def __init__(self, log: logging.Logger) -> None:
        self.log, self.pending = log, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        lines = (self.pending + text).split("\n")
        self.pending = lines.pop()
        for line in lines:
            self.log.info("%s", line)
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.log.info("%s", self.pending)
            self.pending = ""


@dataclass
class RunLog:
    """How a headless run reports: progress lines on `out` (a person can follow them), the full log at
    DEBUG in `path` (every Dagster event, dbt's own log, the clients' retries), `verbose`: the full log on
    `out` too. Secrets are masked in both."""

    path: Path
    verbose: bool = False
    secrets: list[str] = field(default_factory=list)
    out: Callable[[str], None] | None = None  # None: print to the screen (stdout when the run starts)

    @classmethod
    def for_settings(cls, settings: Settings, command: str, verbose: bool = False) -> RunLog:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        return cls(settings.logs_dir / f"{command}-{stamp}.log", verbose, secrets_of(settings))

    @contextmanager
    def capture(self, dbt_models: int = 0, check_steps: frozenset[str] = frozenset()) -> Iterator[dict]:
        """While the run goes on: the logger definitions for the job (`with_logger_defs`); Python's own
        logging (clients, warehouse) into the file too; and what is printed to stdout (dagster-dbt echoes
        every dbt event there) into the file instead of the screen, unless verbose."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        screen = sys.stdout
        out = self.out or (lambda line: print(line, file=screen, flush=True))
        redact = Redact(self.secrets)
        file_handler = logging.FileHandler(self.path, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter(LOG_FORMAT))
        file_handler.addFilter(redact)
        file_handler.addFilter(_not_twice)
        handlers: list[logging.Handler] = [file_handler]
        progress = _ProgressHandler(_Progress(out, dbt_models=dbt_models, check_steps=check_steps))
        progress.addFilter(redact)
        handlers.append(progress)
        if self.verbose:
            stream = logging.StreamHandler(screen)
            stream.setFormatter(logging.Formatter(LOG_FORMAT))
            stream.addFilter(redact)
            stream.addFilter(_not_twice)
            handlers.append(stream)
        run_logger = logging.getLogger(f"warehouse.run.{time.monotonic_ns()}")
        run_logger.setLevel(logging.DEBUG)
        run_logger.propagate = False  # its records reach the file and the screen once, here
        for handler in handlers:
            run_logger.addHandler(handler)

        @logger(description="A headless run's progress lines and full log file (runs.RunLog).")
        def warehouse_log(_init_context):
            return run_logger

        root = logging.getLogger()
        python_handlers = [file_handler, *handlers[2:]]
        previous_level = root.level
        # The root's own handlers (the CLI's stderr warnings) keep showing what they showed before.
        kept = {h: h.level for h in root.handlers}
        for handler in kept:
            handler.setLevel(max(handler.level, root.getEffectiveLevel()))
        for handler in python_handlers:
            root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        printed = logging.getLogger("warehouse.stdout")  # what the run printed, as log records
        try:
            with contextlib.redirect_stdout(_LineLog(printed)):
                yield {"warehouse_log": warehouse_log}
        finally:
            root.setLevel(previous_level)
            for handler, level in kept.items():
                handler.setLevel(level)
            for handler in python_handlers:
                root.removeHandler(handler)
            for handler in handlers:
                run_logger.removeHandler(handler)
                handler.close()


# The run tag a raw asset sets when an API budget stopped it (assets/common.py BUDGET_STOP_TAG; not imported:
# runs sit above assets only through definitions).
BUDGET_STOP_TAG = "warehouse/budget_stop"


@dataclass
class SyncOutcome:
    result: ExecuteInProcessResult
    start: dt.date
    end: dt.date
    # A budget stop: what the run's tag says (what is left, when the budget is back), "" when none.
    budget_stop: str = ""
    # Days still pending per raw table after the run (the ledger), as `2024-03-01 .. 2024-03-09 (9 days)`.
    pending: dict[str, str] = field(default_factory=dict)
    marts_run_id: str | None = None  # the run that built the marts after a budget stop

    @property
    def run_id(self) -> str:
        return self.result.run_id

    @property
    def complete(self) -> bool:
        return not self.pending

    def budget_lines(self) -> list[str]:
        """What `warehouse sync` prints after a budget stop: what is left, when, and how to continue."""
        if self.complete and not self.budget_stop:
            return []
        lines = [f"Stopped by an API budget: {self.budget_stop or 'see the run tags'}."]
        lines += [f"  left: {table}: {days}" for table, days in self.pending.items()]
        lines.append(
            "Everything before that is committed in whole days and the marts are built from it; run the same "
            "sync again once the budget is back (it continues where this stopped), or add --wait."
        )
        return lines


def check_source(settings: Settings) -> None:
    """Before anything is fetched: the warehouse holds no other source's data (else one line naming the
    file and the fix; every load checks again in its own transaction)."""
    try:
        source.check(settings.warehouse_path, source.expected(settings), connect_with_lock_wait)
    except source.SourceMismatch as error:
        raise SyncError(str(error)) from None


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
    log: RunLog | None = None,
    wait: bool = False,
    full_reread: bool = False,
) -> SyncOutcome:
    """Materialise every asset (or `asset_selection`) for the days [start, end] in one run. With `log`: its
    progress lines and log file instead of Dagster's console log (at `log_level`).

    When an API budget stops the raw loads (clients/budget.py), the run commits what it read in whole days
    and succeeds, and its dbt and publishing steps are skipped (their inputs are partial): a second run then
    builds the marts from what is committed. The outcome says what is left and when the budget is back.
    `wait=True` (`warehouse sync --wait`) lets the clients wait for the budget as long as it takes instead.
    `full_reread=True` (`--full-reread`): raw/linear_issues reads every issue updated since `start`, not only
    those updated since its last load's watermark (assets/resume.py `issues_updated_from`).
    """
    validate_range(start, end, settings.start_date)
    problems = settings.missing()
    if problems:
        raise SyncError(" ".join(problems))
    check_source(settings)
    if wait:
        settings = dataclasses.replace(settings, api=dataclasses.replace(settings.api, budget_wait_seconds=None))
    definitions = build_definitions(settings)
    job = definitions.resolve_job_def(WAREHOUSE_JOB)
    owned = instance is None
    instance = instance or open_instance(settings)
    try:
        tags = {**range_tags(start, end), PROCESS_TAG: process_tag()}
        # INFO keeps the assets' progress lines and drops Dagster's per-event debug chatter.
        run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}

        def ops_config(selection) -> dict:
            # Only for a run that has the issues step: Dagster refuses config for an op it does not run.
            if not full_reread or (selection is not None and ISSUES_KEY not in set(selection)):
                return {}
            return {"ops": {ISSUES_KEY.to_python_identifier(): {"config": {"full_reread": True}}}}

        def execute(selection):
            # The job's executor, in this process: Clockify's and Linear's steps fetch side by side.
            if log is None:
                return execute_in_threads(
                    job,
                    run_config={**run_config, **ops_config(selection)},
                    instance=instance,
                    tags=tags,
                    asset_selection=selection,
                )
            graph = definitions.resolve_asset_graph()
            models = [k for k in graph.materializable_asset_keys if graph.get(k).assets_def.node_def.name == DBT_STEP]
            checks = frozenset(f"{c.asset_key.to_python_identifier()}_{c.name}" for c in graph.asset_check_keys)
            dbt_models = len([k for k in models if selection is None or k in set(selection)])
            with log.capture(dbt_models=dbt_models, check_steps=checks) as logger_defs:
                return execute_in_threads(
                    job.with_logger_defs(logger_defs),
                    run_config={"loggers": {"warehouse_log": {}}, **ops_config(selection)},
                    instance=instance,
                    tags=tags,
                    asset_selection=selection,
                )

        result = execute(asset_selection)
        if not result.success:
            raise SyncError(f"sync {start} .. {end} failed at {first_failure(result)}")
        run = instance.get_run_by_id(result.run_id)
        outcome = SyncOutcome(
            result=result, start=start, end=end, budget_stop=(run.tags if run else {}).get(BUDGET_STOP_TAG, "")
        )
        warehouse = Warehouse(path=str(settings.warehouse_path), marts_path=str(settings.marts_path))
        outcome.pending = warehouse.read(ledger.pending_summary)
        if outcome.budget_stop and not _missing_raw_tables(warehouse):
            # Only what the stop skipped: a stop that let the loads' outputs through (the issue history, the
            # id walk) built the marts in this run already.
            built_now = {event.asset_key for event in result.get_asset_materialization_events()}
            marts = [key for key in _job_keys(job) if key.path[0] != "raw" and key not in built_now]
            if asset_selection is not None:
                marts = [key for key in marts if key in set(asset_selection)]
            if marts:
                built = execute(marts)
                if not built.success:
                    raise SyncError(f"building the marts after a budget stop failed at {first_failure(built)}")
                outcome.marts_run_id = built.run_id
        return outcome
    finally:
        if owned:
            # Close the run history's SQLite files now (instance_storage keeps their connections open
            # between events): a later checkpoint would otherwise still write them after the sync.
            instance.dispose()


def _missing_raw_tables(warehouse: Warehouse) -> list[str]:
    """Raw tables a first load stopped by a budget has not created yet (the marts cannot be built then)."""

    def query(con):
        rows = con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'").fetchall()
        return {name for (name,) in rows}

    present = warehouse.read(query)
    return [table.name for table in t.ALL_TABLES if table.name not in present]


def _job_keys(job) -> list:
    """The asset keys the warehouse job materialises (its selection, without write-back)."""
    return sorted(job.asset_layer.selected_asset_keys, key=lambda key: key.to_user_string())


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
