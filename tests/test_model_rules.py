"""A model's column rules are one dbt test (`model_rules`, dbt_project/macros/test_model_rules.sql; issue 15):
each rule still fails on bad data, and the failure names it, in the test's failing rows (`rule`) and in
Dagster's asset check (`failed_rules`, assets/checks.py). Rows are broken in a copy of the built warehouse."""

from __future__ import annotations

import json
import os
import shutil

import duckdb
import pytest

from assets.checks import failed_rules
from tests.test_dbt_harness import built_warehouse, run_dbt

# test -> (statements breaking rows of its model, the rules that must fail then: exactly these)
BROKEN = {
    "rules_hours_per_issue": (
        [
            "update marts.hours_per_issue set team_key = null where issue_id = (select min(issue_id) from marts.hours_per_issue)",
            "update marts.hours_per_issue set hours = -1 where issue_id = (select max(issue_id) from marts.hours_per_issue)",
            "update marts.hours_per_issue set state_type = 'bogus' where issue_id = (select max(issue_id) from marts.hours_per_issue)",
            # a null state type is no accepted_values failure (dbt's rule: nulls pass)
            "update marts.hours_per_issue set state_type = null where issue_id = (select min(issue_id) from marts.hours_per_issue)",
            "update marts.hours_per_issue set contributors = 0 where issue_id = (select max(issue_id) from marts.hours_per_issue)",
            "insert into marts.hours_per_issue select * from marts.hours_per_issue where issue_id = (select min(issue_id) from marts.hours_per_issue)",
        ],
        {
            "not_null(team_key)",
            "non_negative(hours)",
            "accepted_values(state_type)",
            "expression(contributors >= 1)",
            "unique(issue_id)",
        },
    ),
    "rules_hours_per_person_week": (
        [
            "insert into marts.hours_per_person_week select * from marts.hours_per_person_week limit 1",
            "update marts.hours_per_person_week set week_start = week_start + 1 "
            "where user_id = (select max(user_id) from marts.hours_per_person_week)",
        ],
        {"unique(user_id, week_start)", "expression(isodow(week_start) = 1)"},
    ),
    "rules_fct_time_entries": (
        [
            "update marts.fct_time_entries set issue_id = 'no-such-issue' "
            "where time_entry_id = (select min(time_entry_id) from marts.fct_time_entries where issue_id is not null)",
            "update marts.fct_time_entries set hours = null "
            "where time_entry_id = (select max(time_entry_id) from marts.fct_time_entries)",
        ],
        {"relationships(issue_id -> stg_linear__issues.issue_id)", "not_null(hours)"},
    ),
    # warn level: the harness's user the list no longer returns already fails the first (test_dbt_build.py)
    "rules_fct_time_entries_warn": (
        [
            "update marts.fct_time_entries set project_id = 'deleted-project' "
            "where time_entry_id = (select max(time_entry_id) from marts.fct_time_entries)",
        ],
        {
            "relationships(user_id -> stg_clockify__users.user_id)",
            "relationships(project_id -> stg_clockify__projects.project_id)",
        },
    ),
    # a view: broken in raw, read through the staging model
    "rules_stg_clockify__users_warn": (
        ["update raw.clockify_users set status = 'BOGUS' where id = (select min(id) from raw.clockify_users)"],
        {"accepted_values(status)"},
    ),
}


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """A copy of the built warehouse with BROKEN's rows broken, and `dbt test` of those tests on it."""
    work = tmp_path_factory.mktemp("model_rules")
    db = work / "warehouse.duckdb"
    shutil.copy(built_warehouse().path, db)
    con = duckdb.connect(str(db))
    try:
        for statements, _ in BROKEN.values():
            for sql in statements:
                con.execute(sql)
    finally:
        con.close()
    run = run_dbt(["test", "--select", *BROKEN], db, work / "dbt")
    assert run.run_results is not None, run.output[-3000:]
    return db, {r["unique_id"].split(".")[2]: r for r in run.run_results["results"]}


@pytest.mark.parametrize("test", sorted(BROKEN))
def test_a_broken_rule_fails_its_test_and_is_named(broken, test):
    db, results = broken
    result = results[test]
    assert result["status"] == ("warn" if test.endswith("_warn") else "fail"), result
    con = duckdb.connect(str(db), read_only=True)
    try:
        rules = failed_rules(con, result["compiled_code"])
        rows = con.execute(f"select * from ({result['compiled_code']})").fetchall()
    finally:
        con.close()
    assert set(rules) == BROKEN[test][1]
    assert result["failures"] == len(rows) == sum(rules.values())  # one row per (rule, offending key)


def test_the_failed_row_names_the_offending_key_and_value(broken):
    db, results = broken
    con = duckdb.connect(str(db), read_only=True)
    try:
        (issue_id,) = con.execute("select max(issue_id) from marts.hours_per_issue").fetchone()
        rows = con.execute(
            f"select rule, failing_key, failing_value from ({results['rules_hours_per_issue']['compiled_code']})"
        ).fetchall()
    finally:
        con.close()
    assert ("non_negative(hours)", issue_id, "-1.0") in rows
    assert ("accepted_values(state_type)", issue_id, "bogus") in rows
    assert sum(rule == "unique(issue_id)" for rule, _, _ in rows) == 1  # one row per duplicated key


def test_every_model_with_columns_rules_has_one_test_per_severity():
    """No single-rule generic test is left; each model_rules test is its model's only one of its severity."""
    from orchestration.dbt_project import dbt_project, prepare
    from orchestration.settings import Settings

    manifest = json.loads(prepare(dbt_project(Settings.from_env(os.environ))).manifest_path.read_text())
    generic = [n for n in manifest["nodes"].values() if n["resource_type"] == "test" and n.get("test_metadata")]
    assert generic and {n["test_metadata"]["name"] for n in generic} == {"model_rules"}
    seen = set()
    for node in generic:
        severity = node["config"]["severity"].lower()
        assert node["name"] == f"rules_{node['attached_node'].split('.')[-1]}" + ("_warn" if severity == "warn" else "")
        assert (node["attached_node"], severity) not in seen
        seen.add((node["attached_node"], severity))


def test_dagster_check_names_the_failed_rules(broken, tmp_path):
    """Through Dagster: the checks of the rebuilt staging views fail, warn or error, and say which rules."""
    from dagster import AssetKey, materialize

    from assets.dbt import build_dbt_assets
    from orchestration.dbt_project import dbt_project, prepare
    from orchestration.resources import build_resources
    from orchestration.settings import Settings

    db = tmp_path / "warehouse.duckdb"
    shutil.copy(broken[0], db)
    con = duckdb.connect(str(db))
    try:  # an error-level rule of a view too: a workflow state of an unknown type
        con.execute(
            "update raw.linear_workflow_states set type = 'bogus' "
            "where id = (select min(id) from raw.linear_workflow_states)"
        )
    finally:
        con.close()
    settings = Settings.from_env({**os.environ, "WAREHOUSE_PATH": str(db)})
    project = prepare(dbt_project(settings))
    selection = [AssetKey(["staging", "stg_clockify__users"]), AssetKey(["staging", "stg_linear__workflow_states"])]
    result = materialize(
        [build_dbt_assets(project)],
        selection=selection,
        resources=build_resources(settings, project),
        raise_on_error=False,
    )
    assert not result.success  # an error-level rule failed: the build failed, after naming it
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    users, states = evaluations["rules_stg_clockify__users_warn"], evaluations["rules_stg_linear__workflow_states"]
    assert not users.passed and users.severity.value == "WARN"
    assert users.metadata["failed_rules"].value == {"accepted_values(status)": 1}
    assert "accepted_values(status)" in users.description
    assert not states.passed and states.severity.value == "ERROR"
    assert states.metadata["failed_rules"].value == {"accepted_values(state_type)": 1}
    assert evaluations["rules_stg_clockify__users"].passed  # the same model's error-level rules hold


def test_the_sync_line_of_a_failed_rules_check_names_its_rules():
    """`warehouse sync` names each failed dbt test as it comes; for a model's rules test, with its rules."""
    from types import SimpleNamespace

    from dagster import AssetCheckSeverity, AssetKey, MetadataValue

    from orchestration.runs import DBT_STEP, _Progress

    lines: list[str] = []
    progress = _Progress(write=lines.append)
    for check, severity, rules in [
        ("rules_hours_per_issue", AssetCheckSeverity.ERROR, {"not_null(team_key)": 1, "unique(issue_id)": 2}),
        ("rules_hours_per_issue_warn", AssetCheckSeverity.WARN, None),
    ]:
        data = SimpleNamespace(
            check_name=check,
            asset_key=AssetKey(["marts", "hours_per_issue"]),
            passed=False,
            severity=severity,
            metadata={"failed_rules": MetadataValue.json(rules)} if rules else {},
        )
        progress.event(
            SimpleNamespace(event_type_value="ASSET_CHECK_EVALUATION", step_key=DBT_STEP, event_specific_data=data)
        )
    assert lines == [
        "dbt test failed: rules_hours_per_issue on marts/hours_per_issue (not_null(team_key), unique(issue_id))",
        "dbt test warning: rules_hours_per_issue_warn on marts/hours_per_issue",
    ]
