"""Linear client: answer classification and helpers here; behaviour against the sandbox below."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import requests

from orchestration.clients.errors import ApiError, AuthenticationError, QueryError
from orchestration.clients.http import Transient
from orchestration.clients.linear import (
    LinearClient,
    classify_response,
    operation_name,
    rate_limit_wait,
    updated_at_filter,
)
from orchestration.clients.linear_queries import ISSUES_QUERY

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
    assert "linear_queries.py" in message and "\n" not in message


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
