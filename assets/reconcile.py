"""Reconciling what the daily window cannot see: records deleted or edited upstream long after the fact.

- Linear (`raw/linear_issue_ids`): Linear purges a trashed issue 30 days after it was trashed, and may not
  bump `updatedAt` when it trashes or archives (an open fact), so an incremental load never learns of
  either. Every LINEAR_RECONCILE_DAYS days (default 1) a walk of every issue id (with `archivedAt` and
  `trashed`, ~300 points a page of 250: an eighth of a full issues page) replaces this snapshot; staging
  flags an issue missing from it `is_deleted` (stg_linear__issues), its hours become unmatched and
  write-back closes its task. The walk resumes after a budget stop like the issues walk; the first
  snapshot comes free from the first full load of issues.
- Clockify (`plan_corrections`, called by the time-entry asset): an entry edited or deleted more than
  WAREHOUSE_RESYNC_DAYS after it started lies outside every later daily window. The changes feed
  (clients/clockify/changes.py) says which entries changed since the last check (at most every 12 hours);
  the days they were on (in the feed and in the warehouse) are reloaded exactly. Where the feed answers
  404 or 403, every CLOCKIFY_DEEP_RESYNC_DAYS days (default 7) the loaded days of the last
  CLOCKIFY_DEEP_RESYNC_MONTHS months (default 3) are reloaded instead.
"""

import calendar
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.common import DUCKDB_POOL, OWNERS, api_now, load_metadata, raw_key, tag_run
from orchestration.clients.budget import iso
from orchestration.clients.clockify.changes import OVERLAP, FeedUnavailable, changed_days, changes
from orchestration.clients.errors import BudgetExhausted
from orchestration.clients.linear import queries as q
from orchestration.clients.linear.client import LinearClient, Slice, plan_slices
from orchestration.partitions import ReconcileOptions
from orchestration.timeutil import iso_millis
from orchestration.warehouse import ledger
from orchestration.warehouse import raw_tables as t
from orchestration.warehouse.duckdb import LoadResult, Warehouse

CHANGES_STATE = "clockify_changes"
CHECK_EVERY = dt.timedelta(hours=12)
IDS_STATE = "issue_ids_listed"


def _parse(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    moment = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment


def months_before(day: dt.date, months: int) -> dt.date:
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


# --- Clockify: old edits and deletions -----------------------------------------------------------


@dataclass
class Corrections:
    days: list[dt.date] = field(default_factory=list)  # old days to reload
    mode: str = "feed"  # "feed" | "deep_resync"
    note: str = ""  # what was done, for metadata and `warehouse sync`
    state: dict[str, Any] | None = None  # the ledger's new CHANGES_STATE (None: unchanged)


def plan_corrections(
    clockify, warehouse: Warehouse, options: ReconcileOptions, first: dt.date, last: dt.date, now: dt.datetime, stop
) -> Corrections:
    """The loaded days outside [first, last] whose entries changed upstream since the last check."""
    asset = t.CLOCKIFY_TIME_ENTRIES.name

    def read(con):
        state = ledger.get_state(con, CHANGES_STATE) or {}
        loaded = {}
        if ledger.exists(con):
            loaded = dict(
                con.execute(
                    f"SELECT day, loaded_at FROM {ledger.SCHEMA}.partition_loads WHERE asset = $asset", {"asset": asset}
                ).fetchall()
            )
        return state, loaded

    state, loaded = warehouse.read(read)
    if not loaded:  # nothing was loaded before this run: there is nothing to correct yet
        return Corrections(
            note="nothing loaded before: nothing to correct",
            state={"checked_through": iso_millis(now), "deep_resync_at": iso_millis(now)},
        )
    checked = _parse(state.get("checked_through")) or min(loaded.values())
    deep_at = _parse(state.get("deep_resync_at")) or min(loaded.values())
    in_range = set(ledger.days_between(first, last))
    if now - checked < CHECK_EVERY:
        mode = state.get("mode", "feed")
        return Corrections(
            mode=mode,
            note=f"{_mode_name(mode)}: checked at {checked:%Y-%m-%d %H:%M} UTC, "
            f"next after {checked + CHECK_EVERY:%Y-%m-%d %H:%M} UTC",
        )
    try:
        found = changes(clockify, checked - OVERLAP, now)
    except FeedUnavailable as unavailable:
        new_state = {
            **state,
            "checked_through": iso_millis(now),
            "mode": "deep_resync",
            "feed": f"HTTP {unavailable.status}",
        }
        why = f"deep re-sync (changes feed unavailable: HTTP {unavailable.status})"
        if now - deep_at < dt.timedelta(days=options.deep_resync_days):
            next_at = deep_at + dt.timedelta(days=options.deep_resync_days)
            return Corrections(mode="deep_resync", note=f"{why}: next on {next_at:%Y-%m-%d}", state=new_state)
        since = months_before(now.date(), options.deep_resync_months)
        days = sorted(d for d in loaded if since <= d <= now.date() and d not in in_range)
        new_state["deep_resync_at"] = iso_millis(now)
        note = f"{why}: reloading the loaded days of the last {options.deep_resync_months} months ({len(days)} days)"
        return Corrections(days=days, mode="deep_resync", note=note, state=new_state)
    except BudgetExhausted as stopped:
        stop.error = stopped
        return Corrections(note="changes feed not read: budget")
    ids = sorted({c.id for c in found})

    def days_of(con):
        if not ids:
            return {}
        rows = con.execute(
            f"SELECT id, _partition_date FROM {t.CLOCKIFY_TIME_ENTRIES.qualified_name} "
            "WHERE id IN (SELECT unnest($ids))",
            {"ids": ids},
        ).fetchall()
        return dict(rows)

    held = warehouse.read(days_of)
    days = sorted(d for d in changed_days(found, held) if d in loaded and d not in in_range)
    shown = ledger.describe_days(days) if days else "none"
    note = f"changes feed: {len(ids)} entries changed since {checked:%Y-%m-%d %H:%M} UTC; old days reloaded: {shown}"
    new_state = {**state, "checked_through": iso_millis(now), "mode": "feed"}
    new_state.setdefault("deep_resync_at", iso_millis(deep_at))
    return Corrections(days=days, mode="feed", note=note, state=new_state)


def _mode_name(mode: str) -> str:
    return "changes feed" if mode == "feed" else "deep re-sync (changes feed unavailable)"


def record_corrections(con, corrections: Corrections, now: dt.datetime) -> None:
    if corrections.state is not None:
        ledger.set_state(con, CHANGES_STATE, corrections.state, now)


# --- Linear: issues deleted for good -------------------------------------------------------------


@asset(
    key=raw_key(t.LINEAR_ISSUE_IDS),
    group_name="linear",
    description="Every issue id Linear still returns (archived and trashed ones too), with `archivedAt` and "
    "`trashed`: walked every LINEAR_RECONCILE_DAYS days (~300 complexity points a page of 250), the first time "
    "taken free from the first full issues load. An issue missing from it was deleted (Linear purges its "
    "trash after 30 days): staging flags it `is_deleted`. A walk a budget stops resumes in the next run; the "
    "previous snapshot stays meanwhile.",
    kinds={"linear", "duckdb"},
    owners=OWNERS,
    pool=DUCKDB_POOL,
    deps=[raw_key(t.LINEAR_ISSUES)],
)
def linear_issue_ids(
    context: AssetExecutionContext, linear: LinearClient, warehouse: Warehouse, reconcile: ReconcileOptions
) -> MaterializeResult:
    table = t.LINEAR_ISSUE_IDS
    now = api_now(linear)
    before = linear.requests_made

    def read(con):
        walk = ledger.load_walk(con, "issue_ids")
        read_ids = []
        if walk is not None:
            read_ids = con.execute(f"SELECT id, archived_at, trashed FROM {ledger.SCHEMA}.issue_id_walk").fetchall()
        return walk, read_ids, ledger.get_state(con, IDS_STATE), ledger.get_state(con, "issues_walk_completed")

    saved, read_ids, listed, issues_walk = warehouse.read(read)
    listed_at = _parse((listed or {}).get("listed_at"))
    full_walk_at = _parse((issues_walk or {}).get("started_at")) if (issues_walk or {}).get("full") else None

    if saved is None and full_walk_at is not None and (listed_at is None or listed_at < full_walk_at):
        # The first full load of issues listed every issue: that is this snapshot, for no request.
        def from_issues(con):
            return con.execute(f"SELECT id, archived_at, trashed FROM {t.LINEAR_ISSUES.qualified_name}").fetchall()

        rows = warehouse.read(from_issues)
        result = _replace(warehouse, table, [(i, _iso(a), tr) for i, a, tr in rows], full_walk_at, now)
        metadata = load_metadata(table, result, 0)
        metadata["listing"] = MetadataValue.text(f"from the full issues load begun {full_walk_at:%Y-%m-%d %H:%M} UTC")
        return MaterializeResult(metadata=metadata)

    due_at = listed_at + dt.timedelta(days=reconcile.reconcile_days) - dt.timedelta(hours=1) if listed_at else None
    if saved is None and due_at is not None and now < due_at:
        return MaterializeResult(
            metadata={
                "listing": MetadataValue.text(
                    f"listed {listed_at:%Y-%m-%d %H:%M} UTC; next walk after {due_at:%Y-%m-%d %H:%M} UTC"
                ),
                "api_requests": 0,
            }
        )

    walk = _id_walk(saved)
    if walk is None:  # none begun, or one saved by an older version (a page walk): begin a sliced one
        known = _created_at(warehouse, t.LINEAR_ISSUES)
        walk = IdWalk(started_at=iso_millis(now), slices=plan_slices("issueIds", known))
        read_ids = []
    ids = {i: (a, tr) for i, a, tr in read_ids}
    stopped = None
    try:
        for pages in linear.read_slices(q.ISSUE_IDS_OPERATION, walk.slices):
            walk.requests += 1
            for _slice, nodes in pages:
                ids.update((node["id"], (node.get("archivedAt"), node.get("trashed"))) for node in nodes)
    except BudgetExhausted as error:
        stopped = error
    if stopped is None:
        refreshed = _refresh_flags(context, linear, warehouse, ids, now)
        result = _replace(warehouse, table, [(i, a, tr) for i, (a, tr) in ids.items()], _parse(walk.started_at), now)
        metadata = load_metadata(table, result, linear.requests_made - before)
        metadata["listing"] = MetadataValue.text(
            f"walked {len(walk.slices)} createdAt slices in {walk.requests} requests, begun {walk.started_at}"
        )
        metadata["issues_flags_refreshed"] = refreshed
        return MaterializeResult(metadata=metadata)
    requests = linear.requests_made - before

    def keep(con):
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        con.execute(table.create_sql())  # dbt reads it: an empty listing means "no deletion known yet"
        ledger.ensure(con)
        con.execute(f"DELETE FROM {ledger.SCHEMA}.issue_id_walk")
        con.executemany(
            f"INSERT INTO {ledger.SCHEMA}.issue_id_walk VALUES (?, ?, ?)", [(i, a, tr) for i, (a, tr) in ids.items()]
        )
        ledger.save_walk(con, "issue_ids", walk.to_json(), now)

    warehouse.write(keep)
    text = f"linear_issue_ids: walk stopped after {len(ids)} ids, budget back at {iso(stopped.resume_at)}"
    tag_run(context, text)
    return MaterializeResult(
        metadata={
            "listing": MetadataValue.text(
                f"walk unfinished ({len(ids)} ids read, resumes next run); the previous listing "
                f"({listed_at:%Y-%m-%d %H:%M} UTC) stays"
                if listed_at
                else f"walk unfinished ({len(ids)} ids read)"
            ),
            "budget_stop": MetadataValue.text(str(stopped)),
            "api_requests": requests,
        }
    )


@dataclass
class IdWalk:
    """Where the reconcile walk stands (ledger walk "issue_ids"): createdAt slices of every issue, read several a
    request (LinearClient.read_slices), cut from the createdAt of the issues raw holds (plan_slices) so the
    team of 200's 20,000 ids take 3 requests instead of 80 pages. The slices cover all time, so the walk
    lists every issue Linear returns, whatever the cuts; a stopped walk resumes its slices' cursors."""

    started_at: str
    slices: list[Slice]
    requests: int = 0
    kind: str = "issue_id_slices"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "started_at": self.started_at,
            "requests": self.requests,
            "slices": [s.to_json() for s in self.slices],
        }


def _id_walk(saved: dict | None) -> IdWalk | None:
    if not saved or saved.get("kind") != "issue_id_slices":
        return None
    slices = [Slice.from_json(s) for s in saved.get("slices") or []]
    return IdWalk(started_at=saved["started_at"], slices=slices, requests=int(saved.get("requests") or 0))


def _created_at(warehouse: Warehouse, table, column: str = "created_at") -> list:
    """The `column` of every row of `table` (none before its first load): where plan_slices cuts."""
    if warehouse.row_count(table) == 0:
        return []
    return warehouse.read(
        lambda con: [r[0] for r in con.execute(f"SELECT {column} FROM {table.qualified_name}").fetchall()]
    )


def _refresh_flags(
    context: AssetExecutionContext, linear: LinearClient, warehouse: Warehouse, listed: dict, now: dt.datetime
) -> int:
    """Issues the listing shows archived, trashed or restored while raw holds them otherwise: archiving and
    trashing may not bump updatedAt (an open fact), so no incremental walk reads them. They are read again by
    id (raw then holds what a first load would), and queued for the history asset, whose `updatedAt` mark
    cannot tell that their history gained the archive or trash record (ledger.HISTORY_REREAD). Where the
    fact's answer is yes, the issues walk of the same run read them already and nothing is sent."""

    if warehouse.row_count(t.LINEAR_ISSUES) == 0:  # nothing loaded yet (a first load the budget stopped)
        return 0

    def held(con):
        return con.execute(f"SELECT id, archived_at, trashed FROM {t.LINEAR_ISSUES.qualified_name}").fetchall()

    stale = [
        issue_id
        for issue_id, archived_at, trashed in warehouse.read(held)
        if issue_id in listed
        and (_parse(listed[issue_id][0]), bool(listed[issue_id][1])) != (archived_at, bool(trashed))
    ]
    if not stale:
        return 0
    try:
        records = linear.issues_by_id(stale)
    except BudgetExhausted as stopped:  # the next listing finds them again; staging reads its flags meanwhile
        context.log.warning("%d issue(s) with changed archive flags not read again: %s", len(stale), stopped)
        return 0

    def also(con, _window, _rows):
        queued = set(ledger.get_state(con, ledger.HISTORY_REREAD) or [])
        ledger.set_state(con, ledger.HISTORY_REREAD, sorted(queued | {r["id"] for r in records}), now)

    warehouse.upsert_by_id(t.LINEAR_ISSUES, records, also=also)
    context.log.info("%d issue(s) archived, trashed or restored without an updatedAt bump: read again", len(records))
    return len(records)


def _iso(value) -> str | None:
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if isinstance(value, dt.datetime) else str(value)


def _replace(warehouse: Warehouse, table, rows, listed_at: dt.datetime | None, now: dt.datetime) -> LoadResult:
    stamp = iso_millis(listed_at or now)
    records = ({"id": i, "archivedAt": a, "trashed": tr, "listedAt": stamp} for i, a, tr in rows)

    def also(con, _window, _rows):
        ledger.clear_walk(con, "issue_ids")
        con.execute(f"DELETE FROM {ledger.SCHEMA}.issue_id_walk")
        ledger.set_state(con, IDS_STATE, {"listed_at": stamp}, now)

    return warehouse.replace_snapshot(table, records, also=also)
