"""Issues 15 and 16: after the first (full) load, raw/linear_issues reads only the issues updated since the newest
`updatedAt` the last complete walk read (its watermark, in ops.state) less an hour, whatever the requested range:
a daily run and a warm re-run of a backfill read what changed, not a week (or a year) of issues. `full_reread`
(run config, `warehouse sync --full-reread`) reads the whole range again. Whatever the open fact's answer
(does archiving bump `updatedAt`?), the warehouse ends equal to a clean load of the same data."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from assets.common import raw_key
from assets.resume import ISSUES_DONE, ISSUES_OVERLAP
from orchestration.cli import build_parser
from orchestration.runs import run_sync
from orchestration.warehouse import ledger
from orchestration.warehouse import raw_tables as t
from orchestration.warehouse.duckdb import Warehouse
from sandbox import Sandbox
from tests import reliability as r
from tests.conftest import ANCHOR
from tests.test_budget_runs import DAY, frozen, point_at, rows, settings

pytestmark = pytest.mark.slow

ISSUES = raw_key(t.LINEAR_ISSUES)
LINEAR_LOADS = [
    raw_key(x) for x in (t.LINEAR_ISSUES, t.LINEAR_ISSUE_HISTORY, t.LINEAR_ISSUE_STATE_SPANS, t.LINEAR_ISSUE_IDS)
]
FIRST, LAST = ANCHOR - dt.timedelta(days=29), ANCHOR


def issues_read(outcome) -> tuple[int, int, str]:
    """(issues the walk read, its requests, where it started) from raw/linear_issues' metadata."""
    # one event per partition of the range, all with the load's metadata
    event = next(e for e in outcome.result.get_asset_materialization_events() if e.asset_key == ISSUES)
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    pages, issues = metadata["walk"].split(", ")[:2]
    assert pages.endswith(" pages") and issues.endswith(" issues"), metadata["walk"]
    return int(issues.split()[0]), metadata["api_requests"], metadata["updated_since"]


def watermark() -> str:
    with Warehouse(path=os.environ["WAREHOUSE_PATH"]).connect() as con:
        return ledger.get_state(con, ISSUES_DONE)["watermark"]


def stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def updated_since(sb, moment: dt.datetime) -> set[str]:
    return {i["id"] for i in sb.workspace.linear_issues if i["updatedAt"] >= stamp(moment)}


def test_a_daily_run_and_a_warm_backfill_read_only_the_issues_updated_since_the_watermark(tmp_path, monkeypatch):
    with Sandbox(frozen()) as sb:
        point_at(sb, monkeypatch, tmp_path / "warehouse.duckdb")
        first_load = run_sync(settings(sb), FIRST, LAST, asset_selection=[ISSUES])
        assert issues_read(first_load)[0] == len(sb.workspace.linear_issues)  # the first load stays full
        mark = watermark()
        assert mark == max(i["updatedAt"] for i in sb.workspace.linear_issues)

        sb.clock.advance(DAY)
        edited = [i["id"] for i in sb.workspace.linear_issues[:3]]
        for issue_id in edited:
            sb.workspace.edit_issue(issue_id, title="edited after the backfill")
        week = sb.clock.now() - dt.timedelta(days=7)
        before = sb.request_counts()["linear"]
        daily = run_sync(settings(sb), LAST - dt.timedelta(days=6), LAST, asset_selection=[ISSUES])
        read, requests, since = issues_read(daily)
        # The issues updated since the watermark less the overlap: the three edits and the last hour's updates.
        overlap = updated_since(sb, parse(mark) - ISSUES_OVERLAP)
        assert set(edited) <= overlap and read == len(overlap)
        assert since == stamp(parse(mark) - ISSUES_OVERLAP)
        assert requests == 1 == sb.request_counts()["linear"] - before  # one page, nothing else of Linear's
        assert len(updated_since(sb, week)) > 2 * read  # what "updated since the range's start" read before
        held = dict(rows("SELECT id, title FROM raw.linear_issues"))
        assert all(held[i] == "edited after the backfill" for i in edited)

        # A warm re-run of the whole backfill reads the same few, and the watermark moved to the edits.
        sb.clock.advance(DAY)
        again = run_sync(settings(sb), FIRST, LAST, asset_selection=[ISSUES])
        assert issues_read(again)[0] == len(updated_since(sb, parse(watermark()) - ISSUES_OVERLAP)) == len(edited)


def test_an_update_stamped_inside_the_overlap_is_read_and_full_reread_reads_the_whole_range(tmp_path, monkeypatch):
    with Sandbox(frozen()) as sb:
        point_at(sb, monkeypatch, tmp_path / "warehouse.duckdb")
        run_sync(settings(sb), FIRST, LAST, asset_selection=[ISSUES])
        mark = parse(watermark())
        # Updates Linear stamped before the newest one the backfill read but committed after its walk: one
        # within the overlap (read), one before it (the overlap's bound: the walk starts an hour back).
        ws, clock = sb.workspace, sb.workspace.clock
        late, older = [i["id"] for i in ws.linear_issues if i["updatedAt"] < stamp(mark - 2 * ISSUES_OVERLAP)][:2]
        ws.clock = lambda: mark - ISSUES_OVERLAP / 2
        ws.edit_issue(late, title="stamped inside the overlap")
        ws.clock = lambda: mark - ISSUES_OVERLAP * 1.5
        ws.edit_issue(older, title="stamped before the overlap")
        ws.clock = clock
        sb.clock.advance(DAY)
        daily = run_sync(settings(sb), LAST, LAST, asset_selection=[ISSUES])
        held = dict(rows("SELECT id, title FROM raw.linear_issues"))
        assert held[late] == "stamped inside the overlap"
        assert held[older] != "stamped before the overlap"
        assert issues_read(daily)[0] == len(updated_since(sb, mark - ISSUES_OVERLAP))

        # full_reread (the CLI's --full-reread is the same flag) reads every issue updated since the range's start.
        assert build_parser().parse_args(["sync", "--start", "x", "--end", "y", "--full-reread"]).full_reread
        start = dt.datetime.combine(FIRST, dt.time(), dt.UTC)
        full = run_sync(settings(sb), FIRST, LAST, asset_selection=[ISSUES], full_reread=True)
        read, _requests, since = issues_read(full)
        assert since == stamp(start) and read == len(updated_since(sb, start)) > len(ws.linear_issues) // 2
        assert dict(rows("SELECT id, title FROM raw.linear_issues"))[older] == "stamped before the overlap"
        # and the watermark it leaves is the newest updatedAt again: the next run is incremental
        assert issues_read(run_sync(settings(sb), LAST, LAST, asset_selection=[ISSUES]))[0] < read


@pytest.mark.parametrize("bumps", [True, False], ids=["archive_bumps_updated_at", "archive_keeps_updated_at"])
def test_archived_trashed_moved_and_edited_issues_end_equal_to_a_clean_load(bumps, tmp_path, monkeypatch):
    """The open fact both ways: the incremental load, the reconcile walk and the history end where a first
    load of the changed data does (raw Linear tables, row for row)."""
    with Sandbox(frozen(linear_archive_bumps_updated_at=bumps)) as sb:
        monkeypatch.setenv("LINEAR_RECONCILE_DAYS", "0")  # the id walk on every sync, as in the daily schedule
        point_at(sb, monkeypatch, tmp_path / "warm.duckdb")
        run_sync(settings(sb), FIRST, LAST, asset_selection=LINEAR_LOADS)
        sb.clock.advance(DAY)
        ws = sb.workspace
        live = [i for i in ws.linear_issues if not i["archivedAt"]]
        archived, trashed, moved, edited = live[:4]
        ws.archive_issue(archived["id"])
        ws.trash_issue(trashed["id"])
        ws.move_issue(moved["id"], next(x["key"] for x in ws.linear_teams if x is not moved["team"]))
        ws.edit_issue(edited["id"], state_type="completed")
        sb.clock.advance(3600)
        run_sync(settings(sb), LAST - dt.timedelta(days=6), LAST, asset_selection=LINEAR_LOADS)
        warm = r.raw(tmp_path / "warm.duckdb")
        flags = {i: (a is not None, tr) for i, a, tr in rows("SELECT id, archived_at, trashed FROM raw.linear_issues")}
        assert flags[archived["id"]] == (True, False) and flags[trashed["id"]] == (True, True)

        point_at(sb, monkeypatch, tmp_path / "clean.duckdb")
        run_sync(settings(sb), FIRST, LAST, asset_selection=LINEAR_LOADS)
    clean = r.raw(tmp_path / "clean.duckdb")
    r.assert_same(warm, clean, "raw after the incremental load")
