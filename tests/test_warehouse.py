"""The warehouse's load semantics, on a temp DuckDB file with hand-written records."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from orchestration.warehouse import raw_tables as t
from orchestration.warehouse.duckdb import Warehouse


def entry(entry_id: str, start: str, end: str | None, description: str = "work") -> dict:
    return {
        "id": entry_id,
        "userId": "u1",
        "projectId": None,
        "taskId": None,
        "tagIds": ["t1", "t2"],
        "description": description,
        "billable": True,
        "timeInterval": {"start": start, "end": end, "duration": None},
    }


@pytest.fixture
def warehouse(tmp_path) -> Warehouse:
    return Warehouse(path=str(tmp_path / "w.duckdb"))


def rows(warehouse: Warehouse, sql: str):
    with warehouse.connect(read_only=True) as con:
        return con.execute(sql).fetchall()


D1, D2 = dt.date(2024, 3, 1), dt.date(2024, 3, 2)


def test_typed_columns_are_extracted_and_json_kept(warehouse):
    warehouse.replace_partitions(
        t.CLOCKIFY_TIME_ENTRIES, [entry("a", "2024-03-01T09:00:00Z", "2024-03-01T10:30:00Z")], D1, D1
    )
    (row,) = rows(
        warehouse,
        "SELECT id, tag_ids, started_at, ended_at, _partition_date, _raw->>'$.description' FROM raw.clockify_time_entries",
    )
    assert row == ("a", ["t1", "t2"], dt.datetime(2024, 3, 1, 9), dt.datetime(2024, 3, 1, 10, 30), D1, "work")


def test_offsets_are_normalised_to_utc(warehouse):
    warehouse.replace_partitions(t.CLOCKIFY_TIME_ENTRIES, [entry("a", "2024-03-02T01:00:00+02:00", None)], D1, D2)
    assert rows(warehouse, "SELECT started_at, _partition_date FROM raw.clockify_time_entries") == [
        (dt.datetime(2024, 3, 1, 23), D1)
    ]


def test_reloading_a_day_is_idempotent_and_drops_deleted_entries(warehouse):
    day = [entry("a", "2024-03-01T09:00:00Z", "2024-03-01T10:00:00Z"), entry("b", "2024-03-01T11:00:00Z", None)]
    other = [entry("c", "2024-03-02T09:00:00Z", "2024-03-02T10:00:00Z")]
    warehouse.replace_partitions(t.CLOCKIFY_TIME_ENTRIES, day + other, D1, D2)
    warehouse.replace_partitions(t.CLOCKIFY_TIME_ENTRIES, day, D1, D1)
    assert rows(warehouse, "SELECT id FROM raw.clockify_time_entries ORDER BY id") == [("a",), ("b",), ("c",)]
    # "a" deleted upstream, "b" stopped: reloading day 1 corrects both and leaves day 2 alone.
    stopped = entry("b", "2024-03-01T11:00:00Z", "2024-03-01T12:00:00Z")
    warehouse.replace_partitions(t.CLOCKIFY_TIME_ENTRIES, [stopped], D1, D1)
    assert rows(warehouse, "SELECT id, ended_at FROM raw.clockify_time_entries ORDER BY id") == [
        ("b", dt.datetime(2024, 3, 1, 12)),
        ("c", dt.datetime(2024, 3, 2, 10)),
    ]


def test_records_outside_the_window_are_not_loaded(warehouse):
    result = warehouse.replace_partitions(
        t.CLOCKIFY_TIME_ENTRIES,
        [entry("a", "2024-03-01T23:30:00Z", "2024-03-02T00:30:00Z"), entry("z", "2024-03-02T00:10:00Z", None)],
        D1,
        D1,
    )
    assert result.rows == 1
    assert rows(warehouse, "SELECT id FROM raw.clockify_time_entries") == [("a",)]


def test_malformed_values_become_null_not_a_failed_load(warehouse):
    bad = entry("a", "2024-03-01T09:00:00Z", "not a time")
    bad["billable"] = "maybe"
    unplaceable = entry("x", "garbage", None)
    result = warehouse.replace_partitions(t.CLOCKIFY_TIME_ENTRIES, [bad, unplaceable], D1, D1)
    assert result.unplaceable == 1
    assert rows(warehouse, "SELECT id, ended_at, billable FROM raw.clockify_time_entries") == [("a", None, None)]


def test_a_failed_load_leaves_the_table_as_it_was(warehouse, monkeypatch):
    warehouse.replace_partitions(t.CLOCKIFY_TIME_ENTRIES, [entry("a", "2024-03-01T09:00:00Z", None)], D1, D1)

    import orchestration.warehouse.staging as w

    real_stage = w.Staging.stage

    def stage_then_break(self, records):
        real_stage(self, records)
        self.con.execute("DROP VIEW incoming")  # the INSERT after the DELETE will fail

    monkeypatch.setattr(w.Staging, "stage", stage_then_break)
    with pytest.raises(duckdb.Error):
        warehouse.replace_partitions(t.CLOCKIFY_TIME_ENTRIES, [], D1, D1)
    assert rows(warehouse, "SELECT id FROM raw.clockify_time_entries") == [("a",)]


def test_a_source_failing_midway_leaves_the_table_as_it_was(warehouse, monkeypatch):
    """Records from a generator (API pages): an error after some chunks were staged writes nothing."""
    import orchestration.warehouse.staging as w

    monkeypatch.setattr(w, "STAGE_CHUNK_RECORDS", 2)
    warehouse.replace_partitions(t.CLOCKIFY_TIME_ENTRIES, [entry("a", "2024-03-01T09:00:00Z", None)], D1, D1)

    def pages():
        for i in range(5):
            yield entry(f"n{i}", "2024-03-01T10:00:00Z", "2024-03-01T11:00:00Z")
        raise RuntimeError("Clockify detailed report: retries exhausted")

    with pytest.raises(RuntimeError, match="retries exhausted"):
        warehouse.replace_partitions(t.CLOCKIFY_TIME_ENTRIES, pages(), D1, D1)
    assert rows(warehouse, "SELECT id FROM raw.clockify_time_entries") == [("a",)]


def test_records_stream_in_chunks_and_the_last_read_of_an_id_wins(warehouse, monkeypatch):
    import orchestration.warehouse.staging as w

    monkeypatch.setattr(w, "STAGE_CHUNK_RECORDS", 3)

    def pages():  # "b" is read again in a later chunk (edited while paging): that version wins
        yield entry("a", "2024-03-01T09:00:00Z", "2024-03-01T10:00:00Z")
        yield entry("b", "2024-03-01T11:00:00Z", None, "first read")
        yield entry("c", "2024-03-01T12:00:00Z", "2024-03-01T13:00:00Z")
        yield entry("d", "2024-03-02T08:00:00Z", "2024-03-02T09:00:00Z")
        yield entry("b", "2024-03-01T11:00:00Z", "2024-03-01T12:30:00Z", "second read")
        yield {"timeInterval": {"start": "2024-03-01T14:00:00Z"}}  # no id: kept (dbt flags it)

    result = warehouse.replace_partitions(t.CLOCKIFY_TIME_ENTRIES, pages(), D1, D2)
    assert result.records == 6 and result.rows == 5
    assert rows(
        warehouse, "SELECT id, description, ended_at FROM raw.clockify_time_entries ORDER BY id NULLS LAST"
    ) == [
        ("a", "work", dt.datetime(2024, 3, 1, 10)),
        ("b", "second read", dt.datetime(2024, 3, 1, 12, 30)),
        ("c", "work", dt.datetime(2024, 3, 1, 13)),
        ("d", "work", dt.datetime(2024, 3, 2, 9)),
        (None, None, None),
    ]


def test_the_warehouse_lock_is_free_while_records_are_fetched(warehouse):
    """Staging happens outside the lock: a slow API never blocks other writers."""
    import fcntl

    from orchestration.warehouse.locking import lock_file

    warehouse.replace_snapshot(t.CLOCKIFY_USERS, [{"id": "u0"}])  # the file and its lock file exist
    seen = []

    def pages():
        for i in range(3):
            with open(lock_file(warehouse.path), "a+") as other:  # a second open file: flock conflicts
                try:
                    fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(other, fcntl.LOCK_UN)
                    seen.append("free")
                except BlockingIOError:
                    seen.append("held")
            yield {"id": f"u{i}"}

    warehouse.replace_snapshot(t.CLOCKIFY_USERS, pages())
    assert seen == ["free"] * 3
    assert rows(warehouse, "SELECT id FROM raw.clockify_users ORDER BY id") == [("u0",), ("u1",), ("u2",)]


def test_record_json_is_stored_with_zstd(warehouse):
    warehouse.replace_partitions(t.CLOCKIFY_TIME_ENTRIES, [entry("a", "2024-03-01T09:00:00Z", None)], D1, D1)
    with warehouse.connect() as con:
        con.execute("CHECKPOINT")
        compressions = {
            r[0]
            for r in con.execute(
                "SELECT compression FROM pragma_storage_info('raw.clockify_time_entries') "
                "WHERE column_name = '_raw' AND segment_type = 'JSON'"
            ).fetchall()
        }
    assert compressions == {"ZSTD"}, compressions


def test_snapshot_replaces_the_whole_table(warehouse):
    warehouse.replace_snapshot(t.CLOCKIFY_USERS, [{"id": "u1", "name": "Ann"}, {"id": "u2", "name": "Bo"}])
    warehouse.replace_snapshot(t.CLOCKIFY_USERS, [{"id": "u2", "name": "Bob"}])
    assert rows(warehouse, "SELECT id, name FROM raw.clockify_users") == [("u2", "Bob")]


def issue(issue_id: str, identifier: str, updated: str) -> dict:
    return {
        "id": issue_id,
        "identifier": identifier,
        "updatedAt": updated,
        "team": {"id": "T"},
        "previousIdentifiers": [],
    }


def test_issue_upsert_keeps_one_latest_row_per_issue_wherever_its_partition(warehouse):
    warehouse.upsert_by_id(
        t.LINEAR_ISSUES,
        [issue("i1", "ENG-1", "2024-03-01T10:00:00.000Z"), issue("i2", "ENG-2", "2024-03-01T11:00:00.000Z")],
    )
    # i1 moved team later: it comes back with a new identifier and a later partition.
    warehouse.upsert_by_id(t.LINEAR_ISSUES, [issue("i1", "OPS-7", "2024-03-05T08:00:00.000Z")])
    warehouse.upsert_by_id(t.LINEAR_ISSUES, [issue("i1", "OPS-7", "2024-03-05T08:00:00.000Z")])
    assert rows(warehouse, "SELECT id, identifier, _partition_date FROM raw.linear_issues ORDER BY id") == [
        ("i1", "OPS-7", dt.date(2024, 3, 5)),
        ("i2", "ENG-2", dt.date(2024, 3, 1)),
    ]


def test_row_count_of_a_missing_table_is_zero(warehouse):
    assert warehouse.row_count(t.LINEAR_ISSUES) == 0


def test_staging_beyond_its_memory_limit_spills_instead_of_failing(warehouse, monkeypatch):
    import os

    import orchestration.warehouse.staging as w

    monkeypatch.setattr(w, "STAGE_MEMORY_LIMIT", "100MB")
    spilled = {}
    real_stage = w.Staging.stage

    def stage_and_look(self, records):
        real_stage(self, records)
        # What DuckDB keeps on disk for the staged rows, and where: the load's private spill directory.
        (size,) = self.con.execute("SELECT coalesce(sum(size), 0) FROM duckdb_temporary_files()").fetchone()
        spilled.update(
            reported_bytes=size,
            directory=self._spill.name,
            file_bytes=sum(f.stat().st_size for f in Path(self._spill.name).rglob("*") if f.is_file()),
        )

    monkeypatch.setattr(w.Staging, "stage", stage_and_look)
    count = 150_000
    many = (entry(f"e{i}", f"2024-03-01T{i % 24:02d}:00:00Z", None, "x" * 1000) for i in range(count))
    result = warehouse.replace_partitions(t.CLOCKIFY_TIME_ENTRIES, many, D1, D1)
    # It spilled: ~300 MB staged (description twice, column and _raw) in 100 MB left over 200 MB on disk,
    # in the private directory (removed with the load).
    assert spilled["reported_bytes"] > 100_000_000 and spilled["file_bytes"] > 100_000_000, spilled
    assert not os.path.exists(spilled["directory"])
    # And every row arrived, whole.
    assert result.records == result.rows == count
    assert rows(
        warehouse,
        "SELECT count(*), count(DISTINCT id), min(length(description)), max(length(description)), "
        "count(*) FILTER (WHERE id NOT IN (SELECT 'e' || range FROM range(150000))) "
        "FROM raw.clockify_time_entries",
    ) == [(count, count, 1000, 1000, 0)]


def test_a_raw_table_of_an_older_contract_gets_the_new_columns_filled_from_its_json(warehouse):
    """A warehouse loaded before the report's names were typed columns: the next load of any day adds them,
    filled from every row's `_raw`, and keeps the rows of the other days."""
    import dataclasses

    new = {"user_name", "user_email", "project_name", "task_name", "client_name"}
    older = dataclasses.replace(t.CLOCKIFY_TIME_ENTRIES, columns=tuple(
        c for c in t.CLOCKIFY_TIME_ENTRIES.columns if c.name not in new))  # fmt: skip
    old_row = {**entry("a", "2024-03-01T09:00:00Z", "2024-03-01T10:00:00Z"), "userName": "Ada", "taskName": ""}
    warehouse.replace_partitions(older, [old_row], D1, D1)
    assert "user_name" not in {r[0] for r in rows(warehouse, "DESCRIBE raw.clockify_time_entries")}
    new_row = {**entry("b", "2024-03-02T09:00:00Z", "2024-03-02T10:00:00Z"), "userName": "Bo"}
    warehouse.replace_partitions(t.CLOCKIFY_TIME_ENTRIES, [new_row], D2, D2)
    columns = [r[0] for r in rows(warehouse, "DESCRIBE raw.clockify_time_entries")]
    assert columns == [d.split()[0] for d in t.CLOCKIFY_TIME_ENTRIES.column_defs()]
    assert rows(
        warehouse, "SELECT id, user_name, task_name, _partition_date FROM raw.clockify_time_entries ORDER BY id"
    ) == [
        ("a", "Ada", "", D1),
        ("b", "Bo", None, D2),
    ]


def test_the_first_per_issue_history_load_of_a_source_checked_warehouse_records_it_and_loads(tmp_path):
    """The first Linear load of a warehouse records its source (an INSERT whose result nobody fetches), then
    replaces one issue's history rows: that replacement must not trip on the pending result (it did, with
    DuckDB's "connection has an unfinished result", when the keys were a registered DataFrame)."""
    wh = Warehouse(path=str(tmp_path / "w.duckdb"), check_sources=True, linear_source="org-1", linear_host="api")
    history = [
        {"id": "h1", "issue": {"id": "i1", "updatedAt": "2024-03-01T00:00:00Z"}, "createdAt": "2024-03-01T00:00:00Z"},
        {"id": "h2", "issue": {"id": "i1", "updatedAt": "2024-03-01T00:00:00Z"}, "createdAt": "2024-03-01T01:00:00Z"},
    ]
    assert wh.replace_for_keys(t.LINEAR_ISSUE_HISTORY, history, "issue_id", ["i1"]).rows == 2
    assert wh.replace_for_keys(t.LINEAR_ISSUE_HISTORY, history[:1], "issue_id", ["i1", "i2"]).rows == 1
    assert rows(wh, "SELECT id FROM raw.linear_issue_history") == [("h1",)]
    assert rows(wh, "SELECT system, source_id FROM meta.source") == [("linear", "org-1")]


def test_records_are_held_as_json_text_while_a_chunk_fills(monkeypatch):
    """A chunk keeps each record's JSON text, not the record (dicts a fetch would otherwise keep alive)."""
    import orchestration.warehouse.staging as w

    records = [{"id": "a", "n": 1}, {"id": "b", "big": 2**70}, {"id": "c", "t": "é"}]
    chunks = list(w._TextChunks(iter(records), 2))
    assert chunks == [['{"id":"a","n":1}', '{"id":"b","big":1180591620717411303424}'], ['{"id":"c","t":"é"}']]


def test_the_collector_threshold_is_raised_while_staging_and_restored_after(warehouse, monkeypatch):
    """Loads in two threads at once: raised while either stages, the old threshold back when both are done."""
    import gc
    import threading

    import orchestration.warehouse.staging as w

    before = gc.get_threshold()
    seen: list[tuple[int, int, int]] = []
    first_inside, second_done = threading.Event(), threading.Event()

    def slow_pages():
        seen.append(gc.get_threshold())
        first_inside.set()
        assert second_done.wait(10)
        seen.append(gc.get_threshold())  # the other load has ended: still raised for this one
        yield entry("a", "2024-03-01T09:00:00Z", "2024-03-01T10:00:00Z")

    def quick_pages():
        seen.append(gc.get_threshold())
        yield {"id": "u0"}

    worker = threading.Thread(
        target=lambda: Warehouse(path=warehouse.path).replace_partitions(t.CLOCKIFY_TIME_ENTRIES, slow_pages(), D1, D1)
    )
    worker.start()
    assert first_inside.wait(10)
    staging = w.Staging(t.CLOCKIFY_USERS, dt.datetime(2024, 3, 1))
    try:
        staging.stage(quick_pages())
    finally:
        staging.close()
    second_done.set()
    worker.join(10)
    assert [s[0] for s in seen] == [max(before[0], w.STAGE_GC_THRESHOLD)] * 3
    assert gc.get_threshold() == before
    assert rows(warehouse, "SELECT id FROM raw.clockify_time_entries") == [("a",)]
