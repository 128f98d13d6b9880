"""The Dagster UI's server on the project's workspace.yaml: what its GraphQL API reports.

Starts `dagster-webserver -w workspace.yaml` on a free loopback port (temp DAGSTER_HOME with the project's
dagster.yaml, the sandbox's settings, a temp warehouse) and asks it for the code location, the asset graph
(raw / staging / marts, groups, kinds, owners, partitions), the daily schedule (and switches it on) and the
asset checks (dbt tests and the raw time entries check).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LOCATION = "hours_warehouse"
STARTUP_SECONDS = 180


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def webserver_command(port: int) -> list[str]:
    script = Path(sys.executable).parent / "dagster-webserver"
    base = [str(script)] if script.exists() else [sys.executable, "-m", "dagster_webserver"]
    return [*base, "-w", str(REPO / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)]


@pytest.fixture
def webserver(sandbox, tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if k != "MARTS_PATH"}
    env.update(sandbox.env())
    env.update(
        DAGSTER_HOME=str(home),
        WAREHOUSE_PATH=str(tmp_path / "warehouse.duckdb"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    )
    port = free_port()
    log = (tmp_path / "webserver.log").open("w")
    process = subprocess.Popen(webserver_command(port), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"dagster-webserver exited ({process.returncode}):\n"
                    f"{(tmp_path / 'webserver.log').read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(f"{base}/server_info", timeout=2) as answer:
                    info = json.load(answer)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"dagster-webserver did not answer in {STARTUP_SECONDS} s")
                time.sleep(0.5)
        yield base, info
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def graphql(base: str, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{base}/graphql",
        json.dumps({"query": query, "variables": variables or {}}).encode(),
        {"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        body = json.load(answer)
    assert "errors" not in body, body["errors"]
    return body["data"]


WORKSPACE = """
{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename
      ... on PythonError { message }
      ... on RepositoryLocation { name repositories { name
          jobs { name }
          schedules { name cronSchedule executionTimezone description scheduleState { status } } } } } } } } }
"""

ASSETS = """
{ assetNodes { assetKey { path } groupName kinds description isPartitioned
    owners { ... on TeamAssetOwner { team } ... on UserAssetOwner { email } }
    assetChecksOrError { __typename ... on AssetChecks { checks { name blocking } } } } }
"""

START_SCHEDULE = """
mutation($selector: ScheduleSelector!) { startSchedule(scheduleSelector: $selector) { __typename
    ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message } } }
"""


def test_the_ui_server_shows_the_location_assets_schedule_and_checks(webserver):
    base, info = webserver
    assert "dagster_webserver_version" in info

    # The code location loads, with the warehouse job and the daily schedule (off until switched on).
    workspace = graphql(base, WORKSPACE)["workspaceOrError"]
    assert workspace["__typename"] == "Workspace"
    (entry,) = [e for e in workspace["locationEntries"] if e["name"] == LOCATION]
    location = entry["locationOrLoadError"]
    assert location["__typename"] == "RepositoryLocation", location
    (repository,) = location["repositories"]
    assert "warehouse_job" in {j["name"] for j in repository["jobs"]}
    schedules = {s["name"]: s for s in repository["schedules"]}
    daily = schedules["daily_warehouse_schedule"]
    assert (daily["cronSchedule"], daily["executionTimezone"]) == ("0 3 * * *", "UTC")
    assert "WAREHOUSE_RESYNC_DAYS" in daily["description"]
    assert daily["scheduleState"]["status"] == "STOPPED"

    # The asset graph: raw assets per source, dbt staging and marts, the published marts.
    nodes = {"/".join(n["assetKey"]["path"]): n for n in graphql(base, ASSETS)["assetNodes"]}
    time_entries = nodes["raw/clockify_time_entries"]
    assert time_entries["groupName"] == "clockify" and time_entries["isPartitioned"]
    assert {"clockify", "duckdb"} <= set(time_entries["kinds"])
    assert {"team": "data-platform"} in time_entries["owners"]
    assert nodes["raw/linear_issues"]["groupName"] == "linear" and nodes["raw/linear_issues"]["isPartitioned"]
    assert nodes["raw/clockify_users"]["groupName"] == "clockify" and not nodes["raw/clockify_users"]["isPartitioned"]
    assert nodes["staging/stg_clockify__time_entries"]["groupName"] == "staging"
    assert {"dbt", "duckdb"} <= set(nodes["staging/stg_clockify__time_entries"]["kinds"])
    for mart in ("hours_per_issue", "hours_per_team", "hours_per_person_week", "published_marts"):
        assert nodes[f"marts/{mart}"]["groupName"] == "marts", mart
    assert "read-only" in nodes["marts/published_marts"]["description"]
    groups = {n["groupName"] for key, n in nodes.items() if key.split("/")[0] in ("raw", "staging", "marts")}
    assert {"clockify", "linear", "staging", "marts"} <= groups
    undescribed = [k for k, n in nodes.items() if k.split("/")[0] in ("raw", "marts") and not n["description"]]
    assert undescribed == []

    # Asset checks: the raw time entries check, and dbt's data tests on the models.
    def checks(key: str) -> dict:
        answer = nodes[key]["assetChecksOrError"]
        assert answer["__typename"] == "AssetChecks", answer
        return {c["name"]: c for c in answer["checks"]}

    assert checks("raw/clockify_time_entries")["working_days_have_entries"]["blocking"] is False
    dbt_checks = sum(len(checks(k)) for k in nodes if k.split("/")[0] in ("staging", "marts"))
    assert dbt_checks >= 50
    # a model's column rules are one check per severity (dbt_project/macros/test_model_rules.sql)
    assert "rules_hours_per_issue" in checks("marts/hours_per_issue")
    assert {"rules_fct_time_entries", "rules_fct_time_entries_warn"} <= set(checks("marts/fct_time_entries"))

    # Switchable from the UI: switching the schedule on is one mutation.
    selector = {
        "repositoryLocationName": LOCATION,
        "repositoryName": repository["name"],
        "scheduleName": "daily_warehouse_schedule",
    }
    started = graphql(base, START_SCHEDULE, {"selector": selector})["startSchedule"]
    assert started["__typename"] == "ScheduleStateResult", started
    assert started["scheduleState"]["status"] == "RUNNING"
    again = graphql(base, WORKSPACE)["workspaceOrError"]["locationEntries"]
    (entry,) = [e for e in again if e["name"] == LOCATION]
    (repository,) = entry["locationOrLoadError"]["repositories"]
    assert {s["name"]: s for s in repository["schedules"]}["daily_warehouse_schedule"]["scheduleState"][
        "status"
    ] == "RUNNING"
