"""Bad input: wrong settings, wrong command lines, records that break assumptions, hostile values."""

from __future__ import annotations

import datetime as dt
import os
import re

import duckdb
import pytest

from orchestration import cli, preflight
from orchestration.settings import Settings
from orchestration.warehouse import raw_tables as t
from orchestration.warehouse.duckdb import Warehouse
from tests import reliability as r
from tests.conftest import ANCHOR


def warehouse_rows(path, sql, params=None):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, params or {}).fetchall()


def run_cli(capsys, *argv) -> tuple[int, list[str]]:
    code = cli.main(["sync", *argv])
    out = capsys.readouterr().out
    return code, [line for line in out.splitlines() if line.startswith("error:")]


DAY = str(ANCHOR - dt.timedelta(days=1))


# --- settings: one line per problem naming the variable, nothing written ----------------------------------

SETTING_CASES = {
    "wrong clockify key": ({"CLOCKIFY_API_KEY": "not-the-key"}, ["CLOCKIFY_API_KEY"]),
    "wrong linear key": ({"LINEAR_API_KEY": "lin_api_wrong"}, ["LINEAR_API_KEY"]),
    "missing keys": (  # nothing configured: one line naming all three (and the demo)
        {"CLOCKIFY_API_KEY": None, "LINEAR_API_KEY": None, "CLOCKIFY_WORKSPACE_ID": None},
        ["CLOCKIFY_API_KEY LINEAR_API_KEY CLOCKIFY_WORKSPACE_ID"],
    ),
    "missing workspace": ({"CLOCKIFY_WORKSPACE_ID": None}, ["CLOCKIFY_WORKSPACE_ID"]),
    "blank key": ({"LINEAR_API_KEY": "  "}, ["LINEAR_API_KEY"]),
    "unknown workspace": ({"CLOCKIFY_WORKSPACE_ID": "000000000000000000000000"}, ["CLOCKIFY_WORKSPACE_ID"]),
    "unreachable clockify": ({"CLOCKIFY_API_URL": "http://127.0.0.1:9/api/v1"}, ["CLOCKIFY_API_URL"]),
    "wrong reports url": ({"CLOCKIFY_REPORTS_URL": "{base}/nothing-here"}, ["CLOCKIFY_REPORTS_URL"]),
    "unreachable linear and wrong clockify key": (
        {"LINEAR_API_URL": "http://127.0.0.1:9/graphql", "CLOCKIFY_API_KEY": "nope"},
        ["CLOCKIFY_API_KEY", "LINEAR_API_URL"],
    ),
    "not a url": ({"LINEAR_API_URL": "linear.app/graphql"}, ["LINEAR_API_URL"]),
}


@pytest.mark.parametrize("case", list(SETTING_CASES))
def test_bad_settings_exit_non_zero_one_line_per_problem_and_write_nothing(
    case, pipeline_env, monkeypatch, capsys, tmp_path
):
    changes, variables = SETTING_CASES[case]
    base = pipeline_env.base_url
    for name, value in changes.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value.format(base=base))
    code, errors = run_cli(capsys, "--start", DAY, "--end", DAY)
    assert code != 0
    assert len(errors) == len(variables), errors
    for variables_of_a_line in variables:
        for variable in variables_of_a_line.split():
            assert sum(variable in line for line in errors) >= 1, (variable, errors)
    for line in errors:
        assert any(v.split()[0] in line for v in variables), line
        for secret in (pipeline_env.config.clockify_api_key, pipeline_env.config.linear_api_key):
            assert secret not in line
    assert not (tmp_path / "warehouse.duckdb").exists()  # no partial write


def test_preflight_is_cheap_and_passes_on_good_settings(pipeline_env):
    assert preflight.check(Settings.from_env(os.environ)) == []
    # /user (once), /workspaces/{id}, /users, /workspaces?roles= (is the key an admin); one empty report;
    # the organization, the teams, one customer
    assert pipeline_env.request_counts() == {"clockify": 4, "clockify_reports": 1, "linear": 3}


# --- command line -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--start", "2024-13-01", "--end", DAY], "--start '2024-13-01' is not a date"),
        (["--start", "yesterday", "--end", DAY], "--start 'yesterday' is not a date"),
        (["--start", DAY, "--end", "2024-06-31"], "--end '2024-06-31' is not a date"),
        (["--start", "2024-06-20'; DROP TABLE raw.clockify_time_entries; --", "--end", DAY], "is not a date"),
        (["--start", "2024-06-20", "--end", "2024-06-10"], "is after --end"),
        (["--start", "2023-12-31", "--end", "2024-01-05"], "before WAREHOUSE_START_DATE 2024-01-01"),
        (["--start", DAY, "--end", "2999-01-01"], "is in the future"),
    ],
)
def test_bad_command_lines_are_refused_before_any_request(argv, expected, pipeline_env, capsys, tmp_path):
    code, errors = run_cli(capsys, *argv)
    assert code != 0
    assert len(errors) == 1 and expected in errors[0], errors
    assert sum(pipeline_env.request_counts().values()) == 0
    assert not (tmp_path / "warehouse.duckdb").exists()


def test_a_malformed_start_date_setting_is_named(pipeline_env, monkeypatch, capsys):
    monkeypatch.setenv("WAREHOUSE_START_DATE", "01/01/2024")
    code, errors = run_cli(capsys, "--start", DAY, "--end", DAY)
    assert code != 0 and any("WAREHOUSE_START_DATE" in e for e in errors), errors


# --- records that break assumptions ---------------------------------------------------------------------


def test_odd_records_from_the_api_are_loaded_and_flagged_not_dropped():
    """The clean reference run (tests/reliability.py) serves odd entries; the whole sync succeeded."""
    from sandbox import Sandbox

    with Sandbox(r.sandbox_config()) as sb:
        odd = r.mutate(sb.workspace)["odd"]
    path = r.clean_reference()
    raw_ids = {row[0] for row in warehouse_rows(path, "SELECT id FROM raw.clockify_time_entries")}
    assert set(odd.values()) <= raw_ids  # nothing dropped
    staged = {
        row[0]: row[1:]
        for row in warehouse_rows(
            path,
            "SELECT time_entry_id, is_valid_interval, hours, project_id, task_id, entry_type "
            "FROM staging.stg_clockify__time_entries WHERE time_entry_id IN (SELECT unnest($ids))",
            {"ids": list(odd.values())},
        )
    }
    fct = {row[0]: row[1] for row in warehouse_rows(path, "SELECT time_entry_id, hours FROM marts.fct_time_entries")}
    assert staged[odd["negative"]][0] is False and odd["negative"] not in fct  # flagged, kept out of marts
    assert staged[odd["zero"]][:2] == (True, 0.0) and fct[odd["zero"]] == 0.0
    assert staged[odd["nulls"]][2:4] == (None, None) and odd["nulls"] in fct  # null project/task: unmatched
    # The official report row carries no `type` (api-notes.md): the unknown type never reaches the report's
    # reader, the entry loads with a null type and counts (the main API's per-user reads would carry it).
    assert staged[odd["enum"]][4] is None and odd["enum"] in fct
    assert odd["extra"] in fct
    # The record the report sent without optional fields really lacked them, and still counts its hour.
    keys = {
        row[0]: set(row[1])
        for row in warehouse_rows(
            path,
            "SELECT id, json_keys(_raw) FROM raw.clockify_time_entries WHERE id IN ($missing, $extra)",
            {"missing": odd["missing"], "extra": odd["extra"]},
        )
    }
    report_only = {"userName", "projectName", "taskName", "tags", "clientName", "isLocked", "customFields"}
    assert report_only <= keys[odd["extra"]] and not report_only & keys[odd["missing"]], keys
    assert staged[odd["missing"]] == (True, 1.0, None, None, None) and fct[odd["missing"]] == 1.0  # no type: report


def test_records_with_missing_extra_or_broken_fields_load_without_crashing_the_partition(tmp_path, caplog):
    day = dt.date(2024, 6, 3)
    good = {
        "id": "good",
        "userId": "u",
        "description": "ENG-1",
        "projectId": "p",
        "taskId": None,
        "billable": True,
        "type": "REGULAR",
        "timeInterval": {"start": "2024-06-03T09:00:00Z", "end": "2024-06-03T10:00:00Z", "duration": "PT1H"},
    }
    records = [
        good,
        {"id": "minimal", "timeInterval": {"start": "2024-06-03T11:00:00Z"}},  # every optional field missing
        {**good, "id": "extra", "brandNewField": {"x": [1, 2]}, "type": "NEVER_SEEN_BEFORE"},
        {**good, "id": "nulls", "projectId": None, "taskId": None, "description": None, "billable": None},
        {**good, "id": "zero", "timeInterval": {"start": "2024-06-03T12:00:00Z", "end": "2024-06-03T12:00:00Z"}},
        {**good, "id": "negative", "timeInterval": {"start": "2024-06-03T12:00:00Z", "end": "2024-06-03T11:00:00Z"}},
        {**good, "id": "typed-wrong", "billable": "yes", "tagIds": "not-a-list"},
        {**good, "id": "no-start", "timeInterval": {"start": None}},
    ]
    warehouse = Warehouse(path=str(tmp_path / "w.duckdb"))
    result = warehouse.replace_partitions(t.CLOCKIFY_TIME_ENTRIES, records, day, day)
    loaded = {row[0] for row in warehouse_rows(tmp_path / "w.duckdb", "SELECT id FROM raw.clockify_time_entries")}
    assert loaded == {rec["id"] for rec in records} - {"no-start"}
    # The one record that cannot be placed in a partition is counted and warned about, not silently lost.
    assert result.unplaceable == 1 and "without a valid" in caplog.text
    extra = warehouse_rows(
        tmp_path / "w.duckdb", "SELECT _raw->>'brandNewField' FROM raw.clockify_time_entries WHERE id = 'extra'"
    )
    assert extra == [('{"x":[1,2]}',)]  # new API fields are kept in _raw


# --- values reaching SQL ----------------------------------------------------------------------------------


def test_partition_bounds_are_bound_parameters_not_sql(tmp_path):
    warehouse = Warehouse(path=str(tmp_path / "w.duckdb"))
    entry = {"id": "kept", "timeInterval": {"start": "2024-06-03T09:00:00Z", "end": "2024-06-03T10:00:00Z"}}
    warehouse.replace_partitions(t.CLOCKIFY_TIME_ENTRIES, [entry], dt.date(2024, 6, 3), dt.date(2024, 6, 3))
    hostile = "2024-06-03' OR 1=1; DROP TABLE raw.clockify_time_entries; --"
    try:  # a bound value: at worst a conversion error, never SQL
        warehouse.replace_partitions(t.CLOCKIFY_TIME_ENTRIES, [], hostile, hostile)
    except duckdb.Error:
        pass
    assert warehouse.row_count(t.CLOCKIFY_TIME_ENTRIES) == 1  # the table is still there, untouched


def test_identifiers_in_sql_come_only_from_the_static_table_contract():
    for table in t.ALL_TABLES:
        assert re.fullmatch(r"[a-z_]+", table.name), table.name
        for column in table.columns:
            assert re.fullmatch(r"[a-z_0-9]+", column.name), column.name


def test_a_malformed_start_date_setting_is_one_line_not_a_traceback(tmp_path):
    """Regression: the partitions read WAREHOUSE_START_DATE at import, which escaped as a traceback."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "WAREHOUSE_START_DATE": "01/01/2024",
        "WAREHOUSE_PATH": str(tmp_path / "w.duckdb"),
        "CLOCKIFY_API_KEY": "k",
        "LINEAR_API_KEY": "k",
        "CLOCKIFY_WORKSPACE_ID": "w",
    }
    done = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "sync", "--start", DAY, "--end", DAY],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    assert "error: WAREHOUSE_START_DATE='01/01/2024' is not a date" in done.stdout
    assert not (tmp_path / "w.duckdb").exists()
