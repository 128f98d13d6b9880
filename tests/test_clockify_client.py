"""Clockify client: pure helpers and error classification here; behaviour against the sandbox below."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests

from orchestration.clients.clockify import (
    ClockifyClient,
    as_utc,
    format_api_timestamp,
    format_report_timestamp,
    report_row_to_entry,
    seconds_to_iso_duration,
    split_range,
)
from orchestration.clients.errors import ApiError, AuthenticationError, ConfigurationError, QueryError
from orchestration.clients.http import Transient

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
    ("seconds", "iso"), [(0, "PT0S"), (45, "PT45S"), (60, "PT1M"), (5400, "PT1H30M"), (3725, "PT1H2M5S"), (90000, "PT25H")]
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
    assert entry["timeInterval"] == {"start": "2024-05-01T09:00:00Z", "end": "2024-05-01T10:30:00Z", "duration": "PT1H30M"}
    assert entry["userName"] == "Ada" and entry["billable"] is True and entry["type"] == "REGULAR"


def test_running_timer_row_has_null_end_and_duration():
    row = {"_id": "e2", "userId": "u1", "tagIds": None, "timeInterval": {"start": "2024-05-01T09:00:00Z", "end": None, "duration": None}}
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
