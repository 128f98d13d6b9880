"""Clockify client: pure helpers and error classification here; behaviour against the sandbox below."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests

from orchestration.clients.clockify.client import ClockifyClient
from orchestration.clients.clockify.normalize import (
    format_api_timestamp,
    format_report_timestamp,
    report_row_to_entry,
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
    row = {
        "_id": "e1",
        "description": "[ENG-42] Fix login",
        "userId": "u1",
        "userName": "Ada",
        "projectId": "",
        "projectName": None,
        "clientName": None,
        "taskId": "",
        "taskName": None,
        "billable": True,
        "tags": [{"id": "t1", "name": "dev"}, {"_id": "t2", "name": "ops"}],
        "type": "REGULAR",
        # Reports may carry the user's profile offset: stored as UTC.
        "timeInterval": {"start": "2024-05-01T11:00:00+02:00", "end": "2024-05-01T12:30:00+02:00", "duration": 5400},
    }
    entry = report_row_to_entry(row, "ws1")
    assert entry["id"] == "e1" and "_id" not in entry
    assert entry["projectId"] is None and entry["taskId"] is None
    assert entry["tagIds"] == ["t1", "t2"]
    assert entry["workspaceId"] == "ws1"
    assert entry["timeInterval"] == {
        "start": "2024-05-01T09:00:00Z",
        "end": "2024-05-01T10:30:00Z",
        "duration": "PT1H30M",
    }
    assert entry["userName"] == "Ada" and entry["billable"] is True and entry["type"] == "REGULAR"


def test_running_timer_row_has_null_end_and_duration():
    interval = {"start": "2024-05-01T09:00:00Z", "end": None, "duration": None}
    row = {"_id": "e2", "userId": "u1", "tagIds": None, "timeInterval": interval}
    entry = report_row_to_entry(row, "ws1")
    assert entry["timeInterval"] == {"start": "2024-05-01T09:00:00Z", "end": None, "duration": None}
    assert entry["tagIds"] == [] and entry["type"] == "REGULAR" and entry["description"] is None


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


def _expected_entries(sb, start, end):
    def starts(e):
        return datetime.fromisoformat(e["timeInterval"]["start"].replace("Z", "+00:00"))

    return {e["id"]: e for e in sb.workspace.clockify_time_entries if start <= starts(e) < end}


def _main_fields(entry):
    return {k: entry.get(k) for k in MAIN_FIELDS}


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


def test_tasks_from_the_hydrated_project_list_cost_pages_of_projects_not_projects(sb):
    client = _live(sb, page_size=3)
    project_ids = [p["id"] for p in sb.workspace.clockify_projects]
    assert len(project_ids) > 3  # more than one page of projects
    per_project = client.tasks(project_ids)
    before = client.requests_made
    hydrated = client.hydrated_tasks(project_ids)
    requests = client.requests_made - before
    assert hydrated == per_project and all(t["projectId"] for t in hydrated)
    assert len(hydrated) > 3 * len(project_ids)  # the per-project endpoint itself needed several pages
    assert requests == len(project_ids) // 3 + 1  # pages of projects (a short page is the last one)
    assert client.hydrated_tasks() == per_project  # default: every listed project
    subset = project_ids[1:3]
    assert client.hydrated_tasks(subset) == client.tasks(subset)


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
    assert _counts(sb)["clockify"] - before == 2  # the listing, then the stripped project's own tasks
    monkeypatch.undo()
    assert tasks == client.tasks(project_ids)
    assert any(t["projectId"] == stripped for t in tasks)


@pytest.mark.parametrize("strategy", ["report", "per_user"])
def test_time_entries_match_the_workspace_exactly(sb, strategy):
    start, end = _all_range()
    client = _live(sb, time_entries_strategy=strategy, report_page_size=100, page_size=40)
    entries = client.time_entries(start, end)
    expected = _expected_entries(sb, start, end)
    assert len(expected) > 300  # several report pages and several per-user pages
    assert [e["id"] for e in entries] == sorted(expected, key=lambda i: (expected[i]["timeInterval"]["start"], i))
    assert all(_main_fields(e) == _main_fields(expected[e["id"]]) for e in entries)
    assert any(e["timeInterval"]["end"] is None for e in entries)  # running timers included


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
    assert [_main_fields(e) for e in by_report] == [_main_fields(e) for e in by_user]
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
    assert first_ids | second_ids == set(_expected_entries(sb, start, end))
    assert client.time_entries(end, start) == []


def test_long_ranges_are_split_into_report_windows(sb):
    client = _live(sb)
    start, end = ANCHOR - timedelta(days=800), ANCHOR + timedelta(days=1)
    before = _counts(sb)["clockify_reports"]
    entries = client.time_entries(start, end)
    assert {e["id"] for e in entries} == set(_expected_entries(sb, start, end))
    assert _counts(sb)["clockify_reports"] - before == 3  # 800 days: three windows of at most 366


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
