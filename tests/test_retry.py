"""The shared retry loop (orchestration/clients/http.py), without any server: a scripted fake session."""

from __future__ import annotations

import logging
import socket
from datetime import datetime, timedelta, timezone

import pytest
import requests

from orchestration.clients.errors import ApiError, AuthenticationError, ConnectionFailed, RetriesExhausted
from orchestration.clients.http import (
    RetryingHttp,
    RetryPolicy,
    Service,
    Transient,
    backoff_delay,
    parse_json,
    parse_retry_after,
    redact,
)

SERVICE = Service(name="Clockify", status_page="https://status.clockify.me")
SECRET = "sk-very-secret-key"


# --- backoff_delay ---------------------------------------------------------------------------------


def test_backoff_is_full_jitter_within_an_exponential_window():
    assert backoff_delay(1, base=0.5, rng=lambda: 1.0) == 0.5
    assert backoff_delay(2, base=0.5, rng=lambda: 1.0) == 1.0
    assert backoff_delay(4, base=0.5, rng=lambda: 1.0) == 4.0
    assert backoff_delay(4, base=0.5, rng=lambda: 0.0) == 0.0
    assert backoff_delay(3, base=0.5, rng=lambda: 0.5) == 1.0


def test_backoff_window_is_capped():
    assert backoff_delay(30, base=0.5, cap=60.0, rng=lambda: 1.0) == 60.0


def test_retry_after_wins_over_backoff_even_above_the_cap():
    assert backoff_delay(1, retry_after=7, base=0.5, cap=5.0, rng=lambda: 0.0) == 7.0
    assert backoff_delay(5, retry_after=0, rng=lambda: 1.0) == 0.0
    assert backoff_delay(1, retry_after=-3) == 0.0


def test_backoff_with_real_rng_stays_in_window():
    for attempt in range(1, 10):
        assert 0.0 <= backoff_delay(attempt, base=0.1, cap=2.0) <= min(2.0, 0.1 * 2 ** (attempt - 1))


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("3", 3.0), (" 1.5 ", 1.5), ("-2", 0.0), ("soon", None)],
)
def test_parse_retry_after_seconds(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date():
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    later = (now + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(later, now=now) == pytest.approx(30.0)


def test_redact():
    assert redact(f"bad key {SECRET}!", SECRET) == "bad key ***!"
    assert redact("nothing", "") == "nothing"


def test_parse_json_treats_garbage_as_transient():
    response = _response(200, b'{"a": [1, 2')
    with pytest.raises(Transient, match="invalid JSON"):
        parse_json(response)


def test_api_error_message_is_one_line():
    assert str(ApiError("line one\n  line two\tend")) == "line one line two end"


# --- the loop ------------------------------------------------------------------------------------


def _response(status: int, body: bytes = b"[]", headers: dict | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers.update(headers or {})
    response.request = requests.Request("GET", "https://api.example.test/v1/things").prepare()
    return response


class FakeSession:
    """Plays back a script of responses or exceptions, recording each call's timeout."""

    def __init__(self, script):
        self.script = list(script)
        self.calls = []

    def request(self, method, url, timeout=None, **kwargs):
        self.calls.append(timeout)
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    def close(self):
        pass


def _check(response: requests.Response):
    if response.status_code == 401:
        raise AuthenticationError("Clockify rejected the API key (HTTP 401): set CLOCKIFY_API_KEY.")
    if response.status_code == 429 or response.status_code >= 500:
        raise Transient(f"HTTP {response.status_code}", parse_retry_after(response.headers.get("Retry-After")))
    return parse_json(response)


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self):
        return self.now


def _http(script, *, max_attempts=8, max_retry_seconds=300.0, base=0.5, rng=lambda: 1.0):
    clock = FakeClock()
    http = RetryingHttp(
        SERVICE,
        {"X-Api-Key": SECRET},
        connect_timeout=3.0,
        read_timeout=7.0,
        policy=RetryPolicy(max_attempts=max_attempts, max_retry_seconds=max_retry_seconds, backoff_base=base),
        sleep=clock.sleep,
        clock=clock,
        rng=rng,
    )
    http.session = FakeSession(script)
    return http, clock


def _request(http):
    return http.request("GET", "https://api.example.test/v1/things", check=_check, url_setting="CLOCKIFY_API_URL")


def test_retries_transient_answers_then_succeeds(caplog):
    script = [
        _response(503),
        _response(429, headers={"Retry-After": "2"}),
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ConnectionError("Connection aborted: ConnectionResetError(104, 'reset by peer')"),
        requests.exceptions.ChunkedEncodingError("IncompleteRead(10 bytes read, 20 more expected)"),
        _response(200, b'{"cut'),
        _response(200, b'[{"id": "a"}]'),
    ]
    http, clock = _http(script)
    with caplog.at_level(logging.WARNING):
        assert _request(http) == [{"id": "a"}]
    assert http.requests_made == 7
    # full jitter with rng=1 gives the window's top: 0.5, then Retry-After 2, then 2, 4, 8, 16
    assert clock.sleeps == [0.5, 2.0, 2.0, 4.0, 8.0, 16.0]
    assert http.session.calls == [(3.0, 7.0)] * 7  # connect/read timeouts on every call
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 6
    assert "Clockify GET /v1/things: HTTP 503; retrying in 0.5 s (attempt 1 of 8)" == messages[0]
    assert "retrying in 2.0 s" in messages[1]
    assert any("read timeout" in m for m in messages)
    assert any("connection reset" in m for m in messages)
    assert any("truncated response" in m for m in messages)
    assert any("invalid JSON" in m for m in messages)
    assert all(SECRET not in m for m in messages)


def test_permanent_error_is_not_retried():
    http, clock = _http([_response(401), _response(200)])
    with pytest.raises(AuthenticationError):
        _request(http)
    assert http.requests_made == 1 and clock.sleeps == []


def test_gives_up_after_max_attempts_with_one_line_message():
    http, clock = _http([_response(503)] * 3, max_attempts=3)
    with pytest.raises(RetriesExhausted) as caught:
        _request(http)
    message = str(caught.value)
    assert message == (
        "Clockify API still failing after 3 attempts over 2 s (last: HTTP 503). "
        "Check https://status.clockify.me or retry later; raise API_MAX_ATTEMPTS to wait longer."
    )
    assert http.requests_made == 3


def test_gives_up_when_time_budget_would_be_exceeded():
    http, clock = _http([_response(503)] * 20, max_retry_seconds=10.0)
    with pytest.raises(RetriesExhausted, match="raise API_MAX_RETRY_SECONDS") as caught:
        _request(http)
    assert sum(clock.sleeps) <= 10.0
    assert "\n" not in str(caught.value)


def test_retry_after_beyond_budget_fails_at_once_and_says_so():
    http, clock = _http([_response(429, headers={"Retry-After": "3600"})], max_retry_seconds=300.0)
    with pytest.raises(RetriesExhausted, match="server asked to wait 3600 s"):
        _request(http)
    assert clock.sleeps == []


def test_unreachable_host_names_the_url_setting():
    refused = requests.exceptions.ConnectionError(
        "HTTPSConnectionPool(host='api.example.test', port=443): Max retries exceeded "
        "(Caused by NewConnectionError('Failed to establish a new connection: [Errno 111] Connection refused'))"
    )
    http, _ = _http([refused] * 3, max_attempts=3)
    with pytest.raises(ConnectionFailed) as caught:
        _request(http)
    assert str(caught.value) == (
        "Could not reach Clockify at https://api.example.test after 3 attempts over 2 s "
        "(connection refused): check CLOCKIFY_API_URL and the network."
    )
    assert isinstance(caught.value, ApiError)


def test_repr_hides_headers():
    http, _ = _http([])
    assert SECRET not in repr(http)


def test_real_connection_refused_is_reported_quickly():
    # A port nothing listens on: bind, read the port, close.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    http = RetryingHttp(
        SERVICE,
        {"X-Api-Key": SECRET},
        connect_timeout=1.0,
        read_timeout=1.0,
        policy=RetryPolicy(max_attempts=2, max_retry_seconds=5.0, backoff_base=0.01),
    )
    with pytest.raises(ConnectionFailed, match="check CLOCKIFY_API_URL") as caught:
        http.request("GET", f"http://127.0.0.1:{port}/api/v1/workspaces", check=_check, url_setting="CLOCKIFY_API_URL")
    assert SECRET not in str(caught.value)
    assert http.requests_made == 2
