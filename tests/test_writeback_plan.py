"""plan_writeback: the pure planning of the Clockify write-back (no I/O)."""

from __future__ import annotations

import datetime as dt

import pytest

from orchestration import settings
from orchestration.writeback import plan as wb
from orchestration.writeback.plan import Issue, Link, Team, plan_writeback, task_name

ENG, OPS = Team("t-eng", "ENG", "Engineering"), Team("t-ops", "OPS", "Operations")
TEAMS = [ENG, OPS]
WS = "ws1"
CLIENT = {"id": "c1", "name": "Linear"}
PROJECTS = [
    {"id": "p-eng", "name": "Linear · ENG", "clientId": "c1"},
    {"id": "p-ops", "name": "Linear · OPS", "clientId": "c1"},
]


def issue(n: int, state: str | None = "started", team: Team = ENG, title: str | None = None, **kw) -> Issue:
    return Issue(
        id=f"i{team.key}{n}",
        identifier=f"{team.key}-{n}",
        title=title or f"Issue {n}",
        team_id=team.id,
        number=n,
        state_type=state,
        **kw,
    )


def task(tid: str, name: str, project: str = "p-eng", status: str = "ACTIVE") -> dict:
    return {"id": tid, "name": name, "projectId": project, "status": status}


def link(i: Issue, tid: str, name: str | None = None, status: str = "ACTIVE", project: str = "p-eng") -> Link:
    return Link(
        issue_id=i.id,
        task_id=tid,
        project_id=project,
        workspace_id=WS,
        task_name=name or task_name(i.identifier, i.title),
        status=status,
        issue_identifier=i.identifier,
        linked_at=dt.datetime(2024, 1, 1),
    )


def plan(issues, links=(), clients=(CLIENT,), projects=PROJECTS, tasks=(), keys=None, max_writes=200):
    return plan_writeback(issues, TEAMS, list(links), list(clients), list(projects), list(tasks), keys, max_writes)


def kinds(p) -> list[tuple]:
    return [(c.kind, c.name) for c in p.changes]


def test_empty_workspace_gets_client_projects_and_tasks_for_open_issues_only():
    issues = [
        issue(1),
        issue(2, "backlog"),
        issue(3, "unstarted"),
        issue(4, "completed"),
        issue(5, "canceled"),
        issue(6, "duplicate"),
        issue(7, "triage"),
        issue(8, archived=True),
        issue(9, trashed=True),
        issue(10, None),
        issue(1, "started", team=OPS),
    ]
    p = plan(issues, clients=[], projects=[])
    assert kinds(p) == [
        ("create_client", "Linear"),
        ("create_project", "Linear · ENG"),
        ("create_project", "Linear · OPS"),
        ("create_task", "ENG-1: Issue 1"),
        ("create_task", "ENG-2: Issue 2"),
        ("create_task", "ENG-3: Issue 3"),
        ("create_task", "OPS-1: Issue 1"),
    ]
    assert all(c.project_id is None for c in p.changes if c.kind == "create_task")  # projects come first
    assert p.writes == 7 and not p.deferred


def test_team_keys_limit_the_scope_and_unknown_keys_are_one_clear_error():
    p = plan([issue(1), issue(1, team=OPS)], keys=["ops "])
    assert kinds(p) == [("create_task", "OPS-1: Issue 1")]
    assert p.changes[0].project_id == "p-ops"
    with pytest.raises(wb.WritebackError, match=r"LINEAR_TEAM_KEYS names NOPE, which is not a Linear team .*ENG, OPS"):
        plan([issue(1)], keys=["ENG", "nope"])


def test_in_sync_plans_nothing():
    i1, i2 = issue(1), issue(2, "completed")
    tasks = [task("k1", "ENG-1: Issue 1"), task("k2", "ENG-2: Issue 2", status="DONE")]
    p = plan([i1, i2], links=[link(i1, "k1"), link(i2, "k2", status="DONE")], tasks=tasks)
    assert p.changes == [] and p.writes == 0 and not p.conflicts


def test_title_change_identifier_change_and_manual_rename_are_renamed_back():
    i1 = issue(1, title="New title")
    moved = Issue(id="iENG2", identifier="OPS-7", title="Issue 2", team_id=OPS.id, number=7, state_type="started")
    tasks = [task("k1", "ENG-1: Old title"), task("k2", "ENG-2: Issue 2"), task("k3", "ENG-3: renamed by hand")]
    i3 = issue(3)
    links = [
        link(i1, "k1", "ENG-1: Old title"),
        Link("iENG2", "k2", "p-eng", WS, "ENG-2: Issue 2", "ACTIVE", "ENG-2"),
        link(i3, "k3"),
    ]
    p = plan([i1, moved, i3], links=links, tasks=tasks, keys=["ENG"])  # moved out of scope: still maintained
    updates = {c.task_id: (c.old_name, c.name, c.status) for c in p.changes}
    assert updates == {
        "k1": ("ENG-1: Old title", "ENG-1: New title", "ACTIVE"),
        "k2": ("ENG-2: Issue 2", "OPS-7: Issue 2", "ACTIVE"),
        "k3": ("ENG-3: renamed by hand", "ENG-3: Issue 3", "ACTIVE"),
    }
    assert {c.kind for c in p.changes} == {"update_task"}
    assert p.changes[0].project_id == "p-eng"  # renamed in place, not moved


def test_closed_issues_set_done_reopened_active_triage_keeps_status():
    closed = [
        issue(1, "completed"),
        issue(2, "canceled"),
        issue(3, "duplicate"),
        issue(4, archived=True),
        issue(5, trashed=True),
    ]
    reopened, triage = issue(6, "started"), issue(7, "triage")
    tasks = [task(f"k{n}", f"ENG-{n}: Issue {n}") for n in range(1, 6)]
    tasks += [task("k6", "ENG-6: Issue 6", status="DONE"), task("k7", "ENG-7: Issue 7", status="DONE")]
    links = [link(i, f"k{n}") for n, i in enumerate(closed, 1)]
    links += [link(reopened, "k6", status="DONE"), link(triage, "k7", status="DONE")]
    p = plan([*closed, reopened, triage], links=links, tasks=tasks)
    assert {(c.task_id, c.status) for c in p.changes} == {
        ("k1", "DONE"),
        ("k2", "DONE"),
        ("k3", "DONE"),
        ("k4", "DONE"),
        ("k5", "DONE"),
        ("k6", "ACTIVE"),
    }
    assert "ACTIVE -> DONE" in p.changes[0].describe()


def test_stale_link_row_is_refreshed_without_a_write():
    i1 = issue(1)
    p = plan([i1], links=[link(i1, "k1", name="ENG-1: something older")], tasks=[task("k1", "ENG-1: Issue 1")])
    assert [(c.kind, c.writes) for c in p.changes] == [("refresh_link", False)] and p.writes == 0


def test_unlinked_tasks_are_adopted_not_duplicated():
    i1, i2, i3 = issue(1), issue(2, title="Current"), issue(3, "completed")
    tasks = [
        task("k1", "eng-1: issue 1"),
        task("k2", "ENG-2: Old"),
        task("k3", "ENG-3: Issue 3"),
        task("x", "ENG-1: Issue 1", project="elsewhere"),
    ]  # other projects are not ours
    p = plan([i1, i2, i3], tasks=tasks)
    assert [(c.kind, c.task_id, c.name) for c in p.changes] == [
        ("adopt", "k1", "eng-1: issue 1"),
        ("update_task", "k1", "ENG-1: Issue 1"),
        ("adopt", "k2", "ENG-2: Old"),
        ("update_task", "k2", "ENG-2: Current"),
        ("adopt", "k3", "ENG-3: Issue 3"),
        ("update_task", "k3", "ENG-3: Issue 3"),
    ]
    assert p.changes[-1].status == "DONE"
    # the exact name wins over a prefix match; a task already linked to another issue is never adopted
    i4 = issue(4)
    other = Link("someone-else", "k4b", "p-eng", WS, "ENG-4: Issue 4", "ACTIVE")
    p = plan(
        [i4], links=[other], tasks=[task("k4a", "ENG-4: draft"), task("k4c", "ENG-4: Issue 4"), task("k4b", "ENG-4: x")]
    )
    assert [(c.kind, c.task_id) for c in p.changes] == [("adopt", "k4c")]


def test_deleted_linked_task_is_created_again():
    i1 = issue(1)
    p = plan([i1], links=[link(i1, "gone")], tasks=[])
    assert kinds(p) == [("create_task", "ENG-1: Issue 1")]


def test_name_conflicts_are_skipped_and_reported():
    i1, i2 = issue(1, title="Same"), issue(2)
    tasks = [task("k1", "ENG-1: Before"), task("dup", "ENG-1: Same"), task("k2", "ENG-2: Issue 2")]
    other = Link("someone-else", "dup", "p-eng", WS, "ENG-1: Same", "ACTIVE")
    p = plan([i1, i2], links=[link(i1, "k1", "ENG-1: Before"), other, link(i2, "k2")], tasks=tasks)
    assert p.changes == [] and len(p.conflicts) == 1 and "cannot rename task 'ENG-1: Before'" in p.conflicts[0]
    assert p.lines() == [f"skipped: {p.conflicts[0]}"]


def test_write_bound_keeps_dependency_order_and_defers_the_rest():
    issues = [issue(n) for n in range(1, 6)]
    p = plan(issues, clients=[], projects=[], keys=["ENG"], max_writes=3)
    assert kinds(p) == [
        ("create_client", "Linear"),
        ("create_project", "Linear · ENG"),
        ("create_task", "ENG-1: Issue 1"),
    ]
    assert [c.name for c in p.deferred] == [f"ENG-{n}: Issue {n}" for n in range(2, 6)]
    assert p.lines()[-1] == "deferred (write bound): create task 'ENG-5: Issue 5'"
    # link-only changes are free
    i1 = issue(1)
    p = plan([i1, issue(2)], tasks=[task("k1", "ENG-1: Issue 1")], max_writes=1, keys=["ENG"])
    assert [c.kind for c in p.changes] == ["adopt", "create_task"]


def test_task_names():
    assert task_name("ENG-1", "  Fix\n login  ") == "ENG-1: Fix login"
    assert task_name("ENG-1", "") == "ENG-1:"
    long = task_name("ENG-1", "x" * 5000)
    assert len(long) == wb.MAX_TASK_NAME_LENGTH and long.endswith("…") and long.startswith("ENG-1: xx")


def test_settings():
    def writeback_settings(env):
        return settings.Settings.from_env(env).writeback

    s = writeback_settings({})
    assert (s.enabled, s.team_keys, s.max_writes) == (False, None, settings.WRITEBACK_MAX_WRITES)
    s = writeback_settings(
        {"CLOCKIFY_WRITEBACK": "1", "LINEAR_TEAM_KEYS": "eng, ops,", "CLOCKIFY_WRITEBACK_MAX_WRITES": "3"}
    )
    assert (s.enabled, s.team_keys, s.max_writes) == (True, frozenset({"ENG", "OPS"}), 3)
    with pytest.raises(settings.ConfigError, match="CLOCKIFY_WRITEBACK_MAX_WRITES='0' must be"):
        writeback_settings({"CLOCKIFY_WRITEBACK_MAX_WRITES": "0"})
    with pytest.raises(settings.ConfigError, match="CLOCKIFY_WRITEBACK='maybe'"):
        writeback_settings({"CLOCKIFY_WRITEBACK": "maybe"})
