"""The raw contract (orchestration/warehouse/raw_tables.py) and what repeats it: the dbt sources yml, the
write-back link rows and the raw asset keys all follow the one contract."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import duckdb
import pytest
import yaml

from assets.common import API_RAW_KEYS, LINKS_KEY
from orchestration.warehouse import raw_tables as t
from orchestration.writeback import links
from orchestration.writeback.plan import Link

SOURCES = sorted((Path(__file__).resolve().parents[1] / "dbt_project" / "models" / "staging").glob("*/_*__sources.yml"))


def source_tables() -> dict[str, dict]:
    tables = {}
    for path in SOURCES:
        for source in yaml.safe_load(path.read_text())["sources"]:
            assert source["schema"] == "raw", path
            for table in source["tables"]:
                assert table["name"] not in tables, f"{table['name']} is a source twice"
                tables[table["name"]] = table
    return tables


def contract_columns(table) -> list[str]:
    if isinstance(table, t.WrittenTable):
        return list(table.column_names)
    return [definition.split()[0] for definition in table.column_defs()]


def test_the_dbt_sources_are_exactly_the_contracts_tables():
    assert SOURCES
    assert sorted(source_tables()) == sorted(table.name for table in t.CONTRACT)


@pytest.mark.parametrize("table", t.CONTRACT, ids=lambda table: table.name)
def test_each_source_has_the_contracts_columns_in_order_and_its_asset_key(table):
    source = source_tables()[table.name]
    assert [c["name"] for c in source["columns"]] == contract_columns(table)
    assert source["meta"]["dagster"]["asset_key"] == ["raw", table.name]
    if isinstance(table, t.RawTable):  # a typed column documents where it comes from and its type
        described = {c["name"]: c.get("description", "") for c in source["columns"]}
        for column in table.columns:
            assert described[column.name] == f"`{column.json_path}` ({column.sql_type})", (table.name, column.name)


def test_the_raw_asset_keys_follow_the_contract():
    assert [key.path for key in API_RAW_KEYS] == [["raw", table.name] for table in t.ALL_TABLES]
    assert LINKS_KEY.path == ["raw", t.CLOCKIFY_ISSUE_TASK_LINKS.name]


def test_link_rows_are_the_link_tables_columns(tmp_path):
    """Write-back reads and writes every column of the contract's link table, and nothing else."""
    assert sorted(f.name for f in dataclasses.fields(Link)) == sorted(t.CLOCKIFY_ISSUE_TASK_LINKS.column_names)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    links.ensure_links_table(con)
    columns = [r[0] for r in con.execute("DESCRIBE raw.clockify_issue_task_links").fetchall()]
    assert columns == list(t.CLOCKIFY_ISSUE_TASK_LINKS.column_names)
    now = dt.datetime(2024, 6, 1, 12)
    row = Link("issue", "task", "project", "ws", "ENG-1: x", "ACTIVE", "ENG-1", now, now)
    links.record_links(con, [row, dataclasses.replace(row, status="DONE")])  # upserted by task id
    assert links.read_links(con, "ws") == [dataclasses.replace(row, status="DONE")]
    assert links.count_links(con) == 1
