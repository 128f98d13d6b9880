"""The semantic layer (dbt semantic models + MetricFlow, dbt_project/models/semantic/): every metric, queried
on the published marts of a real `dbt build` of sandbox data, equals the mart column it summarises."""

from __future__ import annotations

import collections
import csv
import datetime as dt
import json

import pytest

from orchestration import cli
from orchestration.metrics import MetricsError, SemanticLayer, ensure_semantic_manifest, load_semantic_manifest
from orchestration.settings import Settings
from orchestration.warehouse.publish import publish_marts
from tests.test_dbt_harness import built_warehouse


def approx(value):
    return None if value is None else pytest.approx(value, rel=1e-9, abs=1e-9)


@pytest.fixture(scope="module")
def marts(tmp_path_factory):
    built = built_warehouse()
    assert built.build.returncode == 0, built.build.output[-3000:]  # dbt build passes with the semantic layer
    result = publish_marts(built.path, tmp_path_factory.mktemp("metrics") / "marts.duckdb")
    semantic_manifest = built.path.parent / "target" / "semantic_manifest.json"  # that build's own dbt artifacts
    return built, result.path, semantic_manifest


@pytest.fixture(scope="module")
def layer(marts):
    _, path, semantic_manifest = marts
    with SemanticLayer(path, semantic_manifest) as semantic_layer:
        yield semantic_layer


def rows_by(result, *keys) -> dict:
    return {tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]: r for r in result.as_dicts()}


def test_the_semantic_manifest_passes_metricflows_validation(marts):
    from metricflow_semantic_interfaces.validations.semantic_manifest_validator import SemanticManifestValidator

    manifest = load_semantic_manifest(marts[2])
    report = SemanticManifestValidator().validate_semantic_manifest(manifest)
    assert not report.has_blocking_issues, [str(issue) for issue in report.all_issues]
    assert {m.name for m in manifest.metrics} >= {
        "hours",
        "billable_hours",
        "matched_hours",
        "unmatched_share",
        "hours_per_estimate_point",
        "entries",
        "contributors",
    }


def test_hours_entries_and_contributors_by_team_equal_hours_per_team(marts, layer):
    built = marts[0]
    got = rows_by(layer.query(["hours", "billable_hours", "entries", "contributors"], ["team"]), "team")
    teams = [t for t in built.query("select * from marts.hours_per_team") if t["time_entry_count"] > 0]
    assert set(got) - {None} == {t["team_id"] for t in teams}
    for team in teams:
        row = got[team["team_id"]]
        assert row["hours"] == approx(team["hours"]) and row["billable_hours"] == approx(team["billable_hours"])
        assert (row["entries"], row["contributors"]) == (team["time_entry_count"], team["contributors"])
    (unmatched,) = built.query("select sum(hours) as h from marts.fct_time_entries where issue_id is null")
    assert got[None]["hours"] == approx(unmatched["h"])  # no team: the unmatched entries


def test_hours_by_cycle_equal_hours_per_cycle(marts, layer):
    built = marts[0]
    got = rows_by(layer.query(["hours", "billable_hours", "entries", "contributors"], ["cycle"]), "cycle")
    cycles = [c for c in built.query("select * from marts.hours_per_cycle") if c["time_entry_count"] > 0]
    assert len(cycles) > 3 and set(got) - {None} == {c["cycle_id"] for c in cycles}
    for cycle in cycles:
        row = got[cycle["cycle_id"]]
        assert row["hours"] == approx(cycle["hours"]) and row["billable_hours"] == approx(cycle["billable_hours"])
        assert (row["entries"], row["contributors"]) == (cycle["time_entry_count"], cycle["contributors"])


def test_person_weeks_equal_hours_per_person_week(marts, layer):
    built = marts[0]
    result = layer.query(["hours", "billable_hours", "matched_hours", "entries"], ["person", "metric_time__week"])
    got = {(r["person"], r["metric_time__week"].date()): r for r in result.as_dicts()}
    weeks = built.query("select * from marts.hours_per_person_week")
    assert len(weeks) > 10 and set(got) == {(w["user_id"], w["week_start"]) for w in weeks}
    for week in weeks:
        row = got[(week["user_id"], week["week_start"])]
        assert row["hours"] == approx(week["hours"]) and row["matched_hours"] == approx(week["matched_hours"])
        assert row["billable_hours"] == approx(week["billable_hours"]) and row["entries"] == week["time_entry_count"]


def test_unmatched_share_by_person_and_by_project_equal_the_unmatched_marts(marts, layer):
    built = marts[0]
    by_person = rows_by(layer.query(["unmatched_share", "unmatched_hours", "hours"], ["person"]), "person")
    for person in built.query("select * from marts.unmatched_hours_by_person"):
        row = by_person[person["user_id"]]
        assert row["unmatched_share"] == approx(person["unmatched_share"])
        assert row["unmatched_hours"] == approx(person["unmatched_hours"]) and row["hours"] == approx(
            person["total_hours"]
        )
    result = layer.query(["unmatched_share"], ["project", "project__client_name"])
    by_project = rows_by(result, "project")
    projects = built.query("select * from marts.unmatched_hours_by_project")
    assert None in {p["project_id"] for p in projects}  # entries without a project are one row, in both
    assert set(by_project) == {p["project_id"] for p in projects}
    for project in projects:
        row = by_project[project["project_id"]]
        assert row["unmatched_share"] == approx(project["unmatched_share"])
        assert row["project__client_name"] == project["client_name"]


def test_hours_per_estimate_point_by_team_and_by_cycle_equal_the_estimate_marts(marts, layer):
    built = marts[0]
    by_team = rows_by(
        layer.query(["hours_per_estimate_point", "estimate_points", "estimated_issue_hours"], ["team__team_key"]),
        "team__team_key",
    )
    teams = [t for t in built.query("select * from marts.estimate_vs_actual_by_team") if t["issues_with_time"] > 0]
    assert teams and set(by_team) == {t["team_key"] for t in teams}
    for team in teams:
        row = by_team[team["team_key"]]
        assert row["estimate_points"] == approx(team["estimate_points"])
        assert row["estimated_issue_hours"] == approx(team["estimated_issue_hours"])
        assert row["hours_per_estimate_point"] == approx(team["hours_per_estimate_point"])
    by_cycle = rows_by(layer.query(["hours_per_estimate_point_in_cycle"], ["cycle"]), "cycle")
    cycles = built.query("select * from marts.estimate_vs_actual_by_cycle")
    assert any(c["hours_per_estimate_point"] is None for c in cycles)  # no estimated work: null in both
    assert set(by_cycle) == {c["cycle_id"] for c in cycles}
    for cycle in cycles:
        assert by_cycle[cycle["cycle_id"]]["hours_per_estimate_point_in_cycle"] == approx(
            cycle["hours_per_estimate_point"]
        )


def test_issue_state_type_and_client_dimensions(marts, layer):
    built = marts[0]
    by_state = rows_by(layer.query(["hours"], ["issue__state_type"]), "issue__state_type")
    expected = collections.defaultdict(float)
    for issue in built.query("select state_type, hours from marts.hours_per_issue"):
        expected[issue["state_type"]] += issue["hours"]
    assert len(expected) >= 3
    for state_type, hours in expected.items():
        assert by_state[state_type]["hours"] == approx(hours)
    by_issue = rows_by(layer.query(["hours", "contributors"], ["issue__issue_identifier"]), "issue__issue_identifier")
    for issue in built.query("select * from marts.hours_per_issue"):
        row = by_issue[issue["issue_identifier"]]
        assert row["hours"] == approx(issue["hours"]) and row["contributors"] == issue["contributors"]
    by_client = rows_by(layer.query(["hours"], ["project__client_name"]), "project__client_name")
    clients = collections.defaultdict(float)
    for entry in built.query("select client_name, hours from marts.fct_time_entries"):
        clients[entry["client_name"]] += entry["hours"]
    assert {k: approx(v) for k, v in clients.items()} == {k: r["hours"] for k, r in by_client.items()}


def team_week_hours(built, team_key: str | None = None) -> dict:
    expected = collections.defaultdict(float)
    # metric_time is the entry's local day (its person's zone), as in hours_per_person_week
    for entry in built.query("select team_key, local_date, hours from marts.fct_time_entries"):
        if team_key is None or entry["team_key"] == team_key:
            week = entry["local_date"] - dt.timedelta(days=entry["local_date"].weekday())  # ISO week, Monday
            expected[(entry["team_key"], week)] += entry["hours"]
    return expected


def test_hours_by_team_by_week_with_a_filter(marts, layer):
    built = marts[0]
    result = layer.query(
        ["hours"],
        ["team__team_key", "metric_time__week"],
        where=["{{ Dimension('team__team_key') }} = 'ENG'"],
        order=["metric_time__week"],
    )
    got = {(r["team__team_key"], r["metric_time__week"].date()): r["hours"] for r in result.as_dicts()}
    expected = team_week_hours(built, "ENG")
    assert len(expected) >= 4 and got == {k: approx(v) for k, v in expected.items()}
    weeks = [r["metric_time__week"] for r in result.as_dicts()]
    assert weeks == sorted(weeks)
    assert '"main"."fct_time_entries"' in result.sql  # run on the published file's tables


def test_bad_requests_are_one_line_errors_with_suggestions(layer):
    with pytest.raises(MetricsError, match=r"known metrics.*'hours'"):
        layer.query(["hourz"])
    with pytest.raises(MetricsError, match=r"group-by-items.*team__team_key"):
        layer.query(["hours"], ["team__key"])


def test_warehouse_metrics_cli(marts, tmp_path, capsys):
    built, path, _ = marts
    args = [
        "metrics",
        "--marts",
        str(path),
        "--metrics",
        "hours,entries",
        "--group-by",
        "team__team_key,metric_time__week",
    ]
    assert cli.main([*args, "--order", "team__team_key,metric_time__week", "--decimals", "4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["metric_time__week", "team__team_key", "hours", "entries"]
    expected = team_week_hours(built)
    cells = [line.split() for line in lines[2:]]
    printed = {(c[1], dt.date.fromisoformat(c[0])): float(c[2]) for c in cells if len(c) == 4}
    assert printed == {k: pytest.approx(v, abs=5e-5) for k, v in expected.items() if k[0] is not None}
    assert sum(len(c) == 3 for c in cells) == sum(k[0] is None for k in expected)  # unmatched: an empty team

    out = tmp_path / "hours.csv"
    assert cli.main([*args, "--csv", str(out)]) == 0
    assert capsys.readouterr().out.startswith("Wrote ")
    with out.open() as f:
        assert len(list(csv.DictReader(f))) == len(expected)  # the unmatched (no team) rows too

    assert cli.main(["metrics", "--marts", str(path), "--metrics", "hourz"]) == 1
    message = capsys.readouterr().out
    assert message.startswith("error: ") and message.count("\n") == 1
    assert cli.main(["metrics", "--marts", str(tmp_path / "none.duckdb"), "--metrics", "hours"]) == 1
    assert "does not exist: run a sync" in capsys.readouterr().out


def test_warehouse_metrics_parses_into_dbt_target_path_with_the_settings_warehouse(tmp_path):
    """The semantic manifest comes from a `dbt parse` given the warehouse as --vars (as every build is),
    into DBT_TARGET_PATH; parsed again only when stale or for another warehouse."""
    target = tmp_path / "target"

    def settings(name: str) -> Settings:
        return Settings.from_env({"WAREHOUSE_PATH": str(tmp_path / name), "DBT_TARGET_PATH": str(target)})

    path = ensure_semantic_manifest(settings("acme.duckdb"))
    assert path == target / "semantic_manifest.json"

    def databases() -> set:
        raw = json.loads(path.read_text())
        relations = [m["node_relation"] for m in raw["semantic_models"]]
        relations += [s["node_relation"] for s in raw["project_configuration"]["time_spines"]]
        return {r["database"] for r in relations}

    assert databases() == {"acme"}  # the relations name the warehouse of the settings
    assert not (tmp_path / "acme.duckdb").exists()  # dbt parse never opens it
    parsed = path.stat().st_mtime_ns
    assert ensure_semantic_manifest(settings("acme.duckdb")) == path
    assert path.stat().st_mtime_ns == parsed  # fresh and for this warehouse: not parsed again
    ensure_semantic_manifest(settings("other.duckdb"))
    assert databases() == {"other"}
    # no parse directory left; the stamp says what the manifest was parsed from
    assert sorted(p.name for p in target.iterdir()) == ["semantic_manifest.json", "semantic_manifest.stamp.json"]
