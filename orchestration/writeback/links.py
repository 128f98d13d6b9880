"""The warehouse side of write-back: Linear as the raw layer holds it, and the link table.

`raw.clockify_issue_task_links` (its columns: `CLOCKIFY_ISSUE_TASK_LINKS` in the raw contract) remembers
issue id <-> Clockify task id, so later runs match by id, never by name, and dbt matches time entries on
linked tasks to their issue. Rows are upserted by task id; a row is never deleted (time entries may still
carry an old task id).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import fields, replace

from orchestration.warehouse.raw_tables import CLOCKIFY_ISSUE_TASK_LINKS as LINKS
from orchestration.writeback.plan import Change, Issue, Link, Team, WritebackError

LINKS_TABLE = LINKS.qualified_name
LINK_FIELDS = tuple(f.name for f in fields(Link))  # every field is a column of the table

# The flags follow stg_linear__issues: the reconcile walk's listing (raw.linear_issue_ids) gives the fresher
# archived/trashed flags, and an issue missing from a listing begun after it was created is deleted.
ISSUES_SQL = """
WITH issues AS (
    SELECT * FROM raw.linear_issues WHERE id IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC NULLS LAST, _loaded_at DESC) = 1
),
states AS (
    SELECT * FROM raw.linear_workflow_states WHERE id IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY id ORDER BY _loaded_at DESC) = 1
),
listed AS (SELECT * FROM {listing} WHERE id IS NOT NULL),
listing AS (SELECT max(listed_at) AS listed_at, count(*) AS n FROM listed)
SELECT issues.id, issues.identifier, issues.title, issues.team_id, issues.number, states.type,
       CASE WHEN listed._loaded_at > issues._loaded_at THEN listed.archived_at ELSE issues.archived_at END
           IS NOT NULL,
       CASE WHEN listed._loaded_at > issues._loaded_at THEN coalesce(listed.trashed, false)
            ELSE coalesce(issues.trashed, false) END,
       coalesce(listing.n > 0 AND listed.id IS NULL AND issues.created_at < listing.listed_at, false)
FROM issues LEFT JOIN states ON states.id = issues.state_id
CROSS JOIN listing LEFT JOIN listed ON listed.id = issues.id
WHERE issues.identifier IS NOT NULL AND issues.team_id IS NOT NULL
"""
# A warehouse loaded before the reconcile walk existed has no listing: nothing is known deleted.
NO_LISTING = (
    "(SELECT NULL::VARCHAR AS id, NULL::TIMESTAMP AS archived_at, NULL::BOOLEAN AS trashed, "
    "NULL::TIMESTAMP AS listed_at, NULL::TIMESTAMP AS _loaded_at WHERE false)"
)

TEAMS_SQL = """
SELECT id, key, name FROM raw.linear_teams WHERE id IS NOT NULL AND key IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY id ORDER BY _loaded_at DESC) = 1
"""


def ensure_links_table(con) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute(LINKS.create_sql())


def read_linear(con) -> tuple[list[Issue], list[Team]]:
    """Issues (with their state's type) and teams from the raw layer; an error if Linear was never loaded."""
    present = {
        r[0]
        for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'").fetchall()
    }
    missing = [t for t in ("linear_issues", "linear_teams", "linear_workflow_states") if t not in present]
    if missing:
        raise WritebackError(
            f"the warehouse has no {', '.join('raw.' + m for m in missing)}: load Linear first "
            "(warehouse sync --start YYYY-MM-DD --end YYYY-MM-DD), then run write-back."
        )
    issues = [
        Issue(
            id=r[0],
            identifier=r[1],
            title=r[2] or "",
            team_id=r[3],
            number=r[4],
            state_type=r[5],
            archived=bool(r[6]),
            trashed=bool(r[7]),
            deleted=bool(r[8]),
        )
        for r in con.execute(
            ISSUES_SQL.format(listing="raw.linear_issue_ids" if "linear_issue_ids" in present else NO_LISTING)
        ).fetchall()
    ]
    teams = [Team(id=r[0], key=r[1], name=r[2] or "") for r in con.execute(TEAMS_SQL).fetchall()]
    return issues, teams


def links_table_exists(con) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw' AND table_name = $name",
            {"name": LINKS.name},
        ).fetchone()[0]
    )


def count_links(con) -> int:
    if not links_table_exists(con):
        return 0
    return int(con.execute(f"SELECT count(*) FROM {LINKS_TABLE}").fetchone()[0])


def read_links(con, workspace_id: str) -> list[Link]:
    """This workspace's link rows; none when the table does not exist yet (nothing is created here)."""
    if not links_table_exists(con):
        return []
    rows = con.execute(
        f"SELECT {', '.join(LINK_FIELDS)} FROM {LINKS_TABLE} WHERE workspace_id = $ws", {"ws": workspace_id}
    ).fetchall()
    return [Link(**dict(zip(LINK_FIELDS, row, strict=True))) for row in rows]


def record_links(con, links: Sequence[Link]) -> None:
    """Upsert link rows by task id in one transaction (all or nothing)."""
    if not links:
        return
    ensure_links_table(con)
    con.execute("BEGIN TRANSACTION")
    try:
        columns = LINKS.column_names
        insert = f"INSERT INTO {LINKS_TABLE} ({', '.join(columns)}) VALUES ({', '.join('$' + c for c in columns)})"
        for link in links:
            con.execute(f"DELETE FROM {LINKS_TABLE} WHERE {LINKS.key} = $key", {"key": getattr(link, LINKS.key)})
            con.execute(insert, {c: getattr(link, c) for c in columns})
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def link_after(change: Change, task: dict, workspace_id: str, existing: Link | None, now: dt.datetime) -> Link:
    """The link row once `change` (create, update, adopt or refresh) has been applied to `task`."""
    base = existing or Link(
        issue_id=change.issue_id or "", task_id=task["id"], project_id=None, workspace_id=workspace_id, linked_at=now
    )
    return replace(
        base,
        task_id=task["id"],
        project_id=task.get("projectId") or change.project_id,
        task_name=task.get("name"),
        status=task.get("status"),
        issue_identifier=change.identifier,
        updated_at=now,
        linked_at=base.linked_at or now,
    )
