"""Issue 17 part 3, the Clockify side: the client reads member profiles, holidays and approved time off as
the sandbox serves them (like the real API); the raw assets load them, and where the plan lacks time off
(403 or 404: which one is open, both tested) they load nothing and say so."""

from __future__ import annotations

import datetime as dt
import warnings

import dagster as dg
import duckdb
import pytest

from assets.clockify import (
    clockify_holidays,
    clockify_member_profiles,
    clockify_time_off_requests,
    clockify_user_groups,
    clockify_users,
)
from orchestration.clients.clockify import capacity
from orchestration.clients.clockify.client import ClockifyClient
from orchestration.clients.errors import FeatureNotAccessible
from orchestration.resources import clockify_client
from orchestration.settings import Settings
from orchestration.warehouse.duckdb import Warehouse
from sandbox import Sandbox, SandboxConfig

CFG = SandboxConfig(anchor=dt.date(2025, 3, 31), users=8, issues=40, days=60, clock="frozen")


def _client(sb, **overrides) -> ClockifyClient:
    env = sb.env()
    client = ClockifyClient(
        api_key=env["CLOCKIFY_API_KEY"],
        workspace_id=env["CLOCKIFY_WORKSPACE_ID"],
        api_url=env["CLOCKIFY_API_URL"],
        reports_url=env["CLOCKIFY_REPORTS_URL"],
        backoff_base=0.01,
        **overrides,
    )
    client.use_clock(sb.clock)
    return client


def test_the_client_reads_profiles_holidays_and_only_approved_time_off():
    with Sandbox(CFG) as sb:
        ws, client = sb.workspace, _client(sb)
        ids = [u["id"] for u in ws.clockify_users]
        profiles = capacity.member_profiles(client, ids)
        assert [p["userId"] for p in profiles] == ids and profiles[1]["workCapacity"] == "PT6H"
        assert {h["id"] for h in capacity.holidays(client)} == {h["id"] for h in ws.clockify_holidays}
        before = client.requests_made
        found = capacity.approved_time_off(client)
        approved = {r["id"] for r in ws.clockify_time_off_requests if r["status"]["statusType"] == "APPROVED"}
        assert {r["id"] for r in found} == approved and len(approved) < len(ws.clockify_time_off_requests)
        assert client.requests_made - before == 1


def test_time_off_is_read_page_by_page_to_its_count(monkeypatch):
    monkeypatch.setattr(capacity, "TIME_OFF_PAGE_SIZE", 3)
    with Sandbox(CFG) as sb:
        client = _client(sb)
        found = capacity.approved_time_off(client)
        approved = [r for r in sb.workspace.clockify_time_off_requests if r["status"]["statusType"] == "APPROVED"]
        assert len(found) == len(approved) > 3 and client.requests_made == -(-len(approved) // 3)


@pytest.mark.parametrize("mode,status", [("off_403", 403), ("off_404", 404)])
def test_open_a_plan_without_time_off_raises_feature_not_accessible_in_one_line(mode, status):
    with Sandbox(CFG.with_(clockify_time_off=mode)) as sb:
        client = _client(sb)
        for read in (capacity.holidays, capacity.approved_time_off):
            with pytest.raises(FeatureNotAccessible) as refused:
                read(client)
            assert refused.value.status == status and "\n" not in str(refused.value)
        assert client.requests_made == 2  # not retried, no workspace diagnosis


def test_the_free_plan_spends_no_request_on_capacity():
    with Sandbox(CFG.with_(clockify_plan="FREE")) as sb:
        client = _client(sb, plan="free")
        for read in (capacity.holidays, capacity.approved_time_off, lambda c: capacity.member_profiles(c, ["x"])):
            with pytest.raises(FeatureNotAccessible):
                read(client)
        assert client.requests_made == 0 and sb.request_counts()["clockify"] == 0


def _materialize(assets, sb, path):
    settings = Settings.from_env({**sb.env(), "WAREHOUSE_PATH": str(path)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = dg.materialize(
            assets,
            resources={
                "clockify": clockify_client(settings, persist_budget=False),
                "warehouse": Warehouse(path=str(path)),
            },
        )
    assert result.success
    return {
        a.key.path[-1]: result.asset_materializations_for_node(a.op.name)[0].metadata
        for a in assets
        if result.asset_materializations_for_node(a.op.name)
    }


@pytest.mark.parametrize("mode", ["on", "off_403", "off_404"])
def test_holidays_and_time_off_assets_load_or_say_they_are_unavailable(mode, tmp_path):
    path = tmp_path / "w.duckdb"
    with Sandbox(CFG.with_(clockify_time_off=mode)) as sb:
        meta = _materialize(
            [clockify_users, clockify_member_profiles, clockify_holidays, clockify_time_off_requests], sb, path
        )
        approved = sum(r["status"]["statusType"] == "APPROVED" for r in sb.workspace.clockify_time_off_requests)
        holidays = len(sb.workspace.clockify_holidays)
    con = duckdb.connect(str(path), read_only=True)
    counts = {
        name: con.execute(f"select count(*) from raw.{name}").fetchone()[0]
        for name in ("clockify_member_profiles", "clockify_holidays", "clockify_time_off_requests")
    }
    con.close()
    assert counts["clockify_member_profiles"] == CFG.users  # profiles are no plan feature
    if mode == "on":
        assert counts == {
            "clockify_member_profiles": CFG.users,
            "clockify_holidays": holidays,
            "clockify_time_off_requests": approved,
        }
        assert meta["clockify_holidays"]["feature_available"].value is True
    else:
        assert counts["clockify_holidays"] == counts["clockify_time_off_requests"] == 0
        for name in ("clockify_holidays", "clockify_time_off_requests"):
            assert meta[name]["feature_available"].value is False
            assert str(meta[name]["feature_not_accessible"].value).startswith("Clockify answered HTTP")
            assert "capacity_per_person_week" in meta[name]["note"].value


def test_member_profiles_are_read_side_by_side_with_the_same_requests_and_rows(monkeypatch):
    """The profile reads go `report_concurrency` at a time (issue 15: a team of 200 read one by one cost 200
    latencies, ~10 s, in every run), paced; the same requests and rows, in the order asked, as one by one.
    Before, at most one request was ever in flight."""
    import threading

    with Sandbox(CFG) as sb:
        sb.latency_ms = 30  # a request's latency, so that reads side by side are seen side by side
        ids = [u["id"] for u in sb.workspace.clockify_users]
        http_class = type(_client(sb).http)
        real_request = http_class.request
        state = {"now": 0, "most": 0}
        lock = threading.Lock()

        def request(self, *args, **kwargs):
            with lock:
                state["now"] += 1
                state["most"] = max(state["most"], state["now"])
            try:
                return real_request(self, *args, **kwargs)
            finally:
                with lock:
                    state["now"] -= 1

        monkeypatch.setattr(http_class, "request", request)
        one_by_one = _client(sb, report_concurrency=1)
        expected = capacity.member_profiles(one_by_one, ids)
        assert state["most"] == 1 and one_by_one.requests_made == len(ids) > 2
        state["most"] = 0
        side_by_side = _client(sb, report_concurrency=4)
        assert capacity.member_profiles(side_by_side, ids) == expected
        assert side_by_side.requests_made == len(ids)
        assert state["most"] > 1
        assert [p["userId"] for p in expected] == ids


def test_user_groups_are_read_page_by_page(monkeypatch):
    monkeypatch.setattr(capacity, "USER_GROUPS_PAGE_SIZE", 1)
    with Sandbox(CFG) as sb:
        client = _client(sb)
        groups = capacity.user_groups(client)
        assert groups == sb.workspace.clockify_user_groups and len(groups) == 2
        assert all(g["userIds"] for g in groups)
        assert client.requests_made == len(groups) + 1  # the last page is empty


@pytest.mark.parametrize("refused", [None, 403, 404])
def test_user_groups_asset_loads_or_says_the_plan_has_none(refused, tmp_path, monkeypatch):
    """Groups say who a holiday given to groups is for. A plan (or key) refusing them (403 or 404: which one, if
    any, is open; the sandbox serves groups on every plan) loads an empty table with a note instead of failing."""
    import sandbox.capacity as sandbox_capacity
    from sandbox.clockify import access_denied, no_route

    if refused:
        answer = access_denied if refused == 403 else lambda: no_route("api/v1/user-groups")
        monkeypatch.setattr(sandbox_capacity, "user_groups", lambda ws, q: answer())
    path = tmp_path / "w.duckdb"
    with Sandbox(CFG) as sb:
        meta = _materialize([clockify_user_groups], sb, path)
        groups = sb.workspace.clockify_user_groups
    con = duckdb.connect(str(path), read_only=True)
    rows = con.execute("select id, name, user_ids from raw.clockify_user_groups order by id").fetchall()
    con.close()
    if refused is None:
        assert rows == sorted((g["id"], g["name"], g["userIds"]) for g in groups)
        assert meta["clockify_user_groups"]["feature_available"].value is True
    else:
        assert rows == []
        assert meta["clockify_user_groups"]["feature_available"].value is False
        assert str(meta["clockify_user_groups"]["feature_not_accessible"].value).startswith(
            f"Clockify answered HTTP {refused}"
        )
        assert "capacity_per_person_week" in meta["clockify_user_groups"]["note"].value
