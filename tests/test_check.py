"""`warehouse check`: one line per check with what it found, the fix named for each failure, nothing written;
`warehouse sync` runs the same checks first."""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path

import pytest

from orchestration import cli, preflight
from orchestration.resources import clockify_client
from orchestration.settings import Settings
from sandbox import Sandbox, SandboxConfig, server
from tests.conftest import ANCHOR, SMALL


def files_under(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def place(tmp_path, monkeypatch):
    """An empty directory holding every file a command could write (warehouse, marts, logs, run history)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "data" / "warehouse.duckdb"))
    monkeypatch.delenv("MARTS_PATH", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("WAREHOUSE_DEMO_DIR", str(tmp_path / "demo"))
    return tmp_path


def point_at(monkeypatch, env: dict[str, str]) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def run(capsys, *argv) -> tuple[int, list[str]]:
    code = cli.main(list(argv))
    return code, capsys.readouterr().out.splitlines()


def test_check_prints_what_each_check_found_and_writes_nothing(sandbox, place, monkeypatch, capsys):
    point_at(monkeypatch, sandbox.env())
    code, lines = run(capsys, "check")
    ws = sandbox.workspace
    owner, org = ws.clockify_users[0], ws.linear_organization
    names = [
        "Clockify key",
        "Clockify workspace",
        "Clockify access",
        "Clockify reports",
        "Linear organization",
        "Linear teams",
        "Linear customers",
    ]
    assert code == 0 and len(lines) == len(names) + 1, lines
    assert all(line.startswith("ok:") and name in line for name, line in zip(names, lines, strict=False)), lines
    by_name = dict(zip(names, lines, strict=False))
    assert owner["name"] in by_name["Clockify key"] and owner["settings"]["timeZone"] in by_name["Clockify key"]
    assert "read in UTC" in by_name["Clockify key"]
    workspace = ws.clockify_workspaces[0]
    assert workspace["name"] in by_name["Clockify workspace"] and ws.workspace_id in by_name["Clockify workspace"]
    members = len(
        clockify_client(Settings.from_env(os.environ), persist_budget=False).users()
    )  # the members a sync loads
    assert members and f"{members} members" in by_name["Clockify workspace"]
    assert "is a workspace admin: a sync reads everyone's time" in by_name["Clockify access"]  # the sandbox's default
    assert org["name"] in by_name["Linear organization"]
    assert all(t["key"] in by_name["Linear teams"] for t in ws.linear_teams)
    assert f"{len(ws.linear_teams)} team(s)" in by_name["Linear teams"]
    assert "available" in by_name["Linear customers"]
    assert lines[-1].startswith("Ready")
    assert files_under(place) == {}  # no warehouse, no marts, no log, no DAGSTER_HOME
    secrets = (sandbox.config.clockify_api_key, sandbox.config.linear_api_key)
    assert not any(secret in line for line in lines for secret in secrets)


def test_a_regional_workspace_on_the_global_host_fails_naming_the_region_setting(place, monkeypatch, capsys):
    with Sandbox(SandboxConfig(**SMALL, clockify_region="euc1")) as sb:
        point_at(monkeypatch, sb.env("global"))
        code, lines = run(capsys, "check")
        errors = [line for line in lines if line.startswith("error:")]
        assert code == 2 and len(errors) == 1, lines
        assert "Clockify workspace" in errors[0] and "CLOCKIFY_REGION" in errors[0] and "host" in errors[0]
        assert "Clockify key" in lines[0] and lines[0].startswith("ok:")  # the key itself works there
        assert not any("Clockify reports" in line for line in lines)  # skipped: its workspace failed
        assert "1 check(s) failed" in lines[-1]

        hint = Settings.from_env({"CLOCKIFY_REGION": "euc1"}).clockify  # what the fix means for real
        assert (hint.api_url, hint.reports_url) == (
            "https://euc1.clockify.me/api/v1",
            "https://euc1.clockify.me/report/v1",
        )
        point_at(monkeypatch, sb.env())  # the sandbox serves euc1 under a path: its URLs, as for a subdomain
        assert run(capsys, "check")[0] == 0
    assert files_under(place) == {}


def test_a_key_of_a_subdomain_workspace_on_the_global_host_names_the_url_settings(place, monkeypatch, capsys):
    with Sandbox(SandboxConfig(**SMALL, clockify_subdomain="acme")) as sb:
        point_at(monkeypatch, sb.env("global"))
        code, lines = run(capsys, "check")
        errors = [line for line in lines if line.startswith("error:")]
        assert code == 2 and len(errors) == 1 and "Clockify key" in errors[0], lines
        assert all(v in errors[0] for v in ("CLOCKIFY_API_KEY", "CLOCKIFY_API_URL", "CLOCKIFY_REPORTS_URL"))


def test_every_failure_is_one_line_naming_its_fix(sandbox, place, monkeypatch, capsys):
    point_at(monkeypatch, {**sandbox.env(), "CLOCKIFY_API_KEY": "wrong", "LINEAR_API_KEY": "lin_api_wrong"})
    code, lines = run(capsys, "check")
    errors = [line for line in lines if line.startswith("error:")]
    assert code == 2 and len(errors) == 2, lines
    assert "CLOCKIFY_API_KEY" in errors[0] and "LINEAR_API_KEY" in errors[1]
    assert "wrong" not in " ".join(line.replace("wrong host", "") for line in errors)  # keys never printed


def test_nothing_configured_is_one_line_naming_what_to_set(place, capsys):
    code, lines = run(capsys, "check")
    assert code == 2 and len([line for line in lines if line.startswith("error:")]) == 1, lines
    assert all(v in lines[0] for v in ("CLOCKIFY_API_KEY", "CLOCKIFY_WORKSPACE_ID", "LINEAR_API_KEY", "demo"))


def test_plan_features_that_do_not_answer_are_warnings_not_failures(place, monkeypatch, capsys):
    config = SandboxConfig(**SMALL, linear_customers_enabled=False, clockify_plan="FREE")
    with Sandbox(config) as sb:
        point_at(monkeypatch, sb.env())
        code, lines = run(capsys, "check")
    warnings = [line for line in lines if line.startswith("warning:")]
    assert code == 0 and len(warnings) == 2, lines
    assert "FREE plan" in warnings[0] and "30 requests an hour" in warnings[0]
    assert "Linear customers" in warnings[1] and "FEATURE_NOT_ACCESSIBLE" in warnings[1]


def test_sync_runs_the_same_checks_first(sandbox, place, monkeypatch, capsys):
    point_at(monkeypatch, {**sandbox.env(), "LINEAR_API_KEY": "lin_api_wrong"})
    checked = [line for line in run(capsys, "check")[1] if line.split(":")[0] in ("ok", "warning", "error")]
    day = str(ANCHOR - dt.timedelta(days=1))
    code, lines = run(capsys, "sync", "--start", day, "--end", day)
    assert code == 2 and lines == checked
    assert not (place / "data" / "warehouse.duckdb").exists()


def test_findings_identify_the_sources(sandbox):
    findings = preflight.run_checks(Settings.from_env({**os.environ, **sandbox.env()}))
    assert findings.ok
    assert findings.clockify_workspace_id == sandbox.workspace.workspace_id
    assert findings.linear_organization_id == sandbox.workspace.linear_organization["id"]


def host_env(sb: Sandbox, **host: str) -> dict[str, str]:
    """The sandbox's variables with its Clockify URLs left out: CLOCKIFY_REGION or CLOCKIFY_SUBDOMAIN derive
    them, through the sandbox's stand-in for https://<host>.clockify.me."""
    env = {k: v for k, v in sb.env().items() if k not in ("CLOCKIFY_API_URL", "CLOCKIFY_REPORTS_URL")}
    return {**env, "CLOCKIFY_HOST_TEMPLATE": sb.clockify_base("{host}"), **host}


@pytest.mark.parametrize(
    ("config", "right", "wrong"),
    [
        ({"clockify_region": "apse2"}, {"CLOCKIFY_REGION": "apse2"}, {"CLOCKIFY_REGION": "euc1"}),
        (
            {"clockify_region": "use2", "clockify_wrong_host": "key_unknown"},
            {"CLOCKIFY_REGION": "use2"},
            {"CLOCKIFY_REGION": "euw2"},
        ),
        ({"clockify_subdomain": "acme"}, {"CLOCKIFY_SUBDOMAIN": "acme"}, {"CLOCKIFY_SUBDOMAIN": "acme-old"}),
        (
            {"clockify_subdomain": "acme", "clockify_wrong_host": "workspace_not_found"},
            {"CLOCKIFY_SUBDOMAIN": "acme"},
            {"CLOCKIFY_SUBDOMAIN": "other"},
        ),
    ],
)
def test_one_variable_sets_the_host_and_a_wrong_one_is_named(place, monkeypatch, capsys, config, right, wrong):
    with Sandbox(SandboxConfig(**SMALL, **config)) as sb:
        host = config.get("clockify_region") or config["clockify_subdomain"]
        point_at(monkeypatch, host_env(sb, **right))
        derived = Settings.load().clockify
        assert {"CLOCKIFY_API_URL": derived.api_url, "CLOCKIFY_REPORTS_URL": derived.reports_url} == sb.clockify_urls(
            host
        )
        code, lines = run(capsys, "check")
        assert code == 0 and all(line.startswith("ok:") for line in lines[:-1]), lines
        client = clockify_client(Settings.load(), persist_budget=False)
        try:  # the data itself reads on the derived host, main API and reports API
            day = dt.datetime.combine(ANCHOR, dt.time(), dt.UTC)
            assert list(client.time_entries(day - dt.timedelta(days=1), day))
        finally:
            client.close()

        for variable in right:
            monkeypatch.delenv(variable)
        point_at(monkeypatch, host_env(sb, **wrong))
        code, lines = run(capsys, "check")
        errors = [line for line in lines if line.startswith("error:")]
        assert code == 2 and len(errors) == 1, lines
        assert "host" in errors[0] and next(iter(wrong)) in errors[0], errors
    assert files_under(place) == {}


class InFlight:
    """The sandbox's requests in flight at once (the most seen), counted around its request handler. With
    `hold` set, a request waits (up to HOLD_SECONDS) until another one is in flight, so requests sent
    together are seen together however slowly a busy machine starts their threads; requests sent one after
    the other still never overlap."""

    HOLD_SECONDS = 3.0

    def __init__(self, monkeypatch) -> None:
        self.now = self.peak = 0
        self.hold = False
        self.changed = threading.Condition()
        handle = server._Handler._dispatch

        def counted(handler, method):
            with self.changed:
                self.now += 1
                self.peak = max(self.peak, self.now)
                self.changed.notify_all()
                if self.hold:
                    self.changed.wait_for(lambda: self.now > 1, timeout=self.HOLD_SECONDS)
            try:
                return handle(handler, method)
            finally:
                with self.changed:
                    self.now -= 1

        monkeypatch.setattr(server._Handler, "_dispatch", counted)

    def reset(self, hold: bool = False) -> None:
        self.now = self.peak = 0
        self.hold = hold


@pytest.mark.parametrize(
    "changed",
    [
        {},
        {"CLOCKIFY_WORKSPACE_ID": "0" * 24},  # the workspace check fails: the steps after it are left out
        {"CLOCKIFY_API_KEY": "wrong", "LINEAR_API_KEY": "lin_api_wrong"},
    ],
)
def test_checks_run_concurrently_and_print_what_one_after_the_other_prints(sandbox, monkeypatch, changed):
    """The checks' requests are in flight together (both sources, and each one's steps after its first); the
    lines, their order and what identifies the sources are those of the checks run one at a time."""
    sandbox.latency_ms = 100  # long enough for requests sent together to overlap in the handler
    settings = Settings.from_env({**os.environ, **sandbox.env(), **changed})
    flight = InFlight(monkeypatch)
    one_by_one = preflight.run_checks(settings, concurrent=False)
    assert flight.peak == 1
    for _attempt in range(3):  # a busy machine may start a thread late; one-at-a-time checks never overlap
        flight.reset(hold=True)
        together = preflight.run_checks(settings)
        if flight.peak > 1:
            break
    assert flight.peak > 1
    assert [c.line() for c in together.checks] == [c.line() for c in one_by_one.checks]
    assert together.problems == one_by_one.problems and all("\n" not in p for p in together.problems)
    assert (together.clockify_workspace_id, together.linear_organization_id) == (
        one_by_one.clockify_workspace_id,
        one_by_one.linear_organization_id,
    )
    if not changed:
        assert together.ok and len(together.checks) == 7
    else:
        assert not together.ok
