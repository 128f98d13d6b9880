"""The sandbox's Clockify write endpoints: Clockify's request/response shapes and validation errors."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from sandbox import Sandbox, SandboxConfig
from sandbox.clockify import write_log

ANCHOR = dt.date(2024, 6, 28)


@pytest.fixture(scope="module")
def api():
    with Sandbox(SandboxConfig.small(anchor=ANCHOR)) as sb, requests.Session() as http:
        env = sb.env()
        http.headers["X-Api-Key"] = env["CLOCKIFY_API_KEY"]
        yield sb, http, f"{env['CLOCKIFY_API_URL']}/workspaces/{env['CLOCKIFY_WORKSPACE_ID']}"


def test_create_and_update_shapes(api):
    sb, http, base = api
    r = http.post(base + "/clients", json={"name": "  Linear  "})
    assert r.status_code == 201
    client = r.json()
    assert client["name"] == "Linear" and client["workspaceId"] == sb.workspace.workspace_id
    assert client["archived"] is False and len(client["id"]) == 24

    r = http.post(base + "/projects", json={"name": "Linear · ENG", "clientId": client["id"], "isPublic": True})
    assert r.status_code == 201
    project = r.json()
    assert project["clientId"] == client["id"] and project["clientName"] == "Linear"
    assert project["public"] is True and "isPublic" not in project

    r = http.post(base + f"/projects/{project['id']}/tasks", json={"name": "ENG-1: Fix login"})
    assert r.status_code == 201
    task = r.json()
    assert task["status"] == "ACTIVE" and task["projectId"] == project["id"]

    r = http.put(
        base + f"/projects/{project['id']}/tasks/{task['id']}", json={"name": "ENG-1: Fix logout", "status": "DONE"}
    )
    assert r.status_code == 200 and (r.json()["name"], r.json()["status"]) == ("ENG-1: Fix logout", "DONE")
    listed = http.get(base + f"/projects/{project['id']}/tasks", params={"is-active": "false"}).json()  # DONE ones
    assert [(t["id"], t["name"], t["status"]) for t in listed] == [(task["id"], "ENG-1: Fix logout", "DONE")]
    methods = [(m, status) for m, path, status in write_log(sb.workspace) if project["id"] in path]
    assert methods == [("POST", 201), ("PUT", 200)]


@pytest.mark.parametrize(
    "path_kind,body,message",
    [
        ("clients", {}, "Client name is required"),
        ("clients", {"name": "   "}, "Client name is required"),
        ("clients", {"name": "c" * 101}, "Client name has to be between 1 and 100 characters long"),
        ("projects", {"name": "P"}, "Project name has to be between 2 and 250 characters long"),
        ("projects", {"name": "p" * 251}, "Project name has to be between 2 and 250 characters long"),
        ("tasks", {"name": "t" * 1001}, "Task name has to be between 1 and 1000 characters long"),
        ("tasks", {"name": "Dup task"}, "Task with name 'Dup task' already exists"),
        ("tasks", {"name": "x", "status": "CLOSED"}, "status must be ACTIVE or DONE"),
        ("tasks", {"name": "x", "color": "red"}, "Unrecognized field(s) ['color']"),
    ],
)
def test_validation_errors(api, path_kind, body, message):
    sb, http, base = api
    project = http.post(base + "/projects", json={"name": f"Validation {path_kind} {len(write_log(sb.workspace))}"})
    pid = project.json()["id"]
    http.post(base + f"/projects/{pid}/tasks", json={"name": "Dup task"})
    url = {"clients": base + "/clients", "projects": base + "/projects", "tasks": base + f"/projects/{pid}/tasks"}
    before = (
        len(sb.workspace.clockify_tasks[pid]),
        len(sb.workspace.clockify_projects),
        len(sb.workspace.clockify_clients),
    )
    r = http.post(url[path_kind], json=body)
    assert r.status_code == 400
    assert set(r.json()) == {"message", "code"} and r.json()["message"] == message
    assert r.json()["code"] in (400, 501)
    after = (
        len(sb.workspace.clockify_tasks[pid]),
        len(sb.workspace.clockify_projects),
        len(sb.workspace.clockify_clients),
    )
    assert after == before  # nothing created


def test_put_validates_and_never_creates(api):
    sb, http, base = api
    pid = http.post(base + "/projects", json={"name": "Put checks"}).json()["id"]
    a = http.post(base + f"/projects/{pid}/tasks", json={"name": "A"}).json()
    http.post(base + f"/projects/{pid}/tasks", json={"name": "B"})
    task_url = base + f"/projects/{pid}/tasks/{a['id']}"
    assert http.put(task_url, json={"name": ""}).json()["message"] == "Task name is required"
    assert http.put(task_url, json={"name": "b"}).json() == {
        "message": "Task with name 'b' already exists",
        "code": 501,
    }
    assert http.put(task_url, json={"name": "A" * 1001}).status_code == 400
    assert http.put(base + f"/projects/{pid}/tasks/{'f' * 24}", json={"name": "C"}).status_code == 404
    assert http.put(base + f"/projects/{'0' * 24}/tasks/{a['id']}", json={"name": "C"}).status_code == 400
    assert [t["name"] for t in sb.workspace.clockify_tasks[pid]] == ["A", "B"]
    # a rename to the same name (other case) of the task itself is fine, and trimmed
    r = http.put(task_url, json={"name": " a ", "status": "ACTIVE"})
    assert r.status_code == 200 and r.json()["name"] == "a"
