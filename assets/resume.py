"""Runs that cannot finish on today's API budget: they load what they can in whole partitions, commit it, say
what is left and when the budget allows it, and succeed; the next run continues without fetching again what
was committed (the ledger: orchestration/warehouse/ledger.py).

How Dagster sees a stopped run: a partitioned raw asset whose read a budget stopped materialises only the
partitions it loaded whole (one AssetMaterialization each) and yields no output for the rest of its range,
so those partitions stay "missing", never "materialized"; its downstream steps (dbt, publishing) are skipped
in that run (`warehouse sync` then builds the marts in a second run, orchestration/runs.py; a scheduled or UI
run leaves them to the next run that finishes its loads). The run gets the tag `warehouse/budget_stop`
saying what is left and when it resumes, and the asset's metadata the same. A snapshot (dimension) asset
the budget stops keeps its previous table and says so in its metadata.
"""

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from dagster import AssetExecutionContext, AssetMaterialization, MaterializeResult, MetadataValue

from assets.common import BUDGET_STOP_TAG, api_now, load_metadata, tag_run
from assets.reconcile import plan_corrections, record_corrections
from orchestration.clients.budget import iso
from orchestration.clients.clockify.client import ClockifyClient, ReadProgress
from orchestration.clients.errors import BudgetExhausted
from orchestration.clients.linear.client import LinearClient, Walk
from orchestration.partitions import ReconcileOptions, window_dates
from orchestration.timeutil import iso_millis

__all__ = ["BUDGET_STOP_TAG", "load_issues", "load_time_entries"]
from orchestration.warehouse import ledger
from orchestration.warehouse import raw_tables as t
from orchestration.warehouse.duckdb import LoadResult, Warehouse

# A long Linear walk commits (and checkpoints) every this many pages, so a crash loses at most these.
WALK_CHECKPOINT_PAGES = 40


def run_id(context: AssetExecutionContext) -> str:
    try:
        return context.run_id
    except Exception:  # invoked directly (tests): no run
        return "direct"


class Stop:
    """Holds the budget stop of a read, if one happened; `guard` ends the stream there instead of failing."""

    def __init__(self) -> None:
        self.error: BudgetExhausted | None = None

    def guard(self, stream: Iterable[dict]) -> Iterator[dict]:
        try:
            yield from stream
        except BudgetExhausted as stopped:
            self.error = stopped

    @property
    def resume_at(self) -> dt.datetime | None:
        if self.error is None:
            return None
        return dt.datetime.fromtimestamp(self.error.resume_at, dt.UTC).replace(tzinfo=None)

    @property
    def reason(self) -> str:
        return f"budget: {self.error.budget}" if self.error else ""


def stop_text(asset: str, left: list[dt.date], stop: Stop) -> str:
    return f"{asset}: {ledger.describe_days(left)} left, budget back at {iso(stop.error.resume_at)}"


def budget_metadata(client, stop: Stop, left: Iterable[dt.date] = ()) -> dict:
    report = client.budget_report()
    metadata = {"budget": MetadataValue.text(report.get("budget", "")), "budget_waited_s": report.get("waited_s", 0)}
    if "complexity_points" in report:
        metadata["complexity_points"] = report["complexity_points"]
    if stop.error is not None:
        metadata["budget_stop"] = MetadataValue.text(str(stop.error))
        metadata["left"] = MetadataValue.text(ledger.describe_days(sorted(set(left))))
        metadata["resumes_at"] = MetadataValue.text(iso(stop.error.resume_at))
    return metadata


# --- Clockify time entries -------------------------------------------------------------------------


@dataclass
class EntriesRun:
    loaded: list[dt.date] = field(default_factory=list)  # days committed by this run
    left: list[dt.date] = field(default_factory=list)  # days wanted but not loaded (pending now)
    rows: dict[dt.date, int] = field(default_factory=dict)


def load_time_entries(
    context: AssetExecutionContext, clockify: ClockifyClient, warehouse: Warehouse, options: ReconcileOptions
) -> Iterator:
    """The body of raw/clockify_time_entries. It loads, each range of days whole or not at all and in this
    order: the run's days (without those a stopped run and its continuations loaded since, when the range
    reaches that backlog), the days stopped runs left pending elsewhere, and the old days the changes feed
    (or the deep re-sync) says changed. A budget stop leaves the rest pending for the next run."""
    table, asset = t.CLOCKIFY_TIME_ENTRIES, t.CLOCKIFY_TIME_ENTRIES.name
    start, end = context.partition_time_window
    first, last = window_dates(start, end)
    now, run = api_now(clockify), run_id(context)
    before = clockify.requests_made
    stop = Stop()

    def read(con):
        return ledger.plan_days(con, asset, first, last), [p.day for p in ledger.pending(con, asset).get(asset, [])]

    wanted, pending_days = warehouse.read(read)
    in_range = set(ledger.days_between(first, last))
    if in_range - set(wanted):
        context.log.info(
            "Continuing a stopped load: %s already loaded since", ledger.describe_days(sorted(in_range - set(wanted)))
        )
    backlog = sorted(set(pending_days) - in_range)
    if backlog:
        context.log.info("Also loading what stopped runs left: %s", ledger.describe_days(backlog))
    corrections = plan_corrections(clockify, warehouse, options, first, last, now, stop)
    extra = sorted(set(corrections.days) - in_range - set(backlog))
    done = EntriesRun()
    for range_first, range_last in [*ledger.ranges(wanted), *ledger.ranges(backlog), *ledger.ranges(extra)]:
        days = ledger.days_between(range_first, range_last)
        if stop.error is not None:
            done.left += days
            continue
        window_start = dt.datetime.combine(range_first, dt.time(), dt.UTC)
        window_end = window_start + dt.timedelta(days=len(days))
        progress = ReadProgress(window_start)
        context.log.info("Fetching Clockify time entries started %s .. %s", range_first, range_last)
        records = stop.guard(clockify.iter_time_entries(window_start, window_end, progress))

        def through(range_last=range_last, progress=progress) -> dt.date:
            if stop.error is None:
                return range_last
            # Stopped midway: every entry starting before complete_before is in, its own day maybe not.
            return progress.complete_before.date() - dt.timedelta(days=1)

        def also(con, window, rows_per_day, days=days):
            loaded = ledger.days_between(*window) if window else []
            ledger.record_loads(con, asset, rows_per_day, loaded, now, run)
            if stop.error is not None:  # in the same transaction: the ledger never disagrees with the data
                ledger.add_pending(
                    con, asset, [d for d in days if d not in loaded], now, run, stop.reason, stop.resume_at
                )

        result = warehouse.replace_partitions(table, records, range_first, range_last, through=through, also=also)
        committed = ledger.days_between(*result.window) if result.window else []
        done.loaded += committed
        done.rows.update(result.rows_per_day or {})
        done.left += [d for d in days if d not in committed]

    def finish(con) -> None:
        if stop.error is not None:
            ledger.add_pending(con, asset, done.left, now, run, stop.reason, stop.resume_at)
        record_corrections(con, corrections, now)

    warehouse.write(finish)
    rows = sum(done.rows.values())
    context.log.info(
        "%s: %d rows for %s%s",
        table.qualified_name,
        rows,
        ledger.describe_days(done.loaded),
        f"; stopped by the budget, {ledger.describe_days(done.left)} left" if stop.error else "",
    )
    metadata = load_metadata(table, LoadResult(rows=rows), clockify.requests_made - before, (first, last))
    metadata["loaded_days"] = MetadataValue.text(ledger.describe_days(done.loaded))
    metadata["changes"] = MetadataValue.text(corrections.note)
    metadata.update(budget_metadata(clockify, stop, done.left))
    # Days outside the run's range (a backlog, corrections), and on a stop every day loaded: one event each,
    # so Dagster marks exactly the partitions that are whole in the warehouse.
    for day in done.loaded:
        if stop.error is not None or day not in in_range:
            yield AssetMaterialization(
                asset_key=context.asset_key,
                partition=day.isoformat(),
                metadata={**metadata, "dagster/row_count": done.rows.get(day, 0)},
            )
    if stop.error is None:
        yield MaterializeResult(metadata=metadata)
    else:
        tag_run(context, stop_text(asset, done.left, stop))


# --- Linear issues -------------------------------------------------------------------------------


# An incremental issues walk starts this long before the newest `updatedAt` the last walk read: an update
# Linear commits a little after stamping it (or stamps on another server's clock) is still read.
ISSUES_OVERLAP = dt.timedelta(hours=1)
ISSUES_DONE = "issues_walk_completed"  # ops.state: the last complete walk (started_at, full, watermark)


def _parse_iso(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def issues_updated_from(start: dt.datetime, completed: dict | None, full_reread: bool = False) -> dt.datetime | None:
    """Where a new (not resumed) walk of a warehouse holding issues starts reading `updatedAt` from.

    From the watermark (the newest `updatedAt` a complete walk read, on Linear's clock) less ISSUES_OVERLAP:
    every issue updated since the last walk read is newer than that, whatever the requested range, and raw
    keeps each issue's latest version, so a daily run or a warm backfill reads only what changed. Without a
    watermark (a warehouse loaded before it was recorded), or with `full_reread`, the range's start: never
    later than the last walk's start, so what changed during it is in. No upper bound either way: an issue
    updated after the range is still its latest version, and time entries of the range may name it."""
    completed = completed or {}
    if completed.get("watermark") and not full_reread:
        return _parse_iso(completed["watermark"]) - ISSUES_OVERLAP
    if completed.get("started_at"):
        return min(start, _parse_iso(completed["started_at"]))
    return start


def load_issues(
    context: AssetExecutionContext, linear: LinearClient, warehouse: Warehouse, full_reread: bool = False
) -> Iterator:
    """The body of raw/linear_issues: one walk (newest updatedAt first) that a budget may stop and the next
    run resumes; committed every WALK_CHECKPOINT_PAGES pages with its checkpoint. `full_reread` reads every
    issue updated since the range's start instead of since the last walk's watermark."""
    table, asset = t.LINEAR_ISSUES, t.LINEAR_ISSUES.name
    start, end = context.partition_time_window
    first, last = window_dates(start, end)
    now, run = api_now(linear), run_id(context)
    before = linear.requests_made
    stop = Stop()

    def read(con):
        return ledger.load_walk(con, "issues"), ledger.get_state(con, ISSUES_DONE)

    saved, completed = warehouse.read(read)
    first_load = warehouse.row_count(table) == 0
    wanted = None if first_load else issues_updated_from(start, completed, full_reread)
    walk = Walk.from_json(saved) if saved is not None else None
    later = walk is not None and walk.updated_from is not None and wanted is not None
    if later and full_reread and _parse_iso(walk.updated_from) > wanted:
        context.log.info("Not resuming the issues walk begun %s: full_reread reads further back", walk.started_at)
        walk = None  # its checkpoint is replaced by the new walk's first one
    if walk is not None:
        context.log.info("Resuming the Linear issues walk begun %s (%d pages read)", walk.started_at, walk.pages)
    else:
        walk = Walk(
            kind="issues",
            started_at=iso_millis(now),
            updated_from=iso_millis(wanted) if wanted is not None else None,
        )
    full_history = walk.updated_from is None
    context.log.info(
        "Fetching Linear issues %s",
        "(full history, first load)" if full_history else f"updated since {walk.updated_from}",
    )
    rows = 0
    while True:
        records = stop.guard(linear.walk_issues(walk, max_pages=WALK_CHECKPOINT_PAGES))

        def also(con, _window, _rows):
            if walk.complete:
                ledger.clear_walk(con, "issues")
                ledger.clear_pending(con, asset)
                # The watermark only moves forward: a walk that read nothing new keeps the previous one.
                marks = [m for m in (walk.newest_updated_at, (completed or {}).get("watermark")) if m]
                state = {"started_at": walk.started_at, "full": full_history, "watermark": max(marks, default=None)}
                ledger.set_state(con, ISSUES_DONE, state, now)
            else:
                ledger.save_walk(con, "issues", walk.to_json(), now)
                if stop.error is not None:
                    ledger.add_pending(
                        con, asset, ledger.days_between(first, last), now, run, stop.reason, stop.resume_at
                    )

        rows += warehouse.upsert_by_id(table, records, also=also).rows
        if walk.complete or stop.error is not None:
            break
    metadata = load_metadata(table, LoadResult(rows=rows), linear.requests_made - before, (first, last))
    metadata["full_history"] = full_history
    metadata["updated_since"] = MetadataValue.text(walk.updated_from or "the beginning (full history)")
    metadata["walk"] = MetadataValue.text(
        f"{walk.pages} pages, {walk.nodes} issues"
        + ("" if walk.complete else f", stopped at updatedAt {walk.last_updated_at}")
    )
    left = [] if walk.complete else ledger.days_between(first, last)
    # Days newer than the last updatedAt read are whole (the walk reads newest first).
    whole = [
        d
        for d in ledger.days_between(first, last)
        if walk.last_updated_at and d > dt.date.fromisoformat(walk.last_updated_at[:10])
    ]
    if stop.error is not None:
        left = [d for d in left if d not in whole]
    metadata.update(budget_metadata(linear, stop, left))
    if stop.error is None:
        yield MaterializeResult(metadata=metadata)
        return
    tag_run(context, stop_text(asset, left, stop) + f" (walk checkpointed after {walk.nodes} issues)")
    for day in whole:
        yield AssetMaterialization(asset_key=context.asset_key, partition=day.isoformat(), metadata=metadata)
