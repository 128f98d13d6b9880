"""The pipeline's own bookkeeping in the warehouse, schema `ops`: what was loaded when, what a budget stop left
for later, and where the resumable reads stand. Written in the same transaction as the data it describes
(the `also` hook of `Warehouse`'s loads), so a partition and its ledger rows land together or not at all.

- `ops.partition_loads`: the latest load of each day of a partitioned raw table (asset, day, when, run, rows).
- `ops.pending_partitions`: days a run was asked for but could not load because an API budget ran out, with
  when that was asked (`requested_at`) and when the budget is back (`resume_at`). A later run whose range
  reaches them is a continuation: it loads them, and skips the days of its range loaded since the backlog
  opened (`plan_days`), so nothing committed is fetched again.
- `ops.walks`: the checkpoint (clients/linear/client.py `Walk`, as JSON) of a Linear walk a budget stopped.
- `ops.issue_id_walk`: issue ids an unfinished reconcile walk has read so far.
- `ops.state`: small named values (the changes feed's checkpoint, when the deep re-sync or the reconcile
  walk last ran, the issues a budget stop left without history: `HISTORY_STATE`).

Times are naive UTC on the API clock (the machine's, or the sandbox's simulated one in tests).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

SCHEMA = "ops"
# ops.state key: the issues whose history a budget stop left for the next run (assets/linear.py)
HISTORY_STATE = "linear_issue_history"
# ops.state key: issues whose history changed without an updatedAt bump (the reconcile walk found them archived
# or trashed since their last read), for the history asset to read again (assets/reconcile.py)
HISTORY_REREAD = "linear_issue_history_reread"

DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.partition_loads (
        asset VARCHAR NOT NULL, day DATE NOT NULL, loaded_at TIMESTAMP NOT NULL, run_id VARCHAR, rows BIGINT,
        PRIMARY KEY (asset, day))""",
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.pending_partitions (
        asset VARCHAR NOT NULL, day DATE NOT NULL, requested_at TIMESTAMP NOT NULL, run_id VARCHAR,
        reason VARCHAR, resume_at TIMESTAMP, PRIMARY KEY (asset, day))""",
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.walks (
        kind VARCHAR PRIMARY KEY, state JSON NOT NULL, updated_at TIMESTAMP NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.issue_id_walk (
        id VARCHAR PRIMARY KEY, archived_at VARCHAR, trashed BOOLEAN)""",
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.state (
        key VARCHAR PRIMARY KEY, value JSON, updated_at TIMESTAMP NOT NULL)""",
)


def ensure(con) -> None:
    for statement in DDL:
        con.execute(statement)


def exists(con) -> bool:
    (count,) = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = $schema AND table_name = 'state'",
        {"schema": SCHEMA},
    ).fetchone()
    return bool(count)


def days_between(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def ranges(days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Consecutive days grouped into inclusive (first, last) ranges, in order."""
    out: list[tuple[dt.date, dt.date]] = []
    for day in sorted(set(days)):
        if out and day == out[-1][1] + dt.timedelta(days=1):
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


def describe_days(days: Sequence[dt.date]) -> str:
    """`2024-03-15 .. 2024-12-31 (292 days)`, ranges joined with `, `."""
    if not days:
        return "none"
    parts = [f"{a}" if a == b else f"{a} .. {b}" for a, b in ranges(days)]
    shown = ", ".join(parts[:4]) + (f", ... ({len(parts) - 4} more ranges)" if len(parts) > 4 else "")
    return f"{shown} ({len(set(days))} day{'s' if len(set(days)) != 1 else ''})"


# --- partitions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    day: dt.date
    requested_at: dt.datetime
    resume_at: dt.datetime | None
    reason: str


def record_loads(
    con, asset: str, rows_per_day: dict[dt.date, int], days: Iterable[dt.date], now: dt.datetime, run_id: str
):
    """`days` were loaded now (each whole, `rows_per_day` of them, 0 where absent); they are pending no more."""
    days = sorted(set(days))
    if not days:
        return
    ensure(con)
    con.executemany(
        f"INSERT OR REPLACE INTO {SCHEMA}.partition_loads VALUES (?, ?, ?, ?, ?)",
        [(asset, day, now, run_id, rows_per_day.get(day, 0)) for day in days],
    )
    con.executemany(f"DELETE FROM {SCHEMA}.pending_partitions WHERE asset = ? AND day = ?", [(asset, d) for d in days])


def add_pending(
    con,
    asset: str,
    days: Iterable[dt.date],
    now: dt.datetime,
    run_id: str,
    reason: str,
    resume_at: dt.datetime | None,
) -> None:
    """`days` wait for a later run; a day already pending keeps when it was first asked for."""
    days = sorted(set(days))
    if not days:
        return
    ensure(con)
    con.executemany(
        f"""INSERT INTO {SCHEMA}.pending_partitions VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (asset, day) DO UPDATE SET reason = excluded.reason, resume_at = excluded.resume_at,
            run_id = excluded.run_id""",
        [(asset, day, now, run_id, reason, resume_at) for day in days],
    )


def clear_pending(con, asset: str) -> None:
    ensure(con)
    con.execute(f"DELETE FROM {SCHEMA}.pending_partitions WHERE asset = $asset", {"asset": asset})


def pending(con, asset: str | None = None) -> dict[str, list[Pending]]:
    """Pending days per asset (every asset, or `asset`'s)."""
    if not exists(con):
        return {}
    rows = con.execute(
        f"SELECT asset, day, requested_at, resume_at, reason FROM {SCHEMA}.pending_partitions "
        "WHERE $asset IS NULL OR asset = $asset ORDER BY asset, day",
        {"asset": asset},
    ).fetchall()
    out: dict[str, list[Pending]] = {}
    for name, day, requested_at, resume_at, reason in rows:
        out.setdefault(name, []).append(Pending(day, requested_at, resume_at, reason or ""))
    return out


def loaded_days(con, asset: str, first: dt.date, last: dt.date) -> dict[dt.date, dt.datetime]:
    if not exists(con):
        return {}
    rows = con.execute(
        f"SELECT day, loaded_at FROM {SCHEMA}.partition_loads WHERE asset = $asset AND day BETWEEN $first AND $last",
        {"asset": asset, "first": first, "last": last},
    ).fetchall()
    return dict(rows)


def plan_days(con, asset: str, first: dt.date, last: dt.date) -> list[dt.date]:
    """The days of [first, last] a run must load: all of them, unless the range reaches days a budget stop
    left pending. Then the run continues that backlog: it skips the days loaded since the backlog was first
    asked for (the stopped run and its continuations committed them), and loads the rest."""
    backlog = pending(con, asset).get(asset, [])
    wanted = days_between(first, last)
    if not any(first <= p.day <= last for p in backlog):
        return wanted
    since = min(p.requested_at for p in backlog)
    loaded = loaded_days(con, asset, first, last)
    return [day for day in wanted if day not in loaded or loaded[day] < since]


def pending_summary(con) -> dict[str, str]:
    """What budget stops left, per raw table, for a run's outcome: days of the partitioned tables
    (`2024-03-01 .. 2024-03-09 (9 days)`) and the issues still without history (`1,234 issues`)."""
    out = {asset: describe_days([p.day for p in days]) for asset, days in pending(con).items()}
    history = get_state(con, HISTORY_STATE)
    if history and history.get("issues_pending"):
        count = int(history["issues_pending"])
        out[HISTORY_STATE] = f"{count:,} issue{'s' if count != 1 else ''} without history"
    return out


# --- walks and named state -----------------------------------------------------------------------


def load_walk(con, kind: str) -> dict[str, Any] | None:
    if not exists(con):
        return None
    row = con.execute(f"SELECT state FROM {SCHEMA}.walks WHERE kind = $kind", {"kind": kind}).fetchone()
    return json.loads(row[0]) if row else None


def save_walk(con, kind: str, state: dict[str, Any], now: dt.datetime) -> None:
    ensure(con)
    con.execute(f"INSERT OR REPLACE INTO {SCHEMA}.walks VALUES (?, ?, ?)", [kind, json.dumps(state), now])


def clear_walk(con, kind: str) -> None:
    ensure(con)
    con.execute(f"DELETE FROM {SCHEMA}.walks WHERE kind = $kind", {"kind": kind})


def get_state(con, key: str, default: Any = None) -> Any:
    if not exists(con):
        return default
    row = con.execute(f"SELECT value FROM {SCHEMA}.state WHERE key = $key", {"key": key}).fetchone()
    return json.loads(row[0]) if row and row[0] is not None else default


def set_state(con, key: str, value: Any, now: dt.datetime) -> None:
    ensure(con)
    con.execute(f"INSERT OR REPLACE INTO {SCHEMA}.state VALUES (?, ?, ?)", [key, json.dumps(value, default=str), now])
