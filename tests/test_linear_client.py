"""Linear client: answer classification and helpers here; behaviour against the sandbox below."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import requests

from orchestration.clients.errors import ApiError, AuthenticationError, FeatureNotAccessible, QueryError
from orchestration.clients.http import Transient
from orchestration.clients.linear.client import (
    LinearClient,
    classify_response,
    operation_name,
    rate_limit_wait,
    updated_at_filter,
)
from orchestration.clients.linear.queries import ISSUES_QUERY

UTC = timezone.utc
KEY = "lin_api_supersecret0123456789"


def _response(status: int, body, headers=None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response.headers.update(headers or {})
    response.request = requests.Request("POST", "https://api.linear.app/graphql").prepare()
    return response


def _errors(code: str, message: str = "boom") -> dict:
    return {"errors": [{"message": message, "extensions": {"code": code}}], "data": None}


def test_operation_name_and_filter():
    assert operation_name(ISSUES_QUERY) == "Issues"
    assert updated_at_filter(None, None) is None
    start = datetime(2024, 5, 1, tzinfo=UTC)
    assert updated_at_filter(start, None) == {"updatedAt": {"gte": "2024-05-01T00:00:00.000Z"}}
    paris = datetime(2024, 5, 2, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    assert updated_at_filter(start, paris) == {
        "updatedAt": {"gte": "2024-05-01T00:00:00.000Z", "lt": "2024-05-02T00:00:00.000Z"}
    }


def test_data_is_returned_on_success():
    assert classify_response(_response(200, {"data": {"users": {}}}), "Users") == {"users": {}}


@pytest.mark.parametrize("status", [400, 429])
def test_ratelimited_is_transient_and_honours_a_near_reset(status):
    now = datetime.now(UTC).timestamp()
    headers = {"x-ratelimit-requests-remaining": "0", "x-ratelimit-requests-reset": str(int((now + 5) * 1000))}
    with pytest.raises(Transient) as caught:
        classify_response(_response(status, _errors("RATELIMITED"), headers), "Issues")
    assert "RATELIMITED" in caught.value.reason
    assert 3.0 < caught.value.retry_after <= 5.0


def test_rate_limit_wait():
    now = 1_000_000.0
    reset = lambda seconds: str(int((now + seconds) * 1000))  # noqa: E731
    assert rate_limit_wait({"Retry-After": "3"}, now=now) == 3.0
    assert rate_limit_wait({"x-ratelimit-requests-reset": reset(10)}, now=now) == pytest.approx(10.0)
    # A far reset (hourly window) is not worth sleeping for: back off instead.
    assert rate_limit_wait({"x-ratelimit-requests-reset": reset(1800)}, now=now) is None
    # The bucket that still has room does not explain the limit; the exhausted one does.
    headers = {
        "x-ratelimit-requests-remaining": "100",
        "x-ratelimit-requests-reset": reset(50),
        "x-ratelimit-complexity-remaining": "0",
        "x-ratelimit-complexity-reset": reset(4),
    }
    assert rate_limit_wait(headers, now=now) == pytest.approx(4.0)
    assert rate_limit_wait({}, now=now) is None
    assert rate_limit_wait({"x-ratelimit-requests-reset": "soon"}, now=now) is None


@pytest.mark.parametrize("status", [400, 401, 200])
def test_authentication_error_names_the_setting_not_the_key(status):
    body = _errors("AUTHENTICATION_ERROR", f"Authentication required, not authenticated: {KEY}")
    with pytest.raises(AuthenticationError) as caught:
        classify_response(_response(status, body), "Users", secret=KEY)
    assert "LINEAR_API_KEY" in str(caught.value) and KEY not in str(caught.value)


def test_validation_failure_names_the_query():
    body = _errors("GRAPHQL_VALIDATION_FAILED", 'Cannot query field "foo" on type "Issue".\nDid you mean "id"?')
    with pytest.raises(QueryError) as caught:
        classify_response(_response(400, body), "Issues")
    message = str(caught.value)
    assert "query Issues" in message and 'Cannot query field "foo"' in message
    assert "linear/queries.py" in message and "\n" not in message


def test_other_graphql_errors_fail_even_on_200_with_partial_data():
    body = {"errors": [{"message": "Entity not found", "extensions": {"code": "INVALID_INPUT"}}], "data": {"x": 1}}
    with pytest.raises(QueryError, match="query Issues"):
        classify_response(_response(200, body), "Issues")
    body = {"errors": [{"message": "Forbidden", "extensions": {"code": "FORBIDDEN"}}]}
    with pytest.raises(ApiError, match="Linear query Customers failed"):
        classify_response(_response(400, body), "Customers")


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(status):
    with pytest.raises(Transient):
        classify_response(_response(status, b"<html>bad gateway</html>"), "Users")


def test_truncated_json_on_200_is_transient():
    with pytest.raises(Transient, match="invalid JSON"):
        classify_response(_response(200, b'{"data": {"issues": {"nodes": [{"id"'), "Issues")


def test_answer_without_data_is_an_error():
    with pytest.raises(ApiError, match="without `data`"):
        classify_response(_response(200, {"data": None}), "Issues")


def test_repr_never_shows_the_key_and_page_size_is_capped():
    client = LinearClient(api_key=KEY)
    assert KEY not in repr(client)
    with pytest.raises(ValueError):
        LinearClient(api_key=KEY, page_size=251)


# --- against the sandbox ---------------------------------------------------------------------------

import logging  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402

from orchestration.clients.errors import ConnectionFailed, RetriesExhausted  # noqa: E402

ANCHOR = datetime(2024, 6, 28, tzinfo=UTC)


@pytest.fixture(scope="module")
def sb():
    try:
        from sandbox import Sandbox, SandboxConfig
    except ImportError as exc:  # the sandbox server is optional for the unit tests above
        pytest.skip(f"sandbox not available: {exc}")
    with Sandbox(SandboxConfig(seed=7, users=12, teams=3, issues=120, days=45, anchor=ANCHOR.date())) as box:
        yield box


@pytest.fixture(autouse=True)
def _no_leftover_faults(request):
    yield
    if "sb" in request.fixturenames:
        request.getfixturevalue("sb").faults.clear()


def _live(sb, **overrides) -> LinearClient:
    env = sb.env()
    settings = dict(
        api_key=env["LINEAR_API_KEY"], api_url=env["LINEAR_API_URL"], backoff_base=0.01, max_retry_seconds=20.0
    )
    return LinearClient(**{**settings, **overrides})


def _ids(records) -> list[str]:
    return sorted(r["id"] for r in records)


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_every_list_pages_to_the_end(sb):
    client = _live(sb, page_size=7)
    before = sb.request_counts()["linear"]
    ws = sb.workspace
    assert _ids(client.users()) == _ids(ws.linear_users)
    assert _ids(client.teams()) == _ids(ws.linear_teams)
    assert _ids(client.cycles()) == _ids(ws.linear_cycles)
    assert _ids(client.projects()) == _ids(ws.linear_projects)
    assert _ids(client.workflow_states()) == _ids(ws.linear_workflow_states)
    assert _ids(client.customers()) == _ids(ws.linear_customers)
    issues = client.issues()
    assert len(issues) == len(ws.linear_issues) > 7 * 3
    assert _ids(issues) == _ids(ws.linear_issues)  # archived and trashed ones included
    assert client.requests_made == sb.request_counts()["linear"] - before


def test_issues_stream_page_by_page(sb):
    """iter_issues yields a page's issues before asking for the next page (bounded memory in the load)."""
    client = _live(sb, page_size=7)
    stream = client.iter_issues()
    first = [next(stream) for _ in range(7)]
    assert client.requests_made == 1
    rest = list(stream)
    assert client.requests_made > 3
    assert _ids(first + rest) == _ids(sb.workspace.linear_issues)


def test_records_have_the_fields_the_warehouse_reads(sb):
    issue = _live(sb).issues()[0]
    fields = "id identifier number title estimate priority previousIdentifiers createdAt updatedAt startedAt"
    for field in (fields + " completedAt canceledAt archivedAt trashed").split():
        assert field in issue, field
    # Only ids (the complexity budget): keys and state types come from the teams and workflow states.
    assert set(issue["team"]) == {"id"} and set(issue["state"]) == {"id"} and "parent" not in issue


def test_issues_updated_in_a_window(sb):
    issues = sb.workspace.linear_issues
    stamps = sorted(_ts(i["updatedAt"]) for i in issues)
    low, high = stamps[len(stamps) // 4], stamps[3 * len(stamps) // 4]  # bounds equal to real updatedAt values
    expected = {i["id"] for i in issues if low <= _ts(i["updatedAt"]) < high}
    client = _live(sb, page_size=10)
    assert {i["id"] for i in client.issues(updated_from=low, updated_to=high)} == expected
    later = {i["id"] for i in client.issues(updated_from=high)}
    assert later == {i["id"] for i in issues if _ts(i["updatedAt"]) >= high} and not later & expected
    assert {i["id"] for i in client.issues(updated_to=low)} == {i["id"] for i in issues if _ts(i["updatedAt"]) < low}


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("ratelimited_400", {}),
        ("ratelimited_429", {"retry_after": 0}),
        ("500", {}),
        ("502", {}),
        ("503", {}),
        ("reset", {}),
        ("truncated", {"mode": "incomplete"}),
        ("truncated", {"mode": "cut"}),
    ],
)
def test_transient_faults_are_retried(sb, kind, params, caplog):
    client = _live(sb, page_size=20)
    sb.faults.add("linear", kind, times=2, after=1, **params)
    with caplog.at_level(logging.WARNING):
        assert _ids(client.issues()) == _ids(sb.workspace.linear_issues)
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) == 2
    if kind.startswith("ratelimited"):
        assert all("RATELIMITED" in m for m in retries)
    assert all(client.api_key not in r.getMessage() for r in caplog.records)


def test_ratelimited_retry_after_is_honoured(sb):
    client = _live(sb)
    sb.faults.add("linear", "ratelimited_429", times=1, retry_after=1)
    started = time.monotonic()
    client.teams()
    assert time.monotonic() - started >= 1.0 and client.requests_made == 2


def test_retries_exhausted_raise_one_line_api_error(sb):
    client = _live(sb, max_attempts=3)
    sb.faults.add("linear", "ratelimited_400", times=5)
    with pytest.raises(RetriesExhausted) as caught:
        client.users()
    message = str(caught.value)
    assert message.startswith("Linear API still failing after 3 attempts") and "RATELIMITED" in message
    assert "linearstatus.com" in message and "\n" not in message and client.api_key not in message


def test_wrong_key_fails_at_once_without_leaking_it(sb):
    client = _live(sb, api_key=KEY)
    with pytest.raises(AuthenticationError) as caught:
        client.issues()
    assert client.requests_made == 1
    assert "LINEAR_API_KEY" in str(caught.value) and KEY not in str(caught.value)


def test_invalid_query_names_it(sb):
    client = _live(sb)
    with pytest.raises(QueryError) as caught:
        client.query("query BrokenThing { issues(first: 1) { nodes { noSuchField } } }")
    assert "query BrokenThing" in str(caught.value) and "GRAPHQL_VALIDATION_FAILED" in str(caught.value)
    assert client.requests_made == 1


def test_unreachable_url_names_the_setting(sb):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/graphql"
    client = _live(sb, api_url=url, max_attempts=2)
    with pytest.raises(ConnectionFailed, match="check LINEAR_API_URL"):
        client.teams()


def test_a_bearer_prefixed_personal_key_gets_told_to_drop_the_prefix(sb):
    """Linear rejects `Bearer <personal key>` (the sandbox as Linear): one line saying what to change."""
    key = sb.env()["LINEAR_API_KEY"]
    client = _live(sb, api_key=f"Bearer {key}")
    with pytest.raises(AuthenticationError) as caught:
        client.teams()
    message = str(caught.value)
    assert 'drop "Bearer " from LINEAR_API_KEY' in message and "raw" in message
    assert key not in message and "\n" not in message and client.requests_made == 1


def test_a_rejected_raw_key_keeps_the_plain_authentication_message():
    with pytest.raises(AuthenticationError) as caught:
        classify_response(_response(400, _errors("AUTHENTICATION_ERROR")), "Teams", secret=KEY)
    assert "Bearer" not in str(caught.value) and "LINEAR_API_KEY" in str(caught.value)


def test_customers_off_in_the_plan_is_feature_not_accessible():
    from sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig.small(anchor=ANCHOR.date(), linear_customers_enabled=False)) as off:
        client = _live(off)
        with pytest.raises(FeatureNotAccessible) as caught:
            client.customers()
        assert "FEATURE_NOT_ACCESSIBLE" in str(caught.value) and client.requests_made == 1
        assert client.teams()  # the rest of the workspace still answers


def test_feature_not_accessible_is_its_own_error_not_retried():
    from orchestration.clients.errors import FeatureNotAccessible

    with pytest.raises(FeatureNotAccessible, match="plan lacks the feature"):
        classify_response(_response(400, _errors("FEATURE_NOT_ACCESSIBLE")), "Customers")


@pytest.mark.parametrize("enabled", [True, False])
def test_the_organization_and_whether_customers_answer(enabled):
    from sandbox import Sandbox, SandboxConfig
    from tests.conftest import SMALL

    with Sandbox(SandboxConfig(**SMALL, linear_customers_enabled=enabled)) as sb:
        env = sb.env()
        client = LinearClient(api_key=env["LINEAR_API_KEY"], api_url=env["LINEAR_API_URL"], backoff_base=0.01)
        found = client.organization()
        assert found["organization"]["id"] == sb.workspace.linear_organization["id"]
        assert found["organization"]["name"] == sb.workspace.linear_organization["name"]
        assert found["viewer"]["id"] and found["viewer"]["email"]
        assert client.organization() is found and client.requests_made == 1  # asked once per client
        assert client.customers_available() is enabled
        assert client.requests_made == 2
