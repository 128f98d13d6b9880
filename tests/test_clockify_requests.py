"""Issues 15 and 16, the Clockify side: a daily run after a backfill asks the main API only for what it needs
(the sandbox counts requests per endpoint). Member profiles and each project's DONE tasks (where the hydrated
project list may hide them: an open fact, both answers tested) are read for new members and projects, and a
seventh of the rest a day (the stalest), so every one is read again within 7 days (rotation.py); the raw
tables end as a full read would leave them."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import math
import os
import warnings

import dagster as dg
import duckdb
import pytest
import requests

from assets.clockify import (
    DONE_TASKS_READ_KEY,
    PROFILES_READ_KEY,
    TIME_OFF_FULL_KEY,
    clockify_clients,
    clockify_holidays,
    clockify_member_profiles,
    clockify_projects,
    clockify_tags,
    clockify_tasks,
    clockify_time_off_requests,
    clockify_user_groups,
    clockify_users,
    clockify_workspaces,
)
from assets.common import API_RAW_KEYS
from orchestration.clients.clockify import rotation
from orchestration.resources import clockify_client
from orchestration.runs import run_sync
from orchestration.settings import Settings
from orchestration.warehouse import ledger
from orchestration.warehouse.duckdb import Warehouse
from sandbox import Sandbox, SandboxConfig
from tests.conftest import ANCHOR, SMALL

DAY = 86400.0
START = dt.datetime(2024, 6, 29, 3, 0, tzinfo=dt.UTC)  # the day after the data's last day, the schedule's hour
PROFILE = "clockify GET /workspaces/{id}/member-profile/{id}"
DONE_LISTING = "clockify GET /workspaces/{id}/projects/{id}/tasks?is-active=false&page&page-size"
HYDRATED = "clockify GET /workspaces/{id}/projects?hydrated=true&page&page-size"
LIST_ASSETS = [clockify_workspaces, clockify_clients, clockify_tags, clockify_holidays, clockify_user_groups]
CLOCKIFY_KEYS = [k for k in API_RAW_KEYS if k.path[-1].startswith("clockify_")]


def frozen(**overrides) -> SandboxConfig:
    return SandboxConfig(**SMALL).with_(clock="frozen", clock_start=START, owner_timezone="UTC", **overrides)


def settings(sb, path, record_days: int = 7) -> Settings:
    env = {
        **sb.env(),
        # a week, so the tests see each profile and DONE listing read again in 7 daily runs (default 28)
        "CLOCKIFY_RECORD_REFRESH_DAYS": str(record_days),
        "WAREHOUSE_PATH": str(path),
        "WAREHOUSE_START_DATE": sb.config.start_date.isoformat(),
        "DBT_TARGET_PATH": os.environ["DBT_TARGET_PATH"],  # the session's (conftest), never the checkout's
    }
    return dataclasses.replace(Settings.from_env(env), clock=sb.clock)


def sync(sb, path, assets) -> dict[str, int]:
    """The assets in one run (the code path of `warehouse sync`) on the sandbox's clock; its requests per
    endpoint."""
    sb.reset_counts()
    outcome = run_sync(settings(sb, path), ANCHOR, ANCHOR, asset_selection=[a.key for a in assets])
    assert outcome.result.success
    return sb.endpoint_counts()


def refresh_all(sb, path, assets) -> dict[str, int]:
    """The assets in one run with `refresh_all: true` in the run config of each rotating one (on the
    machine's clock: dg.materialize copies the client without the sandbox's)."""
    rotating = {a.op.name for a in [clockify_member_profiles, clockify_tasks, clockify_time_off_requests, *LIST_ASSETS]}
    ops = {a.op.name: {"config": {"refresh_all": True}} for a in assets if a.op.name in rotating}
    sb.reset_counts()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = dg.materialize(
            assets,
            resources={
                "clockify": clockify_client(settings(sb, path), persist_budget=False),
                "warehouse": Warehouse(path=str(path)),
            },
            run_config={"ops": ops},
        )
    assert result.success
    return sb.endpoint_counts()


def rows(path, sql: str):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def state(path, key: str) -> dict[str, str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return ledger.get_state(con, key, {})


# ============================================================================== the rule
def test_the_rotation_reads_new_ones_then_a_share_a_day_and_each_again_within_the_period():
    ids = [f"u{i:02d}" for i in range(20)]
    now = dt.datetime(2024, 7, 1, 3)
    assert rotation.due(ids, {}, now) == ids  # never read: all
    read_at = rotation.after_reads(ids, {}, ids, now)
    assert rotation.due(ids, read_at, now + dt.timedelta(hours=1)) == []  # read today already
    last_read = {i: now for i in ids}
    per_day = []
    for day in range(1, 15):
        when = now + dt.timedelta(days=day)
        due = rotation.due(ids, read_at, when)
        per_day.append(len(due))
        assert len(due) <= math.ceil(len(ids) / 7)  # 2 or 3 of 20 a day
        assert rotation.due(ids, rotation.after_reads(ids, read_at, due, when), when + dt.timedelta(hours=2)) == []
        read_at = rotation.after_reads(ids, read_at, due, when)
        last_read.update({i: when for i in due})
        assert max(when - t for t in last_read.values()) <= dt.timedelta(days=7)
    assert sum(per_day[:7]) == sum(per_day[7:]) == len(ids)  # each once a period, none twice
    # a longer period: fewer a day, each within it
    assert len(rotation.due(ids, rotation.after_reads(ids, {}, ids, now), now + dt.timedelta(days=1), 28)) <= 1
    # a new id is read at once; an id no longer wanted is forgotten
    assert "new" in rotation.due([*ids, "new"], read_at, now + dt.timedelta(days=15))
    assert set(rotation.after_reads(ids[1:], read_at, [], now)) == set(ids[1:])
    # after a gap, every one read 7 or more days ago is read, whatever the share
    late = now + dt.timedelta(days=30)
    assert rotation.due(ids, read_at, late) == ids


def test_the_sandbox_counts_requests_per_endpoint():
    with Sandbox(SandboxConfig.small(anchor=ANCHOR)) as sb:
        env, ws = sb.env(), sb.workspace
        base = f"{env['CLOCKIFY_API_URL']}/workspaces/{ws.workspace_id}"
        with requests.Session() as http:
            http.headers["X-Api-Key"] = env["CLOCKIFY_API_KEY"]
            for user in ws.clockify_users[:2]:
                assert http.get(f"{base}/member-profile/{user['id']}").status_code == 200
            http.get(f"{base}/projects", params={"hydrated": "true", "page": 1, "page-size": 50})
        assert sb.endpoint_counts() == {
            PROFILE: 2,
            "clockify GET /workspaces/{id}/projects?hydrated=true&page&page-size": 1,
        }
        assert sb.request_counts()["clockify"] == 3
        sb.reset_counts()
        assert sb.endpoint_counts() == {}


# ============================================================================== the daily run's requests
@pytest.mark.slow
def test_a_daily_run_after_a_backfill_asks_the_main_api_only_what_it_needs(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("MARTS_PATH", raising=False)
    path = tmp_path / "warehouse.duckdb"
    with Sandbox(frozen()) as sb:
        ws = sb.workspace
        users, projects = len(ws.clockify_users), len(ws.clockify_projects)
        run_sync(settings(sb, path), sb.config.start_date, ANCHOR, asset_selection=CLOCKIFY_KEYS)
        backfill = sb.endpoint_counts()
        sb.reset_counts()
        sb.clock.advance(DAY)
        outcome = run_sync(settings(sb, path), ANCHOR - dt.timedelta(days=7), ANCHOR, asset_selection=CLOCKIFY_KEYS)
        assert outcome.result.success
        daily = sb.endpoint_counts()
    assert backfill[PROFILE] == users and backfill[DONE_LISTING] == projects  # the first read: all of them
    # What a daily run needs: users, time off and the changes feed (deleted and updated) once each (each fits
    # one page here), the hydrated project list (the projects' table, and the tasks read from it: no plain
    # listing), at most one of the rarely changing lists (read in turn), and a seventh of the profiles and of
    # the projects' DONE listings (rotation, CLOCKIFY_RECORD_REFRESH_DAYS=7 here).
    every_run = ["/users?", "time-off/requests", "entities/deleted?", "entities/updated?"]
    for part in every_run:
        assert [n for k, n in daily.items() if part in k] == [1], part
    in_turn = ["workspaces?", "/clients?", "/tags?", "/holidays", "/user-groups?"]
    lists = sum(n for k, n in daily.items() for part in in_turn if part in k)
    assert lists <= 1
    assert [n for k, n in daily.items() if "/projects?" in k] == [daily[HYDRATED]] == [1]
    assert daily.get(PROFILE, 0) <= math.ceil(users / 7) and daily.get(DONE_LISTING, 0) <= math.ceil(projects / 7)
    needed = len(every_run) + 1 + lists + daily.get(PROFILE, 0) + daily.get(DONE_LISTING, 0)
    main = sum(n for k, n in daily.items() if k.startswith("clockify "))
    # before issues 15/16: 11 lists (the projects twice, plain and hydrated) + 6 profiles + 5 DONE listings = 22;
    # wave 6: 10 lists + a seventh of the profiles and DONE listings = 12
    assert main == needed <= 5 + 1 + math.ceil(users / 7) + math.ceil(projects / 7), daily


@pytest.mark.slow
def test_the_rarely_changing_lists_are_read_in_turn_or_at_once_when_a_record_names_one_they_lack(tmp_path):
    """Workspaces, clients, tags, holidays and user groups: one a day at most, each again within
    CLOCKIFY_REFRESH_DAYS (7); a client a project names, or a group a holiday names, that the table lacks is
    read in the same run."""
    path = tmp_path / "warehouse.duckdb"
    assets = [
        clockify_workspaces,
        clockify_projects,
        clockify_clients,
        clockify_tags,
        clockify_holidays,
        clockify_user_groups,
    ]
    in_turn = {"workspaces?": "ws", "/clients?": "clients", "/tags?": "tags", "/holidays": "hol", "/user-groups?": "ug"}

    def lists_read(counts):
        return sorted(name for part, name in in_turn.items() for k in counts if part in k)

    with Sandbox(frozen()) as sb:
        ws = sb.workspace
        assert lists_read(sync(sb, path, assets)) == sorted(in_turn.values())  # the first run: all
        seen = []
        for _day in range(7):
            sb.clock.advance(DAY)
            read = lists_read(sync(sb, path, assets))
            assert len(read) <= 1
            seen += read
        assert sorted(seen) == sorted(in_turn.values())  # each once within 7 days
        # a new client, named by a project, and a new group, named by a holiday: read in the next run
        client = dict(ws.clockify_clients[0], id="6440cccc2a272474b069cccc", name="New Client")
        ws.clockify_clients.append(client)
        ws.clockify_projects[0]["clientId"] = client["id"]
        ws.clockify_projects[0]["clientName"] = client["name"]
        group = dict(ws.clockify_user_groups[0], id="6440dddd2a272474b069dddd", name="New Group")
        ws.clockify_user_groups.append(group)
        sb.clock.advance(DAY)
        counts = sync(sb, path, assets)
        assert "clients" in lists_read(counts)
        assert client["id"] in {r[0] for r in rows(path, "SELECT id FROM raw.clockify_clients")}
        ws.clockify_holidays[0]["userGroupIds"] = [group["id"]]
        for _day in range(7):  # the holidays are read in turn within 7 days: the groups in that run
            sb.clock.advance(DAY)
            read = lists_read(sync(sb, path, assets))
            if "hol" in read:
                assert "ug" in read
                break
        else:
            raise AssertionError("the holidays were not read again within 7 days")
        assert group["id"] in {r[0] for r in rows(path, "SELECT id FROM raw.clockify_user_groups")}
        # refresh_all reads every list now
        assert lists_read(refresh_all(sb, path, assets)) == sorted(in_turn.values())


@pytest.mark.slow
def test_time_off_a_daily_run_reads_the_recent_requests_and_every_one_in_turn(tmp_path):
    """The first run reads every approved request; a daily run those created in the last 90 days (a request
    approved or withdrawn since is right at once), and every one again within CLOCKIFY_REFRESH_DAYS (7): a
    request created long ago and approved only now is in by then; the table ends as a full read leaves it."""
    path = tmp_path / "warehouse.duckdb"
    assets = [clockify_time_off_requests]

    def held() -> set[str]:
        return {r[0] for r in rows(path, "SELECT id FROM raw.clockify_time_off_requests")}

    def approved(ws) -> set[str]:
        return {r["id"] for r in ws.clockify_time_off_requests if r["status"]["statusType"] == "APPROVED"}

    with Sandbox(frozen()) as sb:
        ws = sb.workspace
        sync(sb, path, assets)
        assert held() == approved(ws)
        pending = [r for r in ws.clockify_time_off_requests if r["status"]["statusType"] != "APPROVED"]
        recent, old = pending[0], pending[1]
        withdrawn = next(r for r in ws.clockify_time_off_requests if r["status"]["statusType"] == "APPROVED")
        old["createdAt"] = "2023-01-02T09:00:00.000000Z"  # asked long ago, approved only now
        for r in (recent, old):
            r["status"]["statusType"] = "APPROVED"
        withdrawn["status"]["statusType"] = "REJECTED"
        full_at = state(path, TIME_OFF_FULL_KEY)
        window_days = 0
        for _day in range(7):
            sb.clock.advance(DAY)
            counts = sync(sb, path, assets)
            assert sum(n for k, n in counts.items() if "time-off" in k) == 1  # one page either way here
            assert recent["id"] in held() and withdrawn["id"] not in held()
            if state(path, TIME_OFF_FULL_KEY) == full_at:  # read the recent ones only: the old one waits
                assert old["id"] not in held()
                window_days += 1
            else:
                break
        else:
            raise AssertionError("time off was not read in full within 7 days")
        assert held() == approved(ws)  # as a full read
        assert window_days  # the frozen clock's days put the full read after some daily ones


# ============================================================================== member profiles
def _new_member(ws) -> str:
    user = copy.deepcopy(ws.clockify_users[-1])
    user.update(id="6440ffff2a272474b069ffff", email="nova.newcomer@example.com", name="Nova Newcomer")
    ws.clockify_users.append(user)
    profile = copy.deepcopy(next(iter(ws.clockify_member_profiles.values())))
    profile.update(email=user["email"], name=user["name"], workCapacity="PT5H")
    ws.clockify_member_profiles[user["id"]] = profile
    return user["id"]


def _capacities(path) -> dict[str, str]:
    return dict(rows(path, "SELECT id, work_capacity FROM raw.clockify_member_profiles"))


@pytest.mark.slow
def test_a_new_members_profile_is_read_at_once_and_a_changed_one_within_seven_days(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    assets = [clockify_users, clockify_member_profiles]
    with Sandbox(frozen()) as sb:
        ws = sb.workspace
        members = [u["id"] for u in ws.clockify_users]
        assert sync(sb, path, assets)[PROFILE] == len(members)
        changed = max(members)  # the last of the rotation (the stalest first, ties by id)
        ws.clockify_member_profiles[changed]["workCapacity"] = "PT3H"
        newcomer = _new_member(ws)
        per_run = []
        for day in range(1, 8):
            sb.clock.advance(DAY)
            per_run.append(sync(sb, path, assets).get(PROFILE, 0))
            held = _capacities(path)
            if day == 1:
                assert held[newcomer] == "PT5H"  # a new member's profile: read at once
                assert held[changed] != "PT3H"  # the others are not all read again every day
            read_at = state(path, PROFILES_READ_KEY)
            assert set(read_at) == set(held) == {*members, newcomer}
            now = sb.clock.now().replace(tzinfo=None)
            assert all(now - dt.datetime.fromisoformat(t) <= dt.timedelta(days=7) for t in read_at.values())
        assert _capacities(path)[changed] == "PT3H"  # read again within 7 days
        # the newcomer, plus a seventh of the members a day
        assert per_run == [1 + math.ceil(len(members) / 7)] + [math.ceil((len(members) + 1) / 7)] * 6
        assert sum(per_run) <= len(members) + 1 + 6
        every = {u: dict(p, userId=u) for u, p in ws.clockify_member_profiles.items()}
        assert refresh_all(sb, path, assets)[PROFILE] == len(members) + 1
    held = {
        json.loads(r)["userId"]: json.loads(r) for (r,) in rows(path, "SELECT _raw FROM raw.clockify_member_profiles")
    }
    assert held == every  # as a full read


# ============================================================================== DONE tasks (open fact)
def _raw_tasks(path) -> list[str]:
    return sorted(
        json.dumps(json.loads(r), sort_keys=True) for (r,) in rows(path, "SELECT _raw FROM raw.clockify_tasks")
    )


def _full_read(sb, tmp_path) -> list[str]:
    """The tasks table a first load (every project's DONE listing) leaves on a fresh warehouse."""
    fresh = tmp_path / f"full-{sb.clock.time():.0f}.duckdb"
    sync(sb, fresh, [clockify_projects, clockify_tasks])
    return _raw_tasks(fresh)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["on_request", "always"])
def test_open_done_tasks_end_as_a_full_read_whether_or_not_the_hydrated_list_holds_them(mode, tmp_path):
    """`clockify_done_tasks`: "on_request" (the sandbox's default), the hydrated project list holds no DONE task;
    "always", it holds them. Tasks that become DONE, ACTIVE again or are deleted are right after the next daily
    run; a DONE task renamed, or one created DONE (which no listing of ACTIVE tasks shows), within 7 days."""
    path = tmp_path / "warehouse.duckdb"
    assets = [clockify_projects, clockify_tasks]
    with Sandbox(frozen(clockify_done_tasks=mode)) as sb:
        ws = sb.workspace
        projects = [p["id"] for p in ws.clockify_projects]
        first = sync(sb, path, assets)
        assert first.get(DONE_LISTING, 0) == (0 if mode == "always" else len(projects))
        assert _raw_tasks(path) == _full_read(sb, tmp_path)
        tasks = {t["id"]: t for ts in ws.clockify_tasks.values() for t in ts}
        active = [t for t in tasks.values() if t["status"] == "ACTIVE"]
        done = [t for t in tasks.values() if t["status"] == "DONE"]
        finished, deleted = active[0], active[-1]
        reopened, renamed = done[0], done[-1]
        finished["status"], reopened["status"] = "DONE", "ACTIVE"
        renamed["name"] += " (renamed while DONE)"
        ws.clockify_tasks[deleted["projectId"]].remove(deleted)
        created = dict(done[1], id="6440eeee2a272474b069eeee", name="Created DONE")
        ws.clockify_tasks[created["projectId"]].append(created)
        for day in range(1, 8):
            sb.clock.advance(DAY)
            counts = sync(sb, path, assets)
            status = dict(rows(path, "SELECT id, status FROM raw.clockify_tasks"))
            assert status[finished["id"]] == "DONE" and status[reopened["id"]] == "ACTIVE"
            assert deleted["id"] not in status
            assert counts[HYDRATED] == 1
            listings = counts.get(DONE_LISTING, 0)
            if mode == "always":
                assert listings == 0  # the listing evidently holds DONE tasks: nothing more is asked
            else:  # a seventh of the projects, plus those a task vanished from (the deleted and the finished)
                assert listings <= math.ceil(len(projects) / 7) + (2 if day == 1 else 0)
        assert _raw_tasks(path) == _full_read(sb, tmp_path)
        read_at = state(path, DONE_TASKS_READ_KEY)
        assert set(read_at) == set(projects)
