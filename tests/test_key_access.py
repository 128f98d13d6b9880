"""A Clockify key whose owner is no workspace admin (api-notes.md, open): it is not refused, and what it reads
depends on the workspace's "who can see all time" setting, everyone's time or only the owner's own.

Both answers, both time-entry strategies: with "everyone's time" a member's key loads what an admin's does;
with "only their own time" the read fails in one line naming the fix and the warehouse stays as it was.
The sandbox's default answer: the key's owner is the workspace's owner (an admin).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import replace

import duckdb
import pytest
from dagster import materialize

from assets.clockify import build_clockify_time_entries
from orchestration.clients.clockify.client import ClockifyClient, PartialVisibility
from orchestration.partitions import daily_partitions
from orchestration.resources import build_resources
from orchestration.settings import Settings
from sandbox import Sandbox, SandboxConfig
from tests.conftest import ANCHOR, SMALL

START = dt.datetime.combine(ANCHOR - dt.timedelta(days=6), dt.time(), dt.UTC)
END = START + dt.timedelta(days=3)
MEMBER = dict(clockify_key_owner_admin=False)


def client_of(sb: Sandbox, **overrides) -> ClockifyClient:
    env = sb.env()
    return ClockifyClient(
        api_key=env["CLOCKIFY_API_KEY"],
        workspace_id=env["CLOCKIFY_WORKSPACE_ID"],
        api_url=env["CLOCKIFY_API_URL"],
        reports_url=env["CLOCKIFY_REPORTS_URL"],
        backoff_base=0.01,
        max_retry_seconds=20.0,
        budget_store_path="",
        **overrides,
    )


def read(config: SandboxConfig, strategy: str) -> list[dict]:
    with Sandbox(config) as sb:
        client = client_of(sb, time_entries_strategy=strategy)
        try:
            return client.time_entries(START, END)
        finally:
            client.close()


def test_the_sandbox_key_owner_is_an_admin_by_default():
    """The sandbox's answer: its key belongs to the workspace's owner, who reads everyone's time."""
    assert SandboxConfig().clockify_key_owner_admin is True
    assert SandboxConfig().clockify_member_sees_all_time is True  # Clockify's default setting
    with Sandbox(SandboxConfig(**SMALL)) as sb:
        client = client_of(sb)
        access = client.key_access()
        assert access.admin and access.sees_all_time and access.owner_id == sb.workspace.clockify_users[0]["id"]
        assert "is a workspace admin" in access.describe()
        client.close()


def test_a_members_key_sees_only_its_own_time_when_the_workspace_says_so():
    """The sandbox as real Clockify answers a member's key under "only their own time": the report and the
    other users' time entries hold only the owner's entries, with no error (what the old client loaded)."""
    config = SandboxConfig(**SMALL, **MEMBER, clockify_member_sees_all_time=False)
    with Sandbox(config) as sb:
        owner = sb.workspace.clockify_users[0]["id"]
        client = client_of(sb)
        page = client.detailed_report_page(START, END, page=1)
        assert page["timeentries"] and {row["userId"] for row in page["timeentries"]} == {owner}
        access = client.key_access()
        assert not access.admin and access.sees_all_time is False
        client.close()


@pytest.mark.parametrize("strategy", ["report", "per_user"])
def test_a_members_key_that_sees_everyones_time_reads_what_an_admins_reads(strategy):
    admin = read(SandboxConfig(**SMALL), strategy)
    member = read(SandboxConfig(**SMALL, **MEMBER, clockify_member_sees_all_time=True), strategy)
    assert len({e["userId"] for e in admin}) > 1 and member == admin


@pytest.mark.parametrize("strategy", ["report", "per_user"])
def test_a_members_key_that_sees_only_its_own_time_fails_in_one_line(strategy):
    config = SandboxConfig(**SMALL, **MEMBER, clockify_member_sees_all_time=False)
    with pytest.raises(PartialVisibility) as error:
        read(config, strategy)
    message = str(error.value)
    assert "\n" not in message and "no workspace admin" in message and "CLOCKIFY_API_KEY" in message
    assert "see all time" in message and "nothing was loaded" in message
    assert config.clockify_api_key not in message


def test_a_single_person_workspace_is_whole_with_a_members_key():
    """Only the owner's time is everyone's time when nobody else is a member: no refusal."""
    alone = {**SMALL, "users": 1}
    entries = read(SandboxConfig(**alone, **MEMBER, clockify_member_sees_all_time=False), "report")
    assert entries == read(SandboxConfig(**alone), "report")


def test_a_partial_load_leaves_the_warehouse_as_it_was(tmp_path, monkeypatch):
    """The time-entry asset with a member's key under "only their own time": the run fails with the one
    line, and the partition an admin's key loaded before keeps every entry."""
    day = ANCHOR - dt.timedelta(days=3)  # a working day: several people logged time
    warehouse = tmp_path / "warehouse.duckdb"

    def load(config: SandboxConfig):
        with Sandbox(config) as sb:
            env = {**os.environ, **sb.env(), "WAREHOUSE_PATH": str(warehouse)}
            env.pop("MARTS_PATH", None)
            settings = replace(Settings.from_env(env), dagster_home=None)
            asset = build_clockify_time_entries(daily_partitions(settings.start_date))
            return materialize(
                [asset], partition_key=day.isoformat(), resources=build_resources(settings), raise_on_error=False
            )

    def rows():
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return sorted(con.execute("SELECT id, user_id FROM raw.clockify_time_entries").fetchall())

    assert load(SandboxConfig(**SMALL)).success
    before = rows()
    assert len({user for _, user in before}) > 1
    failed = load(SandboxConfig(**SMALL, **MEMBER, clockify_member_sees_all_time=False))
    assert not failed.success
    (failure,) = [e for e in failed.all_events if e.is_step_failure]
    assert "PartialVisibility: Clockify: the key's owner" in failure.step_failure_data.error.to_string()
    assert rows() == before


@pytest.mark.parametrize("sees_all, status", [(True, "ok:"), (False, "error:")])
def test_warehouse_check_says_whether_the_key_owner_is_an_admin_and_what_it_means(
    sees_all, status, tmp_path, monkeypatch, capsys
):
    from orchestration import cli  # noqa: PLC0415

    with Sandbox(SandboxConfig(**SMALL, **MEMBER, clockify_member_sees_all_time=sees_all)) as sb:
        for key, value in sb.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
        code = cli.main(["check"])
    lines = capsys.readouterr().out.splitlines()
    (line,) = [x for x in lines if "Clockify access" in x]
    assert line.startswith(status) and "is no workspace admin" in line, lines
    if sees_all:
        assert code == 0 and "reads everyone's time, as an admin's key would" in line
    else:
        assert code != 0 and "CLOCKIFY_API_KEY" in line and "let everyone see all time" in line
        assert not (tmp_path / "warehouse.duckdb").exists()
