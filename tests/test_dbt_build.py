"""`dbt build` on a warehouse filled from sandbox data is green; the Dagster wiring of the dbt layer."""

import json
import os
import random
import re
import shutil

import duckdb
import pandas as pd
import pytest

from assets.checks import failed_rules

try:
    from tests.test_dbt_harness import built_warehouse, run_dbt
except ImportError:  # tests/ without __init__.py (rootdir-relative imports)
    from test_dbt_harness import built_warehouse, run_dbt

# Rules allowed to warn on the harness's data, by test, and why (see their yml): the harness's bad-data cases
# (tests/test_dbt_harness.py) include an entry whose end is before its start (flagged in staging, excluded
# from the marts), two issues claiming one identifier (resolved by the README's rule) and a write-back link
# to an issue the warehouse does not know (ignored by matching).
EXPECTED_WARNINGS = {
    "rules_stg_clockify__time_entries_warn": {"expression(is_valid_interval)"},
    "rules_stg_linear__issues_warn": {"unique(issue_identifier)"},
    "rules_stg_clockify__issue_task_links_warn": {"relationships(issue_id -> stg_linear__issues.issue_id)"},
    # an entry of a user the user list no longer returns (its name comes from the report's userName)
    "rules_fct_time_entries_warn": {"relationships(user_id -> stg_clockify__users.user_id)"},
}

TOKEN_RULE = re.compile(
    r"(?<![A-Za-z0-9])([A-Za-z][A-Za-z0-9]{0,6})-([0-9]{1,7})(?![A-Za-z0-9])", re.IGNORECASE | re.ASCII
)


@pytest.fixture(scope="session")
def warehouse():
    return built_warehouse()


@pytest.fixture(scope="session")
def dbt_project():
    """The project Dagster loads, prepared (`dbt parse` when the manifest is missing or stale)."""
    from orchestration.dbt_project import dbt_project, prepare
    from orchestration.settings import Settings

    return prepare(dbt_project(Settings.from_env(os.environ)))


@pytest.fixture(scope="session")
def dbt_manifest(dbt_project) -> dict:
    from orchestration.dbt_project import manifest_is_stale

    assert not manifest_is_stale(dbt_project)
    return json.loads(dbt_project.manifest_path.read_text())


@pytest.fixture(scope="session")
def hours_dbt_assets(dbt_project):
    from assets.dbt import build_dbt_assets

    return build_dbt_assets(dbt_project)


def _results(warehouse) -> list[dict]:
    assert warehouse.build.run_results is not None, warehouse.build.output[-5000:]
    return warehouse.build.run_results["results"]


def test_dbt_build_is_green(warehouse):
    results = _results(warehouse)
    failed = [r["unique_id"] for r in results if r["status"] not in ("success", "pass", "warn")]
    assert warehouse.build.returncode == 0 and not failed, (failed, warehouse.build.output[-8000:])
    # each bad-data case is reported, by the rule it breaks, and nothing else warns
    con = duckdb.connect(str(warehouse.path), read_only=True)
    try:
        warned = {
            r["unique_id"].split(".")[2]: set(failed_rules(con, r["compiled_code"]))
            for r in results
            if r["status"] == "warn"
        }
    finally:
        con.close()
    assert warned == EXPECTED_WARNINGS, (warned, EXPECTED_WARNINGS)
    kinds = {r["unique_id"].split(".")[0] for r in results}
    assert {"model", "test", "unit_test"} <= kinds


def test_unit_tests_ran_and_passed(warehouse):
    unit = {
        r["unique_id"].split(".")[-1]: r["status"]
        for r in _results(warehouse)
        if r["unique_id"].startswith("unit_test.")
    }
    for name in [
        "match_task_beats_description",
        "match_lower_case",
        "match_brackets_and_punctuation",
        "match_two_ids_first_wins",
        "match_unknown_then_known",
        "match_previous_identifier",
        "match_no_id",
        "match_boundaries",
        "cycle_assignment_boundaries",
        "stg_time_entries_hours_and_flags",
        "int_time_entries_local_days",
        "person_week_iso_weeks",
    ]:
        assert unit.get(name) == "pass", (name, unit)


def test_schemas_and_materializations(warehouse):
    rows = warehouse.query(
        "select table_schema, table_name, table_type from information_schema.tables where table_schema not in ('raw')"
    )
    by_schema: dict[str, dict[str, str]] = {}
    for r in rows:
        by_schema.setdefault(r["table_schema"], {})[r["table_name"]] = r["table_type"]
    assert set(by_schema) == {"staging", "marts"}
    # staging models are views; the int_ models (matching, run once per build) are tables
    assert all(
        t == ("BASE TABLE" if name.startswith("int_") else "VIEW") for name, t in by_schema["staging"].items()
    ), by_schema["staging"]
    assert all(t == "BASE TABLE" for t in by_schema["marts"].values())
    for mart in [
        "fct_time_entries",
        "hours_per_issue",
        "hours_per_team",
        "hours_per_cycle",
        "hours_per_person_week",
        "estimate_vs_actual_by_team",
        "estimate_vs_actual_by_cycle",
        "unmatched_hours_by_project",
        "unmatched_hours_by_person",
    ]:
        assert mart in by_schema["marts"]
    assert {
        "stg_clockify__time_entries",
        "stg_linear__issues",
        "int_time_entry_issue_candidates",
        "int_time_entries_matched",
    } <= set(by_schema["staging"])


def test_only_staging_models_read_sources(dbt_manifest):
    for node in dbt_manifest["nodes"].values():
        if node["resource_type"] != "model":
            continue
        reads_source = bool(node["depends_on"]["nodes"]) and any(
            d.startswith("source.") for d in node["depends_on"]["nodes"]
        )
        assert reads_source == node["name"].startswith("stg_"), node["name"]


def test_staging_models_read_only_their_sources(dbt_manifest):
    """A staging model renames and types one source; joins belong in int_ models (stg_clockify__time_entries
    joined stg_clockify__users for the person's zone: that is int_time_entries_local now)."""
    for node in dbt_manifest["nodes"].values():
        if node["resource_type"] == "model" and node["name"].startswith("stg_"):
            models = [d for d in node["depends_on"]["nodes"] if d.startswith("model.")]
            assert models == [], f"{node['name']} reads {models}"


def test_every_model_documented(dbt_manifest):
    for node in dbt_manifest["nodes"].values():
        if node["resource_type"] == "model":
            assert node["description"], node["name"]
            assert node["patch_path"], f"{node['name']} has no yml"


def test_tokenizer_matches_python_regex_on_random_text(warehouse, tmp_path):
    """Property test: the SQL tokenizer finds exactly what Python's look-around regex finds."""
    rng = random.Random(42)
    alphabet = [
        "E",
        "N",
        "G",
        "x",
        "a",
        "1",
        "2",
        "0",
        "9",
        "-",
        "-",
        "-",
        " ",
        "[",
        "]",
        ",",
        ".",
        "_",
        "é",
        "\n",
        ":",
        "ENG",
        "eng",
        "ABCDEFG",
        "12345678",
    ]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 25))) for _ in range(3000)]
    texts += ["ENG-1-2", "xENG-1", "ENG-1x", "ENG-1,ENG-2", "[ENG-1][ENG-2]", "ABC-999 ENG-42", "AB-CD-12"]
    db = tmp_path / "fuzz.duckdb"
    shutil.copy(warehouse.path, db)
    con = duckdb.connect(str(db))
    try:
        con.execute("drop view staging.stg_clockify__time_entries")
        con.execute(
            "create table staging.stg_clockify__time_entries "
            "(time_entry_id varchar, task_id varchar, description varchar, report_task_name varchar)"
        )
        fuzz = pd.DataFrame({"time_entry_id": [str(i) for i in range(len(texts))], "description": texts})
        con.register("fuzz", fuzz)
        con.execute(
            "insert into staging.stg_clockify__time_entries select time_entry_id, null, description, null from fuzz"
        )
    finally:
        con.close()
    # the candidates model is a table: rebuild it, alone, on the fuzz entries
    rebuilt = run_dbt(["run", "--select", "int_time_entry_issue_candidates"], db, tmp_path / "dbt")
    assert rebuilt.returncode == 0, rebuilt.output[-3000:]
    con = duckdb.connect(str(db), read_only=True)
    try:
        got: dict[str, list[str]] = {}
        for entry_id, ident in con.execute(
            "select time_entry_id, candidate_identifier from staging.int_time_entry_issue_candidates "
            "order by time_entry_id, token_position"
        ).fetchall():
            got.setdefault(entry_id, []).append(ident)
    finally:
        con.close()
    for i, text in enumerate(texts):
        expected = [f"{m.group(1).upper()}-{m.group(2)}" for m in TOKEN_RULE.finditer(text)]
        assert got.get(str(i), []) == expected, repr(text)


# ------------------------------------------------------------------------------------ Dagster


def test_dagster_asset_keys_groups_kinds_and_pool(dbt_manifest, hours_dbt_assets):
    from dagster import AssetKey

    from assets.common import DUCKDB_POOL

    specs = {s.key: s for s in hours_dbt_assets.specs}
    assert AssetKey(["staging", "stg_clockify__time_entries"]) in specs
    assert AssetKey(["marts", "hours_per_issue"]) in specs
    for key, spec in specs.items():
        assert key.path[0] in ("staging", "marts")
        assert spec.group_name == key.path[0]
        assert spec.kinds == {"dbt", "duckdb"}
    stg = specs[AssetKey(["staging", "stg_clockify__time_entries"])]
    assert {d.asset_key for d in stg.deps} == {AssetKey(["raw", "clockify_time_entries"])}  # its source only
    local = specs[AssetKey(["staging", "int_time_entries_local"])]
    # the entries, and the users' profile zones (their local days, issue 17)
    assert {d.asset_key for d in local.deps} == {
        AssetKey(["staging", "stg_clockify__time_entries"]),
        AssetKey(["staging", "stg_clockify__users"]),
    }
    raw_deps = {d.asset_key for s in specs.values() for d in s.deps if d.asset_key.path[0] == "raw"}
    # the 22 API tables (issue history, labels, customer needs; member profiles, holidays, user groups, time
    # off), the reconcile listing (raw.linear_issue_ids) and the write-back links
    assert len(raw_deps) == 24
    assert hours_dbt_assets.op.pool == DUCKDB_POOL
    checks = list(hours_dbt_assets.check_specs)
    assert any(c.asset_key == AssetKey(["marts", "fct_time_entries"]) for c in checks)
    # The flow marts (issue 16) sit in the marts group with their checks, on the history's raw assets.
    for mart in ("hours_per_issue_state", "issue_flow", "cycle_scope", "estimate_accuracy"):
        assert specs[AssetKey(["marts", mart])].group_name == "marts"
        assert any(c.asset_key == AssetKey(["marts", mart]) for c in checks), mart
    assert {AssetKey(["raw", "linear_issue_history"]), AssetKey(["raw", "linear_issue_state_spans"])} <= raw_deps


def test_dagster_materializes_dbt_assets(warehouse, tmp_path, dbt_project, hours_dbt_assets):
    """The assets run `dbt build` through the DbtCliResource; checks pass on sandbox data."""
    from dagster import AssetKey, materialize

    from orchestration.dbt_project import PARTIAL_PARSE_FILE, build_target_path
    from orchestration.resources import build_resources
    from orchestration.settings import Settings

    db = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse.path, db)
    settings = Settings.from_env({**os.environ, "WAREHOUSE_PATH": str(db)})
    # A subset keeps it quick (the full build is test_dbt_build_is_green): dbt builds the selected
    # models and runs their tests, which come back as asset checks (hours_per_person_week has unit tests).
    selection = [
        AssetKey(["staging", "stg_linear__teams"]),
        AssetKey(["marts", "hours_per_team"]),
        AssetKey(["marts", "hours_per_person_week"]),
    ]
    kept = build_target_path(dbt_project, db) / PARTIAL_PARSE_FILE
    assert not kept.exists()
    result = materialize(
        [hours_dbt_assets], selection=selection, resources=build_resources(settings, dbt_project), raise_on_error=False
    )
    assert result.success
    # The build ran in the warehouse's own target directory and left its partial_parse.msgpack there,
    # where the next build on this warehouse starts from.
    assert kept.exists() and kept.stat().st_mtime > 0
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == set(selection)
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and all(e.passed or e.severity.value == "WARN" for e in evaluations)
    # The run's build runs the data tests, not the unit tests (fixture rows, never the data: `make test`'s).
    ran = json.loads((build_target_path(dbt_project, db) / "run_results.json").read_text())["results"]
    kinds = {r["unique_id"].split(".")[0] for r in ran}
    assert "test" in kinds and "unit_test" not in kinds, kinds


def test_dbt_resource_skips_the_version_subprocess_and_the_adapter(dbt_project, monkeypatch):
    """Every `dbt build` used to start `dbt --version` first (a whole dbt process) and build a dbt adapter in
    the Dagster process; the project's resource knows the version from dbt-core's metadata, the same answer."""
    import subprocess
    import sys
    from pathlib import Path

    import dagster_dbt.core.resource as dagster_dbt_resource
    from dagster_dbt import DbtCliResource

    from orchestration.resources import HoursDbtCliResource

    # The private names overridden exist in this dagster-dbt (an upgrade that renames them fails here).
    assert hasattr(DbtCliResource, "_cli_version") and hasattr(DbtCliResource, "_initialize_dbt_core_adapter")
    dbt = str(Path(sys.executable).parent / "dbt")
    real = subprocess.run([dbt, "--version"], capture_output=True, text=True, check=True).stdout
    ours = HoursDbtCliResource(project_dir=dbt_project, dbt_executable=dbt)

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"dbt started: {args}")

    monkeypatch.setattr(dagster_dbt_resource, "check_output", no_subprocess)
    assert str(ours._cli_version) == re.search(r"installed:\s*(\d+\.\d+\.\d+)", real).group(1)
    assert ours._initialize_dbt_core_adapter(["build"]) is None
    with pytest.raises(AssertionError, match="dbt started"):
        _ = DbtCliResource(project_dir=dbt_project, dbt_executable=dbt)._cli_version  # dagster-dbt's own would have


def test_a_fresh_clones_first_build_partially_parses(warehouse, tmp_path):
    """The manifest's parse renders the settings' warehouse, so its first build reuses that parse: before, the
    parse used a placeholder path and the first build parsed everything again ("profile has changed")."""
    from dagster import AssetKey, materialize

    from assets.dbt import build_dbt_assets
    from orchestration.dbt_project import PARTIAL_PARSE_FILE, build_target_path, dbt_project, prepare
    from orchestration.resources import build_resources
    from orchestration.settings import Settings

    db = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse.path, db)
    env = {**os.environ, "WAREHOUSE_PATH": str(db), "DBT_TARGET_PATH": str(tmp_path / "target")}
    settings = Settings.from_env(env)
    project = prepare(dbt_project(settings))  # no manifest in the fresh target path: dbt parse runs
    build_dir = build_target_path(project, db)
    assert (build_dir / PARTIAL_PARSE_FILE).exists()
    assert not db.with_suffix(".duckdb.wal").exists()
    selection = [AssetKey(["staging", "stg_linear__teams"])]
    result = materialize([build_dbt_assets(project)], selection=selection, resources=build_resources(settings, project))
    assert result.success
    log = (build_dir / "dbt.log").read_text()
    assert "Unable to do partial parsing" not in log
    assert "Partial parsing enabled" in log or "skipping parsing" in log
