"""Issue 14, sandbox side: a clock the test controls, the real API budgets, Linear's trash purge and the
Clockify changes feed, as api-notes.md describes them."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import requests

from sandbox import Sandbox, SandboxConfig
from sandbox.clock import Clock, RemoteClock
from sandbox.linear import estimate_complexity

ANCHOR = dt.date(2024, 6, 30)
START = dt.datetime(2024, 7, 1, 6, 0, tzinfo=dt.timezone.utc)
FROZEN = SandboxConfig.small(anchor=ANCHOR, clock="frozen", clock_start=START)
HOUR = 3600.0
DAY = 86400.0


@pytest.fixture()
def http():
    with requests.Session() as s:
        yield s


def ck(sb, http, path, env=None, **params):
    env = env or sb.env()
    return http.get(
        env["CLOCKIFY_API_URL"] + path, params=params, headers={"X-Api-Key": env["CLOCKIFY_API_KEY"]}, timeout=20
    )


def report(sb, http, body, env=None):
    env = env or sb.env()
    url = f"{env['CLOCKIFY_REPORTS_URL']}/workspaces/{sb.workspace.workspace_id}/reports/detailed"
    return http.post(url, json=body, headers={"X-Api-Key": env["CLOCKIFY_API_KEY"]}, timeout=20)


def gql(sb, http, query, variables=None):
    env = sb.env()
    return http.post(
        env["LINEAR_API_URL"],
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": env["LINEAR_API_KEY"]},
        timeout=30,
    )


def ws_path(sb, rest=""):
    return f"/workspaces/{sb.workspace.workspace_id}{rest}"


# ============================================================================== the clock
def test_real_time_is_the_default_and_advance_jumps_it():
    with Sandbox(SandboxConfig.small(anchor=ANCHOR)) as sb:
        assert sb.clock.mode == "real" and sb.workspace.clock is sb.clock
        assert abs(sb.clock.time() - time.time()) < 2
        sb.clock.advance(DAY)
        assert abs(sb.clock.time() - time.time() - DAY) < 2
        assert abs((sb.workspace.now() - dt.datetime.now(dt.timezone.utc)).total_seconds() - DAY) < 2


def test_frozen_and_simulated_clocks():
    c = Clock("frozen", START)
    assert c.now() == START and c() == START
    c.sleep(3 * HOUR)  # instant
    assert c.now() == START + dt.timedelta(hours=3)
    c.set("2024-07-02T00:00:00Z")
    assert c.now() == dt.datetime(2024, 7, 2, tzinfo=dt.timezone.utc)
    with pytest.raises(ValueError):
        c.advance(-1)
    with pytest.raises(ValueError):
        c.set(START)
    s = Clock("simulated", START)
    t0 = time.perf_counter()
    s.sleep(30 * DAY)
    assert time.perf_counter() - t0 < 1 and s.time() - START.timestamp() >= 30 * DAY
    # the config's default start: the day after the data's anchor
    assert Clock.from_config(SandboxConfig.small(anchor=ANCHOR, clock="frozen")).now() == dt.datetime(
        2024, 7, 1, tzinfo=dt.timezone.utc
    )


def test_mutations_are_stamped_with_the_sandbox_clock():
    with Sandbox(FROZEN) as sb:
        ws = sb.workspace
        sb.clock.advance(90)
        issue = next(i for i in ws.linear_issues if not i["archivedAt"])
        ws.edit_issue(issue["id"], title="Renamed")
        assert issue["updatedAt"] == "2024-07-01T06:01:30.000Z"


def test_clock_over_http_is_not_counted(http):
    with Sandbox(FROZEN) as sb:
        url = sb.base_url + "/_sandbox/clock"
        assert http.get(url).json()["now"] == "2024-07-01T06:00:00.000Z"
        assert http.post(url, json={"advance": 7200}).json()["now"] == "2024-07-01T08:00:00.000Z"
        assert http.post(url, json={"sleep": 60}).json()["epoch"] == START.timestamp() + 7260
        assert http.post(url, json={"set": "2024-07-03T00:00:00Z"}).json()["now"] == "2024-07-03T00:00:00.000Z"
        assert http.post(url, json={"advance": -5}).status_code == 400
        assert http.post(url, json={"rewind": 5}).status_code == 400
        remote = RemoteClock(sb.base_url)
        assert remote.mode == "frozen" and remote.now() == sb.clock.now()
        remote.advance(HOUR)
        assert sb.workspace.now() == dt.datetime(2024, 7, 3, 1, tzinfo=dt.timezone.utc)
        assert sb.request_counts() == {"clockify": 0, "clockify_reports": 0, "linear": 0}


def test_a_sandbox_in_another_process_is_driven_over_http():
    from benchmarks.sandbox_proc import SandboxProcess

    cfg = SandboxConfig.small(
        anchor=ANCHOR, clock="frozen", clock_start=START, clockify_plan="FREE", clockify_free_requests_per_hour=3
    )
    with SandboxProcess(cfg) as proc, requests.Session() as http:
        env = proc.env
        base = env["LINEAR_API_URL"].rsplit("/graphql", 1)[0]
        get = lambda: http.get(
            env["CLOCKIFY_API_URL"] + "/user", headers={"X-Api-Key": env["CLOCKIFY_API_KEY"]}, timeout=10
        )  # noqa: E731
        assert [get().status_code for _ in range(4)] == [200, 200, 200, 429]
        RemoteClock(base).sleep(HOUR)  # an hour of budget in no time
        assert get().status_code == 200
        assert proc.counts()["clockify"] == 5


# ============================================================================== Linear budgets
ISSUES_250 = """query Page($after: String) {
  issues(first: 250, after: $after, includeArchived: true) {
    nodes { id identifier number title estimate priority createdAt updatedAt startedAt completedAt canceledAt archivedAt
            team { id key } state { id type } cycle { id number } assignee { id } project { id } }
    pageInfo { hasNextPage endCursor }
  }
}"""
HEAVY = "{ teams(first: 36) { nodes { issues(first: 250) { nodes { id } } } } }"  # 9,973 points


def test_complexity_estimator_follows_the_notes():
    assert estimate_complexity("{ viewer { id } }") == pytest.approx(1.1)  # an object and a property
    assert estimate_complexity("{ issues { nodes { id } } }") == pytest.approx(1 + 50 * 1.1)  # first defaults to 50
    assert estimate_complexity(
        "query($n: Int) { issues(first: $n) { nodes { id title } pageInfo { hasNextPage } } }", {"n": 10}
    ) == pytest.approx(1 + 10 * 1.2 + 1.1)
    page = estimate_complexity(ISSUES_250)  # 12 scalars and 5 small refs per issue
    assert 1_900 <= page <= 2_700  # "a flat page of 250 issues ... about 2,300 points"
    assert estimate_complexity(HEAVY) == pytest.approx(9973)
    with pytest.raises(ValueError):
        estimate_complexity("{ issues { nodes { nope } } }")


def test_linear_headers_announce_both_budgets(http):
    with Sandbox(FROZEN) as sb:
        r = gql(sb, http, ISSUES_250)
        h = r.headers
        cost = estimate_complexity(ISSUES_250)
        assert r.status_code == 200 and int(h["x-complexity"]) == round(cost)
        assert (h["x-ratelimit-requests-limit"], h["x-ratelimit-requests-remaining"]) == ("5000", "4999")
        assert h["x-ratelimit-complexity-limit"] == "250000"
        assert int(h["x-ratelimit-complexity-remaining"]) == int(250_000 - cost)
        now_ms = START.timestamp() * 1000
        assert int(h["x-ratelimit-requests-reset"]) == int(now_ms + 3_600_000 / 5000)  # full again (epoch ms)
        assert int(h["x-ratelimit-complexity-reset"]) == pytest.approx(now_ms + cost * 3_600_000 / 250_000, abs=2)
        sb.clock.advance(HOUR / 2)  # refilled continuously
        assert gql(sb, http, "{ viewer { id } }").headers["x-ratelimit-requests-remaining"] == "4999"


@pytest.mark.parametrize("status", [400, 429])
def test_linear_complexity_budget_runs_out_and_refills(status, http):
    with Sandbox(FROZEN.with_(enforce_rate_limits=True, linear_ratelimit_status=status)) as sb:
        codes = [gql(sb, http, HEAVY).status_code for _ in range(26)]
        assert codes[:25] == [200] * 25
        r = gql(sb, http, HEAVY)  # 25 x 9,973 spent: not enough left for another
        assert r.status_code == status and r.json()["errors"][0]["extensions"]["code"] == "RATELIMITED"
        assert int(r.headers["x-ratelimit-complexity-remaining"]) < 9973
        left = int(r.headers["x-ratelimit-complexity-remaining"])
        assert gql(sb, http, "{ viewer { id } }").status_code == 200  # a cheap query still fits
        after = int(gql(sb, http, "{ viewer { id } }").headers["x-ratelimit-complexity-remaining"])
        assert left - 3 <= after <= left - 2  # two cheap queries of 1.1 were charged; the refused one was free
        sb.clock.advance((9973 - left + 5) * HOUR / 250_000)
        assert gql(sb, http, HEAVY).status_code == 200


def test_linear_request_budget(http):
    with Sandbox(FROZEN.with_(enforce_rate_limits=True, linear_requests_per_hour=3)) as sb:
        codes = [gql(sb, http, "{ viewer { id } }").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 400]
        sb.clock.advance(HOUR / 3)  # one request's worth
        assert [gql(sb, http, "{ viewer { id } }").status_code for _ in range(2)] == [200, 400]
    assert SandboxConfig().linear_requests_per_hour == 5000 and SandboxConfig().linear_complexity_per_hour == 250_000


def test_one_query_at_most_10000_points(http):
    with Sandbox(FROZEN.with_(enforce_rate_limits=True)) as sb:
        r = gql(sb, http, "{ teams(first: 40) { nodes { issues(first: 250) { nodes { id } } } } }")
        assert r.status_code == 400 and r.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        assert r.headers["x-ratelimit-complexity-remaining"] == "250000"  # not charged


# ============================================================================== Clockify budgets
def test_free_plan_allows_30_requests_an_hour_for_the_whole_workspace(http):
    with Sandbox(FROZEN.with_(clockify_plan="FREE")) as sb:
        assert ck(sb, http, "/workspaces").json()[0]["featureSubscriptionType"] == "FREE"
        body = {"dateRangeStart": "2024-06-20T00:00:00Z", "dateRangeEnd": "2024-06-20T23:59:59Z"}
        codes = [ck(sb, http, ws_path(sb, "/users")).status_code for _ in range(15)]
        codes += [report(sb, http, body).status_code for _ in range(14)]  # the reports host shares it
        assert codes == [200] * 29
        r = report(sb, http, body)
        assert r.status_code == 429 and r.json() == {"message": "Too many requests", "code": 429}
        assert not [h for h in r.headers if "retry" in h.lower() or "reset" in h.lower()]
        sb.clock.advance(HOUR / 2)
        assert ck(sb, http, "/user").status_code == 429
        sb.clock.advance(HOUR / 2)
        assert ck(sb, http, "/user").status_code == 200


def test_paid_plan_allows_50_requests_a_second_per_key(http):
    with Sandbox(FROZEN.with_(enforce_rate_limits=True)) as sb:
        assert ck(sb, http, "/workspaces").json()[0]["featureSubscriptionType"] != "FREE"
        codes = [ck(sb, http, "/user").status_code for _ in range(49)]  # 50 with the one above
        assert codes == [200] * 49
        assert ck(sb, http, ws_path(sb, "/users")).status_code == 429
        sb.clock.advance(1)
        assert ck(sb, http, "/user").status_code == 200


# ============================================================================== Linear deletions
ALL_Q = """query($after: String) { issues(first: 250, after: $after, includeArchived: true) {
  nodes { id identifier trashed archivedAt updatedAt } pageInfo { hasNextPage endCursor } } }"""


def all_issues(sb, http, q=ALL_Q):
    out, after = [], None
    while True:
        conn = gql(sb, http, q, {"after": after}).json()["data"]["issues"]
        out += conn["nodes"]
        if not conn["pageInfo"]["hasNextPage"]:
            return out
        after = conn["pageInfo"]["endCursor"]


def test_trashed_issues_are_purged_after_30_days(http):
    with Sandbox(FROZEN) as sb:
        ws = sb.workspace
        victim = next(i for i in ws.linear_issues if not i["archivedAt"] and i["cycle"] is not None)
        ident, team, cycle = victim["identifier"], victim["team"]["key"], victim["cycle"]["id"]
        ws.trash_issue(victim["id"])
        seen = {i["id"]: i for i in all_issues(sb, http)}
        assert seen[victim["id"]]["trashed"] is True and seen[victim["id"]]["archivedAt"] == "2024-07-01T06:00:00.000Z"
        live = all_issues(sb, http, ALL_Q.replace(", includeArchived: true", ""))
        assert victim["id"] not in {i["id"] for i in live}  # trashed = archived: hidden by default
        sb.clock.advance(30 * DAY - 1)
        assert victim["id"] in {i["id"] for i in all_issues(sb, http)}
        sb.clock.advance(1)
        assert victim["id"] not in {i["id"] for i in all_issues(sb, http)}
        r = gql(sb, http, "query($id: String!) { issue(id: $id) { id } }", {"id": ident})
        assert r.json()["data"] is None or r.json()["data"]["issue"] is None
        nested = gql(
            sb,
            http,
            "query($k: String!, $c: String!) { team(id: $k) { issues(first: 250, includeArchived: true) { nodes { id } } }"
            " cycle(id: $c) { issues(first: 250, includeArchived: true) { nodes { id } } } }",
            {"k": team, "c": cycle},
        ).json()["data"]
        assert victim["id"] not in {
            i["id"] for i in nested["team"]["issues"]["nodes"] + nested["cycle"]["issues"]["nodes"]
        }
        assert victim["id"] not in {i["id"] for i in ws.linear_issues} and ws.linear_purged[-1]["id"] == victim["id"]


def test_generated_trash_is_purged_within_26_days(http):
    with Sandbox(SandboxConfig(seed=7, anchor=ANCHOR, clock="frozen")) as sb:
        trashed = {i["id"] for i in sb.workspace.linear_issues if i["trashed"]}
        assert trashed and trashed <= {i["id"] for i in all_issues(sb, http) if i["trashed"]}
        sb.clock.advance(29 * DAY)
        assert not trashed & {i["id"] for i in all_issues(sb, http)}


def test_open_archiving_and_trashing_bump_updated_at_by_default(http):
    with Sandbox(FROZEN) as sb:
        assert sb.config.linear_archive_bumps_updated_at is True
        a, b = [i for i in sb.workspace.linear_issues if not i["archivedAt"]][:2]
        sb.workspace.archive_issue(a["id"])
        sb.workspace.trash_issue(b["id"])
        got = {i["id"]: i for i in all_issues(sb, http)}
        assert got[a["id"]]["updatedAt"] == got[b["id"]]["updatedAt"] == "2024-07-01T06:00:00.000Z"


def test_updated_at_switch_leaves_it_alone(http):
    with Sandbox(FROZEN.with_(linear_archive_bumps_updated_at=False)) as sb:
        a, b = [i for i in sb.workspace.linear_issues if not i["archivedAt"]][:2]
        before = a["updatedAt"], b["updatedAt"]
        sb.workspace.archive_issue(a["id"])
        sb.workspace.trash_issue(b["id"])
        got = {i["id"]: i for i in all_issues(sb, http)}
        assert (got[a["id"]]["updatedAt"], got[b["id"]]["updatedAt"]) == before
        assert got[a["id"]]["archivedAt"] and got[b["id"]]["trashed"] is True
        assert not [
            i for i in all_issues(sb, http) if i["updatedAt"] >= "2024-07-01"
        ]  # an updatedAt watermark misses both


# ============================================================================== Clockify changes feed
def feed(sb, http, kind, **params):
    return ck(sb, http, ws_path(sb, f"/entities/{kind}"), **{"type": "TIME_ENTRY", **params})


def test_changes_feed_lists_deleted_and_updated_entries(http):
    with Sandbox(FROZEN.with_(days=60)) as sb:  # the oldest entries were created more than 30 days ago
        ws = sb.workspace
        old = sorted(
            (e for e in ws.clockify_time_entries if e["timeInterval"]["end"]), key=lambda e: e["timeInterval"]["start"]
        )
        gone, edited = old[0], old[1]
        ws.delete_time_entry(gone["id"])
        sb.clock.advance(10)
        ws.edit_time_entry(edited["id"], description="moved", start="2024-06-20T08:00:00Z", end="2024-06-20T09:00:00Z")
        window = {"start": "2024-07-01T00:00:00Z", "end": "2024-07-02T00:00:00Z"}
        assert feed(sb, http, "deleted", **window).json() == {"response": []}  # about a minute later
        sb.clock.advance(60)
        deleted = feed(sb, http, "deleted", **window).json()["response"]
        assert [(d["id"], d["deletedAt"], d["documentCode"]) for d in deleted] == [
            (gone["id"], "2024-07-01T06:00:00Z", "TIME_ENTRY")
        ]
        assert (
            deleted[0]["document"]["timeInterval"] == gone["timeInterval"]
            and deleted[0]["document"]["userId"] == gone["userId"]
        )
        updated = feed(sb, http, "updated", **window).json()["response"]
        assert [(u["id"], u["updatedAt"]) for u in updated] == [(edited["id"], "2024-07-01T06:00:10Z")]
        assert updated[0]["document"]["timeInterval"]["start"] == "2024-06-20T08:00:00Z"
        assert feed(sb, http, "deleted", start="2024-07-02T00:00:00Z", end="2024-07-03T00:00:00Z").json() == {
            "response": []
        }
        assert feed(sb, http, "deleted").json()["response"] == deleted  # default: the 30 days up to now


def test_changes_feed_leaves_out_entries_created_in_the_window(http):
    with Sandbox(FROZEN) as sb:
        ws = sb.workspace
        uid = ws.clockify_users[1]["id"]
        new = ws.add_time_entry(uid, "2024-06-30T10:00:00Z", "2024-06-30T11:00:00Z", description="typo")
        sb.clock.advance(HOUR)
        ws.delete_time_entry(new["id"])
        sb.clock.advance(120)
        assert feed(sb, http, "deleted", start="2024-07-01T00:00:00Z", end="2024-07-02T00:00:00Z").json() == {
            "response": []
        }
        later = feed(sb, http, "deleted", start="2024-07-01T06:30:00Z", end="2024-07-02T00:00:00Z").json()["response"]
        assert [d["id"] for d in later] == [new["id"]]
        created = feed(sb, http, "created", start="2024-07-01T00:00:00Z", end="2024-07-02T00:00:00Z").json()["response"]
        assert [(c["id"], c["createdAt"]) for c in created] == [(new["id"], "2024-07-01T06:00:00Z")]


def test_changes_feed_parameters(http):
    with Sandbox(FROZEN) as sb:
        ws = sb.workspace
        victims = [e["id"] for e in ws.clockify_time_entries[:5]]
        for i, v in enumerate(victims):
            sb.clock.advance(1)
            ws.delete_time_entry(v)
        sb.clock.advance(60)
        window = {"start": "2024-07-01T00:00:00Z", "end": "2024-07-02T00:00:00Z"}  # after they were created
        pages = [feed(sb, http, "deleted", page=p, limit=2, **window).json()["response"] for p in (0, 1, 2, 3)]
        assert [[d["id"] for d in p] for p in pages] == [victims[0:2], victims[2:4], victims[4:5], []]  # 0-based
        both = ck(sb, http, ws_path(sb, "/entities/deleted"), type="TIME_ENTRY,TAGS", **window).json()["response"]
        assert [d["id"] for d in both] == victims
        repeated = sb.env()["CLOCKIFY_API_URL"] + ws_path(sb, "/entities/deleted") + "?type=TAGS&type=TIME_ENTRY"
        got = http.get(repeated, params=window, headers={"X-Api-Key": sb.env()["CLOCKIFY_API_KEY"]}).json()
        assert [d["id"] for d in got["response"]] == victims
        # the default window (30 days up to now) holds their creation too: created and deleted in it, left out
        assert feed(sb, http, "deleted").json() == {"response": []}
        assert ck(sb, http, ws_path(sb, "/entities/deleted"), type="TAGS").json() == {"response": []}
        assert ck(sb, http, ws_path(sb, "/entities/deleted")).status_code == 400  # type is required
        assert ck(sb, http, ws_path(sb, "/entities/deleted"), type="NOPE").status_code == 400
        assert feed(sb, http, "deleted", start="2024-07-01").status_code == 400


@pytest.mark.parametrize("mode,status", [("off_404", 404), ("off_403", 403)])
def test_changes_feed_switch(mode, status, http):
    with Sandbox(FROZEN.with_(clockify_changes_feed=mode)) as sb:
        for kind in ("deleted", "updated"):
            assert feed(sb, http, kind).status_code == status
        assert ck(sb, http, ws_path(sb, "/users")).status_code == 200


def test_injected_ratelimited_faults_announce_an_empty_bucket(http):
    """A RATELIMITED fault says what a real exhausted bucket says: nothing left, full again in an hour
    (before: remaining 0 with the reset of a nearly full bucket, seconds away)."""
    with Sandbox(FROZEN) as sb:
        for kind, status in (("ratelimited_400", 400), ("ratelimited_429", 429)):
            sb.faults.add("linear", kind)
            r = gql(sb, http, "{ viewer { id } }")
            assert r.status_code == status and r.json()["errors"][0]["extensions"]["code"] == "RATELIMITED"
            assert r.headers["x-ratelimit-requests-remaining"] == "0"
            assert int(r.headers["x-ratelimit-requests-reset"]) == int((START.timestamp() + HOUR) * 1000)


def test_stopping_a_timer_is_an_update_not_a_creation(http):
    """The creation time of a generated entry is fixed before its first change: a timer stopped now
    shows in /updated for a window that holds the stop, not its start."""
    with Sandbox(FROZEN) as sb:
        running = next(e for e in sb.workspace.clockify_time_entries if e["timeInterval"]["end"] is None)
        sb.workspace.stop_timer(running["id"])
        sb.clock.advance(120)
        got = feed(sb, http, "updated", start="2024-07-01T00:00:00Z", end="2024-07-02T00:00:00Z").json()["response"]
        assert [(u["id"], u["document"]["timeInterval"]["end"]) for u in got] == [
            (running["id"], "2024-07-01T06:00:00Z")
        ]
