"""Write-back against the sandbox: Linear (loaded into the warehouse) -> Clockify tasks and links."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb
import pytest
from dagster import materialize

from assets.clockify import build_clockify_assets
from assets.linear import build_linear_assets, build_linear_issues, linear_teams, linear_workflow_states
from assets.writeback import clockify_issue_task_links
from orchestration.clients.clockify.client import ClockifyClient
from orchestration.partitions import daily_partitions
from orchestration.resources import build_resources
from orchestration.settings import Settings
from orchestration.writeback import links as wb_links
from orchestration.writeback import plan as wb
from orchestration.writeback.apply import run_writeback
from sandbox.clockify import write_log
from tests.conftest import ANCHOR


def settings() -> Settings:
    """The settings of the environment as the test has set it now."""
    return Settings.from_env(os.environ)


def partitions():
    return daily_partitions(settings().start_date)


def linear_assets_to_load():
    return [linear_teams, linear_workflow_states, build_linear_issues(partitions())]


@pytest.fixture
def env(pipeline_env, monkeypatch):
    """Sandbox + warehouse with Linear loaded; write-back enabled for team ENG."""
    monkeypatch.setenv("CLOCKIFY_WRITEBACK", "1")
    monkeypatch.setenv("LINEAR_TEAM_KEYS", "ENG")
    monkeypatch.delenv("CLOCKIFY_WRITEBACK_MAX_WRITES", raising=False)
    load_linear()
    return pipeline_env


def load_linear() -> None:
    result = materialize(
        linear_assets_to_load(), partition_key=ANCHOR.isoformat(), resources=build_resources(settings())
    )
    assert result.success


def run(**kwargs):
    clockify = ClockifyClient(
        api_key=os.environ["CLOCKIFY_API_KEY"],
        workspace_id=os.environ["CLOCKIFY_WORKSPACE_ID"],
        api_url=os.environ["CLOCKIFY_API_URL"],
        max_retry_seconds=30,
        backoff_base=0.01,
    )
    warehouse = build_resources(settings())["warehouse"]
    return run_writeback(clockify, warehouse, settings().writeback, log=lambda line: None, **kwargs)


def rows(sql: str):
    with duckdb.connect(os.environ["WAREHOUSE_PATH"], read_only=True) as con:
        return con.execute(sql).fetchall()


def links() -> dict[str, tuple]:
    return {r[0]: r[1:] for r in rows(f"SELECT issue_id, task_id, task_name, status FROM {wb_links.LINKS_TABLE}")}


def eng_project(sb) -> dict:
    return next(p for p in sb.workspace.clockify_projects if p["name"] == "Linear · ENG")


def tasks_of(sb, project: dict) -> dict[str, dict]:
    return {t["id"]: t for t in sb.workspace.clockify_tasks.get(project["id"], [])}


def open_eng_issues(sb) -> list[dict]:
    """In the plan's order (by issue number)."""
    return sorted(
        [
            i
            for i in sb.workspace.linear_issues
            if i["team"]["key"] == "ENG"
            and i["state"]["type"] in ("backlog", "unstarted", "started")
            and not i.get("archivedAt")
            and not i.get("trashed")
        ],
        key=lambda i: i["number"],
    )


def writes(sb) -> list[tuple]:
    return list(write_log(sb.workspace))


def test_create_then_second_run_changes_nothing(env):
    sb = env
    clients_before = len(sb.workspace.clockify_clients)
    outcome = run()
    assert outcome.mode == "write" and not outcome.plan.deferred and not outcome.plan.conflicts
    project = eng_project(sb)
    client = next(c for c in sb.workspace.clockify_clients if c["name"] == "Linear")
    assert project["clientId"] == client["id"] and len(sb.workspace.clockify_clients) == clients_before + 1
    assert not any(p["name"].startswith("Linear · ") and p is not project for p in sb.workspace.clockify_projects)
    expected = {f"{i['identifier']}: {i['title']}" for i in open_eng_issues(sb)}
    tasks = tasks_of(sb, project)
    assert {t["name"] for t in tasks.values()} == expected and len(expected) > 5
    assert all(t["status"] == "ACTIVE" for t in tasks.values())
    assert outcome.writes == len(expected) + 2 == len(writes(sb))
    assert {m for m, _, _ in writes(sb)} == {"POST"}
    # the links name every created task, by id
    recorded = links()
    assert {v[0] for v in recorded.values()} == set(tasks)
    by_id = {i["id"]: i for i in sb.workspace.linear_issues}
    for issue_id, (task_id, name, status) in recorded.items():
        # The link names its issue's task, and records that task's name in Clockify: "<identifier>: <title>".
        issue = by_id[issue_id]
        assert name == tasks[task_id]["name"] == f"{issue['identifier']}: {issue['title']}" and status == "ACTIVE"

    before = len(writes(sb))
    again = run()
    assert again.writes == 0 and again.plan.changes == [] and len(writes(sb)) == before  # no POST/PUT at all
    assert links() == recorded


def test_rename_team_move_done_and_reopen(env):
    sb = env
    run()
    ws = sb.workspace
    # Linear stamps an edit with its own clock, never behind an updatedAt it served (the issue load reads
    # from the newest one it saw, less an hour): the edits come an hour after the newest.
    frozen = max(dt.datetime.fromisoformat(i["updatedAt"]) for i in ws.linear_issues) + dt.timedelta(hours=1)
    ws.clock = lambda: frozen
    issues = open_eng_issues(sb)
    retitled, moved, completed, canceled = issues[:4]
    ws.edit_issue(retitled["id"], title="A brand new title")
    old_identifier = moved["identifier"]
    ws.move_issue(moved["id"], "OPS")  # identifier changes; OPS is outside LINEAR_TEAM_KEYS
    ws.edit_issue(completed["id"], state_type="completed")
    ws.edit_issue(canceled["id"], state_type="canceled")
    load_linear()
    before = len(writes(sb))
    outcome = run()
    puts = writes(sb)[before:]
    assert [m for m, _, _ in puts] == ["PUT"] * 4 and outcome.writes == 4
    tasks = {t["id"]: t for t in tasks_of(sb, eng_project(sb)).values()}
    linked = links()
    assert tasks[linked[retitled["id"]][0]]["name"] == f"{retitled['identifier']}: A brand new title"
    moved_task = tasks[linked[moved["id"]][0]]  # renamed in place, still in the ENG project
    assert moved_task["name"] == f"{moved['identifier']}: {moved['title']}" and moved["identifier"] != old_identifier
    assert moved["identifier"].startswith("OPS-")
    assert tasks[linked[completed["id"]][0]]["status"] == "DONE"
    assert tasks[linked[canceled["id"]][0]]["status"] == "DONE"
    assert linked[completed["id"]][2] == "DONE" and linked[moved["id"]][1] == moved_task["name"]
    assert run().writes == 0  # and stable again

    ws.edit_issue(completed["id"], state_type="started")  # reopened
    load_linear()
    before = len(writes(sb))
    assert run().writes == 1
    assert (
        writes(sb)[before:][0][0] == "PUT"
        and tasks_of(sb, eng_project(sb))[linked[completed["id"]][0]]["status"] == "ACTIVE"
    )


def test_write_bound_and_the_rest_next_run(env, monkeypatch):
    sb = env
    monkeypatch.setenv("CLOCKIFY_WRITEBACK_MAX_WRITES", "3")
    total = len(open_eng_issues(sb)) + 2
    first = run()
    assert first.writes == 3 == len(writes(sb)) and len(first.plan.deferred) == total - 3
    assert len(links()) == 1  # client, project, one task
    second = run(max_writes=1000)
    assert second.writes == total - 3 and len(writes(sb)) == total
    assert run().writes == 0


def test_validation_error_is_one_clear_line_and_keeps_the_links_of_earlier_writes(env, monkeypatch):
    sb = env
    # Clockify's limit lower than the planner assumed: the API's validation error must surface cleanly.
    monkeypatch.setattr(wb, "MAX_TASK_NAME_LENGTH", 5000)
    victim = open_eng_issues(sb)[3]
    sb.workspace.edit_issue(victim["id"], title="x" * 1200)
    load_linear()
    with pytest.raises(wb.WritebackError) as caught:
        run()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"write-back stopped at create task '{victim['identifier']}: xxx")
    assert len(message) < 500
    assert "HTTP 400: Task name has to be between 1 and 1000 characters long" in message
    assert "5 earlier write(s) succeeded and their links are recorded" in message  # client, project, 3 tasks
    tasks = tasks_of(sb, eng_project(sb))
    assert len(tasks) == 3 and set(v[0] for v in links().values()) == set(tasks)
    assert victim["id"] not in links()
    # Fixed upstream: the next run carries on without duplicates.
    sb.workspace.edit_issue(victim["id"], title="A sane title")
    load_linear()
    outcome = run()
    assert outcome.writes == len(open_eng_issues(sb)) - 3
    assert len(tasks_of(sb, eng_project(sb))) == len(open_eng_issues(sb))


def test_dry_run_and_disabled_write_nothing(env, monkeypatch):
    sb = env
    dry = run(dry_run=True)
    assert dry.mode == "dry run" and dry.writes == 0 and dry.plan.writes == len(open_eng_issues(sb)) + 2
    assert dry.plan.lines()[:2] == ["create client 'Linear'", "create project 'Linear · ENG' for team ENG"]
    monkeypatch.setenv("CLOCKIFY_WRITEBACK", "0")
    disabled = run()
    assert disabled.mode == "write-back disabled" and disabled.writes == 0
    assert writes(sb) == []
    assert rows("SELECT count(*) FROM information_schema.tables WHERE table_name = 'clockify_issue_task_links'") == [
        (0,)
    ]


def test_lost_links_are_healed_by_adoption(env):
    sb = env
    run()
    created = links()
    with duckdb.connect(os.environ["WAREHOUSE_PATH"]) as con:  # a crash between the POSTs and the commit
        con.execute(f"DELETE FROM {wb_links.LINKS_TABLE}")
    before = len(writes(sb))
    outcome = run()
    assert outcome.writes == 0 and len(writes(sb)) == before
    assert {c.kind for c in outcome.plan.changes} == {"adopt"}
    assert {k: v[0] for k, v in links().items()} == {k: v[0] for k, v in created.items()}
    assert run().plan.changes == []


def test_post_is_not_duplicated_when_its_answer_is_lost(env, monkeypatch):
    sb = env
    monkeypatch.setenv("API_MAX_RETRY_SECONDS", "30")
    # 503 before the handler (nothing created): re-read, then sent again. A cut 200 after the handler ran
    # (created, answer lost): found by name on the re-read, never sent twice.
    sb.faults.add("clockify", "503", times=1, path_contains="/projects", retry_after=0)
    sb.faults.add("clockify", "truncated", times=1, path_contains="/tasks", mode="cut")
    outcome = run()
    assert sorted(kind for _, kind, _ in sb.faults.history) == ["503", "truncated"]
    names = [t["name"] for t in tasks_of(sb, eng_project(sb)).values()]
    assert len(names) == len(set(names)) == len(open_eng_issues(sb))
    assert [p["name"] for p in sb.workspace.clockify_projects].count("Linear · ENG") == 1
    assert outcome.writes == len(open_eng_issues(sb)) + 2
    assert len(links()) == len(open_eng_issues(sb))


def test_dagster_asset_metadata_and_dry_run_config(env, monkeypatch):
    sb = env
    resources = build_resources(settings())
    config = {"ops": {"raw__clockify_issue_task_links": {"config": {"dry_run": True}}}}
    result = materialize([clockify_issue_task_links], resources=resources, run_config=config)
    assert result.success
    (event,) = result.get_asset_materialization_events()
    meta = event.materialization.metadata
    assert meta["mode"].value == "dry run" and meta["writes"].value == 0
    assert "- create project 'Linear · ENG' for team ENG" in meta["plan"].value
    assert writes(sb) == []
    result = materialize([clockify_issue_task_links], resources=resources)
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["mode"].value == "write" and meta["writes"].value == meta["planned_writes"].value > 2
    assert meta["dagster/row_count"].value == len(open_eng_issues(sb))


def test_dbt_prefers_the_link_over_identifiers_in_text(env, tmp_path):
    """End to end: write-back links a task; an entry on it whose text names another issue matches the link."""
    from tests.test_dbt_harness import run_dbt

    sb = env
    run()
    linked_issue, other = open_eng_issues(sb)[:2]
    task_id = links()[linked_issue["id"]][0]
    ws = sb.workspace
    day = ANCHOR - dt.timedelta(days=1)
    start = dt.datetime(day.year, day.month, day.day, 9, 0, tzinfo=dt.timezone.utc)
    user = ws.clockify_users[0]["id"]
    on_task = ws.add_time_entry(
        user,
        start,
        start + dt.timedelta(hours=2),
        description=f"{other['identifier']} review",
        project_id=eng_project(sb)["id"],
        task_id=task_id,
    )
    text_only = ws.add_time_entry(
        user, start + dt.timedelta(hours=3), start + dt.timedelta(hours=4), description=f"{other['identifier']} review"
    )
    raw_assets = [*build_clockify_assets(partitions()), *build_linear_assets(partitions())]
    result = materialize(raw_assets, partition_key=day.isoformat(), resources=build_resources(settings()))
    assert result.success
    build = run_dbt(["run", "--select", "+fct_time_entries"], Path(os.environ["WAREHOUSE_PATH"]), tmp_path)
    assert build.returncode == 0, build.output[-3000:]
    fct = {
        r[0]: r[1:]
        for r in rows(
            "SELECT time_entry_id, issue_id, match_source, matched_identifier FROM marts.fct_time_entries "
            f"WHERE time_entry_id IN ('{on_task['id']}', '{text_only['id']}')"
        )
    }
    assert fct[on_task["id"]] == (linked_issue["id"], "link", linked_issue["identifier"])
    assert fct[text_only["id"]] == (other["id"], "description", other["identifier"])


def test_cli_writeback(env, monkeypatch, capsys):
    from orchestration.cli import main

    sb = env
    assert main(["writeback", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert (
        out.startswith("Write-back (dry run): 0 write(s) made,")
        and "- create project 'Linear · ENG' for team ENG" in out
    )
    assert writes(sb) == []
    monkeypatch.setenv("CLOCKIFY_WRITEBACK", "0")
    assert main(["writeback"]) == 2
    assert capsys.readouterr().out.startswith("error: write-back disabled: set CLOCKIFY_WRITEBACK=1")
    monkeypatch.setenv("CLOCKIFY_WRITEBACK", "1")
    assert main(["writeback", "--max-writes", "2"]) == 0
    assert "Write-back (write): 2 write(s) made" in capsys.readouterr().out and len(writes(sb)) == 2
    monkeypatch.setenv("LINEAR_TEAM_KEYS", "ENG,NOPE")
    assert main(["writeback"]) == 1
    line = capsys.readouterr().out.strip()
    assert "\n" not in line and line.startswith("error: write-back failed at raw__clockify_issue_task_links: ")
    assert "LINEAR_TEAM_KEYS names NOPE" in line


def test_writeback_is_visible_but_never_in_warehouse_job():
    from orchestration.definitions import build_definitions

    defs = build_definitions(settings())
    links_key = clockify_issue_task_links.key
    assert links_key not in defs.resolve_job_def("warehouse_job").asset_layer.selected_asset_keys
    assert defs.resolve_job_def("clockify_writeback_job").asset_layer.selected_asset_keys == {links_key}
    spec = next(s for s in clockify_issue_task_links.specs)
    assert spec.group_name == "writeback" and "CLOCKIFY_WRITEBACK=1" in spec.description
    assert {d.asset_key.path[-1] for d in spec.deps} == {"linear_issues", "linear_teams", "linear_workflow_states"}
