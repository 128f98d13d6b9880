"""Clockify client: pure helpers and error classification here; behaviour against the sandbox below."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests

from orchestration.clients.clockify.client import ClockifyClient
from orchestration.clients.clockify.normalize import (
    format_api_timestamp,
    format_report_timestamp,
    report_entry_count,
    report_row_to_entry,
    report_rows,
    seconds_to_iso_duration,
)
from orchestration.clients.errors import ApiError, AuthenticationError, ConfigurationError, QueryError
from orchestration.clients.http import Transient
from orchestration.timeutil import as_utc, split_range

UTC = timezone.utc
KEY = "clockify-secret-key-123"


def _client(**overrides) -> ClockifyClient:
    return ClockifyClient(api_key=KEY, workspace_id="ws1", **overrides)


def _response(status: int, body: bytes, path: str = "/api/v1/workspaces/ws1/users", headers=None):
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers.update(headers or {})
    response.request = requests.Request("GET", f"https://api.clockify.me{path}").prepare()
    return response


# --- helpers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "iso"),
    [(0, "PT0S"), (45, "PT45S"), (60, "PT1M"), (5400, "PT1H30M"), (3725, "PT1H2M5S"), (90000, "PT25H")],
)
def test_seconds_to_iso_duration(seconds, iso):
    assert seconds_to_iso_duration(seconds) == iso


def test_timestamps_are_utc_whatever_the_input():
    naive = datetime(2024, 5, 1, 9, 30)
    paris = datetime(2024, 5, 1, 11, 30, tzinfo=timezone(timedelta(hours=2)))
    assert as_utc(naive) == as_utc(paris) == datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    assert format_api_timestamp(paris) == "2024-05-01T09:30:00Z"
    assert format_report_timestamp(paris - timedelta(milliseconds=1)) == "2024-05-01T09:29:59.999Z"


def test_split_range_covers_exactly_in_windows_no_longer_than_the_cap():
    start, end = datetime(2022, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
    windows = split_range(start, end, timedelta(days=366))
    assert windows[0][0] == start and windows[-1][1] == end
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:]))
    assert all(e - s <= timedelta(days=366) for s, e in windows)
    assert len(windows) == 3
    assert split_range(start, start, timedelta(days=1)) == []


def test_report_row_maps_to_main_api_shape_and_keeps_extras():
    """The official report row (api-notes.md): `tags[{id, name}]`, `locked`, "" for a missing id or name,
    no `type`, times in the report's zone with their offset."""
    row = {
        "_id": "e1",
        "description": "[ENG-42] Fix login",
        "userId": "u1",
        "userName": "Ada",
        "userEmail": "ada@example.com",
        "projectId": "",
        "projectName": "",
        "clientId": "",
        "clientName": "",
        "taskId": "",
        "taskName": "",
        "billable": True,
        "tags": [{"id": "t1", "name": "dev"}, {"id": "t2", "name": "ops"}],
        "locked": True,
        "approvalRequestId": None,
        # Rendered in the zone the request named (or the key owner's): stored as UTC.
        "timeInterval": {"start": "2024-05-01T11:00:00+02:00", "end": "2024-05-01T12:30:00+02:00", "duration": 5400},
    }
    entry = report_row_to_entry(row, "ws1")
    assert entry["id"] == "e1" and "_id" not in entry
    assert entry["projectId"] is None and entry["taskId"] is None and entry["clientId"] is None
    assert entry["tagIds"] == ["t1", "t2"] and entry["tags"] == row["tags"]
    assert entry["isLocked"] is True and entry["locked"] is True
    assert entry["workspaceId"] == "ws1"
    assert entry["timeInterval"] == {
        "start": "2024-05-01T09:00:00Z",
        "end": "2024-05-01T10:30:00Z",
        "duration": "PT1H30M",
    }
    assert entry["userName"] == "Ada" and entry["userEmail"] == "ada@example.com" and entry["billable"] is True
    # The report has no entry type: unknown (null), not guessed as REGULAR.
    assert entry["type"] is None


def test_report_rows_in_a_zone_west_of_utc_land_on_their_utc_day():
    row = {"_id": "e3", "userId": "u1", "tags": [], "locked": False, "description": "",
           "timeInterval": {"start": "2024-06-20T20:30:00-07:00", "end": "2024-06-20T21:00:00-07:00", "duration": 1800}}  # fmt: skip
    entry = report_row_to_entry(row, "ws1")
    assert (
        entry["timeInterval"]["start"] == "2024-06-21T03:30:00Z"
        and entry["timeInterval"]["end"] == "2024-06-21T04:00:00Z"
    )
    assert entry["description"] is None and entry["tagIds"] == [] and entry["isLocked"] is False


def test_running_timer_row_has_null_end_and_duration():
    interval = {"start": "2024-05-01T09:00:00Z", "end": None, "duration": None}
    row = {"_id": "e2", "userId": "u1", "tagIds": None, "timeInterval": interval}
    entry = report_row_to_entry(row, "ws1")
    assert entry["timeInterval"] == {"start": "2024-05-01T09:00:00Z", "end": None, "duration": None}
    assert entry["tagIds"] == [] and entry["type"] is None and entry["description"] is None


def test_report_counts_and_empty_reports():
    assert report_entry_count({"totals": [{"entriesCount": 7}], "timeentries": []}) == 7
    assert report_entry_count({"totals": [None], "timeentries": []}) == 0  # nothing matched
    assert report_entry_count({"timeentries": []}) is None
    assert report_rows({"totals": [None]}) == []  # an empty report without the list


# --- configuration and errors ----------------------------------------------------------------------


def test_repr_and_str_never_show_the_key():
    client = _client()
    assert KEY not in repr(client) and KEY not in str(client)
    assert client.requests_made == 0


def test_page_sizes_are_capped_by_validation():
    with pytest.raises(ValueError):
        _client(page_size=5001)
    with pytest.raises(ValueError):
        _client(report_page_size=1001)
    with pytest.raises(ValueError):
        _client(time_entries_strategy="csv")


def test_401_is_an_authentication_error_naming_the_setting():
    with pytest.raises(AuthenticationError) as caught:
        _client()._check(_response(401, b'{"message": "Full authentication is required", "code": 401}'))
    message = str(caught.value)
    assert "CLOCKIFY_API_KEY" in message and KEY not in message and "\n" not in message


@pytest.mark.parametrize("status", [403, 404])
def test_workspace_access_denied_names_the_workspace_setting(status):
    with pytest.raises(ConfigurationError, match="CLOCKIFY_WORKSPACE_ID"):
        _client()._check(_response(status, b'{"message": "Access Denied", "code": 1003}'))


def test_400_is_a_query_error_with_the_servers_reason_redacted():
    body = f'{{"message": "bad page-size for key {KEY}", "code": 400}}'.encode()
    with pytest.raises(QueryError) as caught:
        _client()._check(_response(400, body))
    assert "bad page-size" in str(caught.value) and KEY not in str(caught.value)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried_with_retry_after(status):
    with pytest.raises(Transient) as caught:
        _client()._check(_response(status, b"", headers={"Retry-After": "2"}))
    assert caught.value.retry_after == 2.0


@pytest.mark.parametrize("status", [403, 404])
def test_an_endpoint_some_plans_lack_reads_403_and_404_alike_through_one_check(status):
    """capacity.py (time off, holidays, groups, profiles) and changes.py (the feed) share this check: a plan
    without the endpoint answers 403 or 404 (an open fact) and both raise the caller's error; anything else is
    classified as for every other request."""
    client = _client()

    class Refused(ApiError):
        pass

    check = client.check_unless_refused(lambda s: Refused(f"refused {s}", service="Clockify", status=s))
    with pytest.raises(Refused, match=f"refused {status}"):
        check(_response(status, b'{"message": "Access Denied", "code": 1003}'))
    assert check(_response(200, b"[1]")) == [1]
    with pytest.raises(AuthenticationError):
        check(_response(401, b'{"message": "Api key does not exist", "code": 4003}'))
    with pytest.raises(Transient):
        check(_response(503, b"{}"))


def test_other_4xx_is_a_plain_api_error():
    with pytest.raises(ApiError, match="HTTP 405"):
        _client()._check(_response(405, b"nope", path="/api/v1/workspaces"))


# --- against the sandbox ---------------------------------------------------------------------------

import logging  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402

import dagster as dg  # noqa: E402

from orchestration.clients.errors import ConnectionFailed, RetriesExhausted  # noqa: E402

ANCHOR = datetime(2024, 6, 28, tzinfo=UTC)
MAIN_FIELDS = ("id", "description", "userId", "projectId", "taskId", "tagIds", "billable", "type", "workspaceId",
               "timeInterval")  # fmt: skip


@pytest.fixture(scope="module")
def sb():
    try:
        from sandbox import Sandbox, SandboxConfig
    except ImportError as exc:  # the sandbox server is optional for the unit tests above
        pytest.skip(f"sandbox not available: {exc}")
    with Sandbox(SandboxConfig(seed=7, users=8, days=45, anchor=ANCHOR.date(), projects=6)) as box:
        yield box


@pytest.fixture(autouse=True)
def _no_leftover_faults(request):
    yield
    if "sb" in request.fixturenames:
        request.getfixturevalue("sb").faults.clear()


def _live(sb, **overrides) -> ClockifyClient:
    env = sb.env()
    settings = dict(
        api_key=env["CLOCKIFY_API_KEY"],
        workspace_id=env["CLOCKIFY_WORKSPACE_ID"],
        api_url=env["CLOCKIFY_API_URL"],
        reports_url=env["CLOCKIFY_REPORTS_URL"],
        backoff_base=0.01,
        max_retry_seconds=20.0,
        read_timeout=10.0,
    )
    return ClockifyClient(**{**settings, **overrides})


def _counts(sb) -> dict[str, int]:
    return dict(sb.request_counts())


def _all_range():
    return ANCHOR - timedelta(days=60), ANCHOR + timedelta(days=2)


def _expected_entries(sb, start, end, strategy="per_user"):
    """The sandbox's entries started in [start, end) that the strategy lists: the report leaves running
    timers out (the sandbox's answer to an open fact, `clockify_report_includes_running`), the main API
    lists them."""

    def starts(e):
        return datetime.fromisoformat(e["timeInterval"]["start"].replace("Z", "+00:00"))

    running = strategy == "per_user" or sb.workspace.config.clockify_report_includes_running
    return {
        e["id"]: e
        for e in sb.workspace.clockify_time_entries
        if start <= starts(e) < end and (running or e["timeInterval"]["end"] is not None)
    }


def _main_fields(entry, strategy="per_user"):
    """The main-API fields as the client loads them: an empty description is null (the report sends "" for
    none, the main API "" or null), and a report row has no entry type (null, never guessed)."""
    fields = {k: entry.get(k) for k in MAIN_FIELDS}
    fields["description"] = fields["description"] or None
    if strategy == "report":
        fields["type"] = None
    return fields


def test_lists_page_to_the_end_and_count_requests(sb):
    client = _live(sb, page_size=3)
    before = _counts(sb)
    ws = sb.workspace
    assert [u["id"] for u in client.users()] == [u["id"] for u in ws.clockify_users]
    assert len(ws.clockify_users) > 3 * 2  # several pages were needed
    assert [c["id"] for c in client.clients()] == [c["id"] for c in ws.clockify_clients]
    projects = client.projects()
    assert [p["id"] for p in projects] == [p["id"] for p in ws.clockify_projects]
    assert [t["id"] for t in client.tags()] == [t["id"] for t in ws.clockify_tags]
    assert [w["id"] for w in client.workspaces()] == [w["id"] for w in ws.clockify_workspaces]
    tasks = client.tasks(p["id"] for p in projects)
    expected_tasks = [(pid, t["id"]) for pid, ts in ws.clockify_tasks.items() for t in ts]
    assert sorted((t["projectId"], t["id"]) for t in tasks) == sorted(expected_tasks)
    after = _counts(sb)
    assert client.requests_made == after["clockify"] - before["clockify"]
    assert after["clockify_reports"] == before["clockify_reports"]


def _pages_of(n: int, size: int) -> int:
    """Requests to page n records at `size` a page (a short page is the last one, so n % size == 0 costs one more)."""
    return n // size + 1


def test_tasks_from_the_hydrated_project_list_cost_pages_of_projects_plus_done_listings(sb):
    """The sandbox's default (open fact): hydrated projects embed ACTIVE tasks only, so each project's DONE
    tasks are asked for too (`is-active=false`): pages of projects plus one listing per project."""
    client = _live(sb, page_size=3)
    ws = sb.workspace
    project_ids = [p["id"] for p in ws.clockify_projects]
    assert len(project_ids) > 3  # more than one page of projects
    per_project = client.tasks(project_ids)
    before = client.requests_made
    hydrated = client.hydrated_tasks(project_ids)
    requests = client.requests_made - before
    assert hydrated == per_project and all(t["projectId"] for t in hydrated)
    assert {t["id"] for t in hydrated} == {t["id"] for ts in ws.clockify_tasks.values() for t in ts}
    assert any(t["status"] == "DONE" for t in hydrated)
    assert len(hydrated) > 3 * len(project_ids)  # the per-project endpoint itself needed several pages
    done = {pid: [t for t in ts if t["status"] == "DONE"] for pid, ts in ws.clockify_tasks.items()}
    assert requests == _pages_of(len(project_ids), 3) + sum(_pages_of(len(done[p]), 3) for p in project_ids)
    assert client.hydrated_tasks() == per_project  # default: every listed project
    subset = project_ids[1:3]
    assert client.hydrated_tasks(subset) == client.tasks(subset)


@pytest.mark.parametrize("mode", ["on_request", "always", "never"])
def test_done_tasks_are_read_whichever_way_the_api_lists_them(mode):
    """Whether DONE tasks come from `/projects/{id}/tasks` and `hydrated=true` is open (sandbox switch
    `clockify_done_tasks`): both listings give every task the API lists at all, the same way; where the
    hydrated listing shows DONE tasks ("always"), nothing more is asked. "never": the DONE tasks are in no
    listing (their entries keep the report's `taskName`, see test_clockify_end_to_end.py)."""
    from sandbox import Sandbox, SandboxConfig

    cfg = SandboxConfig(seed=3, users=4, days=20, anchor=ANCHOR.date(), projects=5, clockify_done_tasks=mode)
    with Sandbox(cfg) as box:
        client = _live(box, page_size=50)
        ws = box.workspace
        project_ids = [p["id"] for p in ws.clockify_projects]
        every = {t["id"] for ts in ws.clockify_tasks.values() for t in ts}
        active = {t["id"] for ts in ws.clockify_tasks.values() for t in ts if t["status"] == "ACTIVE"}
        assert active < every  # the data has DONE tasks
        tasks = client.tasks(project_ids)
        assert {t["id"] for t in tasks} == (active if mode == "never" else every) and len(tasks) == len(
            set(map(str, (t["id"] for t in tasks)))
        )
        before = client.requests_made
        assert client.hydrated_tasks(project_ids) == tasks
        expected_requests = 1 if mode == "always" else 1 + len(project_ids)
        assert client.requests_made - before == expected_requests


def test_hydrated_tasks_fall_back_per_project_when_a_record_lacks_tasks(sb, monkeypatch):
    client = _live(sb, page_size=50)
    project_ids = [p["id"] for p in sb.workspace.clockify_projects]
    stripped = project_ids[2]
    real_get = ClockifyClient._get

    def get_without_one_task_list(self, url, url_setting, params=None):
        answer = real_get(self, url, url_setting, params)
        if (params or {}).get("hydrated") == "true":
            answer = [{k: v for k, v in p.items() if not (k == "tasks" and p["id"] == stripped)} for p in answer]
        return answer

    monkeypatch.setattr(ClockifyClient, "_get", get_without_one_task_list)
    before = _counts(sb)["clockify"]
    tasks = client.hydrated_tasks(project_ids)
    # the listing, the DONE tasks of each hydrated project (the listing shows none), then the stripped
    # project's own tasks in both states
    assert _counts(sb)["clockify"] - before == 1 + (len(project_ids) - 1) + 2
    monkeypatch.undo()
    assert tasks == client.tasks(project_ids)
    assert any(t["projectId"] == stripped for t in tasks)


@pytest.mark.parametrize("fallback", [False, True], ids=["done_listings", "fallback"])
def test_per_project_task_reads_overlap_with_the_same_requests_and_tasks(sb, monkeypatch, fallback):
    """The per-project reads (each project's DONE listing, or the fallback for projects the hydrated list shows
    without tasks) go `report_concurrency` at a time, paced: the same requests and tasks as one by one (issue 15:
    100 projects read one at a time cost 9 s). Before, at most one request was ever in flight."""
    import threading
    import time

    project_ids = [p["id"] for p in sb.workspace.clockify_projects]
    real_get = ClockifyClient._get
    state = {"now": 0, "most": 0}
    lock = threading.Lock()

    def get(self, url, url_setting, params=None):
        answer = real_get(self, url, url_setting, params)
        if fallback and (params or {}).get("hydrated") == "true":
            return [{k: v for k, v in p.items() if k != "tasks"} for p in answer]
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.05)  # a request's latency, so that reads side by side are seen side by side
        with lock:
            state["now"] -= 1
        return answer

    monkeypatch.setattr(ClockifyClient, "_get", get)
    one_by_one = _live(sb, page_size=50, report_concurrency=1)
    before = _counts(sb)["clockify"]
    expected = one_by_one.hydrated_tasks(project_ids)
    sequential_requests = _counts(sb)["clockify"] - before
    assert state["most"] == 1
    state["most"] = 0
    before = _counts(sb)["clockify"]
    assert _live(sb, page_size=50, report_concurrency=4).hydrated_tasks(project_ids) == expected
    assert _counts(sb)["clockify"] - before == sequential_requests
    assert state["most"] > 1
    assert sequential_requests == 1 + len(project_ids) * (2 if fallback else 1)


@pytest.mark.parametrize("strategy", ["report", "per_user"])
def test_time_entries_match_the_workspace_exactly(sb, strategy):
    start, end = _all_range()
    client = _live(sb, time_entries_strategy=strategy, report_page_size=100, page_size=40)
    entries = client.time_entries(start, end)
    expected = _expected_entries(sb, start, end, strategy)
    assert len(expected) > 300  # several report pages and several per-user pages
    assert [e["id"] for e in entries] == sorted(expected, key=lambda i: (expected[i]["timeInterval"]["start"], i))
    assert all(_main_fields(e) == _main_fields(expected[e["id"]], strategy) for e in entries)
    # Running timers: the main API lists them; the sandbox's report does not (open fact; the marts never
    # count a running timer either way, test_clockify_end_to_end.py).
    assert any(e["timeInterval"]["end"] is None for e in entries) == (strategy == "per_user")
    assert sb.workspace.config.owner_timezone == "America/Los_Angeles"  # the key owner is at UTC-7


def test_time_entries_stream_page_by_page(sb):
    """iter_time_entries yields a report page's entries before the whole range is fetched."""
    start, end = _all_range()
    client = _live(sb, report_page_size=100, report_concurrency=1)
    stream = client.iter_time_entries(start, end)
    first = next(stream)
    assert client.requests_made == 1
    streamed = [first, *stream]
    assert client.requests_made > 3
    assert sorted(e["id"] for e in streamed) == sorted(e["id"] for e in client.time_entries(start, end))


def test_both_strategies_give_identical_entries(sb):
    start, end = ANCHOR - timedelta(days=20), ANCHOR + timedelta(days=1)
    by_report = _live(sb, time_entries_strategy="report", report_page_size=77).time_entries(start, end)
    by_user = _live(sb, time_entries_strategy="per_user", page_size=50).time_entries(start, end)
    finished = [e for e in by_user if e["timeInterval"]["end"] is not None]
    assert len(finished) < len(by_user)  # the range holds running timers: only the main API lists them
    assert [_main_fields(e, "report") for e in by_report] == [_main_fields(e, "report") for e in finished]
    assert {e["type"] for e in by_report} == {None} and None not in {e["type"] for e in by_user}
    assert by_report[0].get("userName")  # report extras kept


@pytest.mark.parametrize("strategy", ["report", "per_user"])
def test_adjacent_ranges_never_count_an_entry_twice(sb, strategy):
    client = _live(sb, time_entries_strategy=strategy)
    # Cut exactly at an entry's start: it belongs to the later range only.
    pivot_entry = sorted(sb.workspace.clockify_time_entries, key=lambda e: e["timeInterval"]["start"])[200]
    pivot = datetime.fromisoformat(pivot_entry["timeInterval"]["start"].replace("Z", "+00:00"))
    start, end = _all_range()
    first, second = client.time_entries(start, pivot), client.time_entries(pivot, end)
    first_ids, second_ids = {e["id"] for e in first}, {e["id"] for e in second}
    assert not first_ids & second_ids
    assert pivot_entry["id"] in second_ids
    assert first_ids | second_ids == set(_expected_entries(sb, start, end, strategy))
    assert client.time_entries(end, start) == []


def test_long_ranges_are_split_into_report_windows(sb):
    client = _live(sb)
    start, end = ANCHOR - timedelta(days=800), ANCHOR + timedelta(days=1)
    before = _counts(sb)["clockify_reports"]
    entries = client.time_entries(start, end)
    assert {e["id"] for e in entries} == set(_expected_entries(sb, start, end, "report"))
    assert _counts(sb)["clockify_reports"] - before == 3  # 800 days: three windows of at most 366


@pytest.mark.parametrize("strategy", ["report", "per_user"])
def test_a_range_split_at_366_days_inside_the_data_keeps_every_entry_once(sb, strategy):
    """The split point falls at 00:00 UTC in the middle of the data, while the key owner is at UTC-7: the
    per-user windows are widened a day each side and each keeps its own UTC entries only."""
    end = ANCHOR + timedelta(days=1)
    start = end - timedelta(days=366 + 4)  # windows [start, Tue 2024-06-25) and [Tue 2024-06-25, end)
    client = _live(sb, time_entries_strategy=strategy, report_page_size=200, page_size=100)
    streamed = [e["id"] for e in client.iter_time_entries(start, end)]
    split = end - timedelta(days=4)
    expected = _expected_entries(sb, start, end, strategy)
    assert sorted(streamed) == sorted(expected)  # every entry, none twice
    # entries on both sides of the split, hours from it (a US-west Monday afternoon, an Asian Tuesday morning)
    assert any(split - timedelta(hours=8) <= _start(e) < split for e in expected.values())
    assert any(split <= _start(e) < split + timedelta(hours=8) for e in expected.values())


def _start(entry) -> datetime:
    return datetime.fromisoformat(entry["timeInterval"]["start"].replace("Z", "+00:00"))


@pytest.mark.parametrize("margin", [timedelta(days=1), timedelta(0)], ids=["widened", "not-widened"])
def test_per_user_reads_ask_a_day_more_each_side_and_keep_the_utc_day(sb, monkeypatch, margin):
    """GET /user/{id}/time-entries re-reads start/end as wall-clock time in the account's zone (the sandbox:
    the key owner's, UTC-7). The client asks for [start - 1 day, end + 1 day] and keeps the entries whose
    returned UTC start lies in [start, end): exactly the UTC day. Asked for the bare day (margin 0, the
    old client) the API misses the day's first 7 UTC hours, which this team fills."""
    import orchestration.clients.clockify.client as clockify_client

    monkeypatch.setattr(clockify_client, "PER_USER_MARGIN", margin)
    asked: list[dict] = []
    pages = ClockifyClient._pages

    def recording(self, path, params=None):
        if "/time-entries" in path:
            asked.append(dict(params or {}))
        return pages(self, path, params)

    monkeypatch.setattr(ClockifyClient, "_pages", recording)
    day = ANCHOR - timedelta(days=3)
    got = {e["id"] for e in _live(sb, time_entries_strategy="per_user").time_entries(day, day + timedelta(days=1))}
    expected = set(_expected_entries(sb, day, day + timedelta(days=1)))
    early = set(_expected_entries(sb, day, day + timedelta(hours=7)))
    assert (
        early
        and asked
        and all(
            (p["start"], p["end"])
            == (format_api_timestamp(day - margin), format_api_timestamp(day + timedelta(days=1) + margin))
            for p in asked
        )
    )
    if margin:
        assert got == expected  # nothing of the widened days leaks in, nothing of the UTC day is missing
    else:
        assert got < expected and early - got  # the API's reading of the bounds cuts the day's first hours


@pytest.mark.parametrize(
    ("api", "kind", "params"),
    [
        ("clockify", "500", {}),
        ("clockify", "502", {}),
        ("clockify", "503", {}),
        ("clockify", "reset", {}),
        ("clockify", "truncated", {"mode": "incomplete"}),
        ("clockify", "truncated", {"mode": "cut"}),
        ("clockify", "429", {"retry_after": None}),
        ("clockify_reports", "503", {}),
        ("clockify_reports", "truncated", {"mode": "cut"}),
        ("clockify_reports", "reset", {}),
    ],
)
def test_transient_faults_are_retried(sb, api, kind, params, caplog):
    client = _live(sb, page_size=4, report_page_size=10)  # several pages: the fault hits mid-paging
    sb.faults.add(api, kind, times=2, after=1, **params)
    with caplog.at_level(logging.WARNING):
        if api == "clockify":
            assert [u["id"] for u in client.users()] == [u["id"] for u in sb.workspace.clockify_users]
        else:
            start, end = ANCHOR - timedelta(days=5), ANCHOR
            assert len(client.time_entries(start, end)) == len(_expected_entries(sb, start, end))
    assert len([r for r in caplog.records if "retrying in" in r.getMessage()]) == 2
    assert all(KEY not in r.getMessage() and client.api_key not in r.getMessage() for r in caplog.records)


def test_retry_after_is_honoured(sb, caplog):
    client = _live(sb)
    sb.faults.add("clockify", "429", times=1, retry_after=1)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        client.tags()
    assert time.monotonic() - started >= 1.0
    assert any("HTTP 429; retrying in 1.0 s" in r.getMessage() for r in caplog.records)
    assert client.requests_made == 2


def test_slow_answers_time_out_and_are_retried(sb, caplog):
    # A 2 s read timeout and a 5 s answer: far apart, so a loaded machine answering the retry slowly cannot
    # turn it into a second timeout (with 0.3 s it could, and the exact request count flaked).
    client = _live(sb, read_timeout=2.0)
    sb.faults.add("clockify", "slow", times=1, delay=5.0)
    with caplog.at_level(logging.WARNING):
        assert len(client.tags()) == len(sb.workspace.clockify_tags)
    assert client.requests_made == 2
    assert [r.getMessage().split(": ", 1)[1].split(";")[0] for r in caplog.records if "retrying" in r.getMessage()] == [
        "read timeout after 2 s"
    ]


def test_retries_exhausted_raise_one_line_api_error(sb):
    client = _live(sb, max_attempts=3)
    sb.faults.add("clockify", "503", times=5)
    with pytest.raises(RetriesExhausted) as caught:
        client.users()
    message = str(caught.value)
    assert message.startswith("Clockify API still failing after 3 attempts") and "HTTP 503" in message
    assert "\n" not in message and client.api_key not in message
    assert client.requests_made == 3


def test_wrong_key_fails_at_once_without_leaking_it(sb):
    client = _live(sb, api_key=KEY)
    before = _counts(sb)["clockify"]
    with pytest.raises(AuthenticationError) as caught:
        client.users()
    assert _counts(sb)["clockify"] - before == 1 and client.requests_made == 1
    message = str(caught.value)
    assert "CLOCKIFY_API_KEY" in message and KEY not in message and "\n" not in message


@pytest.mark.parametrize("strategy", ["report", "per_user"])
def test_unknown_workspace_names_the_setting(sb, strategy):
    client = _live(sb, workspace_id="000000000000000000000000", time_entries_strategy=strategy)
    with pytest.raises(ConfigurationError, match="CLOCKIFY_WORKSPACE_ID"):
        client.time_entries(ANCHOR - timedelta(days=1), ANCHOR)
    # Not retried: the refused request, then one GET /workspaces that tells a wrong id from a wrong host.
    assert client.requests_made == 2


def _closed_port_url(path: str) -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}{path}"


def test_unreachable_urls_name_their_setting(sb):
    client = _live(sb, api_url=_closed_port_url("/api/v1"), max_attempts=2)
    with pytest.raises(ConnectionFailed, match="check CLOCKIFY_API_URL"):
        client.users()
    client = _live(sb, reports_url=_closed_port_url("/v1"), max_attempts=2)
    with pytest.raises(ConnectionFailed, match="check CLOCKIFY_REPORTS_URL"):
        client.time_entries(ANCHOR - timedelta(days=1), ANCHOR)


def test_in_a_dagster_run_retries_are_logged_and_the_key_never_appears(sb, monkeypatch):
    env = sb.env()
    monkeypatch.setenv("CLOCKIFY_API_KEY", env["CLOCKIFY_API_KEY"])

    @dg.asset
    def clockify_users(clockify: ClockifyClient) -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"rows": len(clockify.users()), "api_requests": clockify.requests_made})

    client = ClockifyClient(
        api_key=dg.EnvVar("CLOCKIFY_API_KEY"),
        workspace_id=env["CLOCKIFY_WORKSPACE_ID"],
        api_url=env["CLOCKIFY_API_URL"],
        reports_url=env["CLOCKIFY_REPORTS_URL"],
        backoff_base=0.01,
    )
    sb.faults.add("clockify", "503", times=1)
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([clockify_users], resources={"clockify": client}, instance=instance)
    assert result.success
    text = " ".join(f"{entry.user_message} {entry.dagster_event}" for entry in instance.all_logs(result.run_id))
    text += str(instance.get_run_by_id(result.run_id))  # run config, tags
    assert "Clockify GET" in text and "HTTP 503; retrying in" in text  # in the run's event log
    assert env["CLOCKIFY_API_KEY"] not in text
    materialization = result.asset_materializations_for_node("clockify_users")[0]
    assert materialization.metadata["api_requests"].value == 2
