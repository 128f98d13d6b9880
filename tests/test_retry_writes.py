"""The one retry loop's hook for requests that are not idempotent (`recover`): a create whose answer may
have been lost is looked up before it is sent again, and sent again only when nothing was made."""

from __future__ import annotations

import logging

import pytest
import requests

from orchestration.clients.errors import RetriesExhausted
from orchestration.clients.http import Transient, parse_json
from tests.test_retry import _http, _response

URL = "https://api.example.test/v1/workspaces/ws/projects"


def _check(response: requests.Response):
    if response.status_code == 429 or response.status_code >= 500:
        raise Transient(f"HTTP {response.status_code}", 0.0, refused=response.status_code == 429)
    return parse_json(response)


def _post(http, recover):
    return http.request(
        "POST", URL, json={"name": "P"}, check=_check, url_setting="CLOCKIFY_API_URL", recover=recover, what="'P'"
    )


@pytest.mark.parametrize(
    "failure",
    [
        _response(503),
        _response(200, b'{"id": "p1", "na'),  # created, answer cut
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ConnectionError("Connection aborted: ConnectionResetError(104, 'reset by peer')"),
    ],
    ids=["503", "cut body", "read timeout", "reset"],
)
def test_a_failure_that_may_have_taken_effect_is_recovered_not_resent(failure, caplog):
    http, _ = _http([failure])  # a second POST would find the script empty
    looked = []
    with caplog.at_level(logging.WARNING):
        got = _post(http, lambda: looked.append(1) or {"id": "p1", "name": "P"})
    assert got == {"id": "p1", "name": "P"} and looked == [1]
    assert http.requests_made == 1
    assert "but 'P' exists now; using it" in caplog.text


def test_nothing_found_means_sent_again():
    http, _ = _http([_response(503), _response(201, b'{"id": "p2", "name": "P"}')])
    looked = []
    assert _post(http, lambda: looked.append(1)) == {"id": "p2", "name": "P"}
    assert looked == [1] and http.requests_made == 2


@pytest.mark.parametrize(
    "refusal",
    [_response(429), requests.exceptions.ConnectionError("Failed to establish a new connection: Connection refused")],
    ids=["429", "connection refused"],
)
def test_a_request_refused_before_it_was_acted_on_is_resent_without_looking(refusal):
    http, _ = _http([refusal, _response(201, b'{"id": "p3", "name": "P"}')])
    looked = []
    assert _post(http, lambda: looked.append(1)) == {"id": "p3", "name": "P"}
    assert looked == [] and http.requests_made == 2


def test_exhausted_says_nothing_was_created():
    http, _ = _http([_response(503)] * 3, max_attempts=3)
    with pytest.raises(RetriesExhausted) as caught:
        _post(http, lambda: None)
    message = str(caught.value)
    assert "still failing after 3 attempts" in message and "nothing named 'P' was created" in message
    assert "\n" not in message
