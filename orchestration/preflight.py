"""Checks before a sync writes anything: settings present, each API reachable and accepting its key.

`check(settings)` returns one line per problem, each naming the variable to fix. It is cheap: one request
to each API host (Clockify's main API, its reports API, Linear), two attempts at most, short timeouts. A
sync that passes can still fail later (an outage), but a typo in a key, a URL or the workspace id is
reported up front, before any table is touched, instead of after some raw tables were already replaced.
It uses the clients' public methods only (the future `warehouse check` command is this module).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from urllib.parse import urlsplit

from orchestration import settings as s
from orchestration.clients.clockify.client import ClockifyClient
from orchestration.clients.errors import ApiError, AuthenticationError, ConfigurationError, ConnectionFailed
from orchestration.clients.linear.client import LinearClient
from orchestration.resources import clockify_client, linear_client
from orchestration.settings import Settings

# Retry budget of a check: enough to ride out a blip, short enough that a wrong URL answers in seconds.
CHECK_API = s.ApiSettings(max_attempts=2, max_retry_seconds=10.0, connect_timeout=5.0, read_timeout=20.0)
URL_DEFAULTS = {
    "CLOCKIFY_API_URL": s.CLOCKIFY_API_URL,
    "CLOCKIFY_REPORTS_URL": s.CLOCKIFY_REPORTS_URL,
    "LINEAR_API_URL": s.LINEAR_API_URL,
}
LINEAR_CHECK_QUERY = "query PreflightViewer { viewer { id } }"


def _bad_urls(settings: Settings) -> list[str]:
    values = {
        "CLOCKIFY_API_URL": settings.clockify.api_url,
        "CLOCKIFY_REPORTS_URL": settings.clockify.reports_url,
        "LINEAR_API_URL": settings.linear.api_url,
    }
    problems = []
    for name, value in values.items():
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(
                f"{name}={value!r} is not an http(s) URL: set it to the API's base URL (default {URL_DEFAULTS[name]})."
            )
    return problems


def _describe(error: ApiError, url_setting: str, key_setting: str) -> str:
    """The client's one-line message, making sure it names the variable to fix."""
    message = str(error)
    if isinstance(error, (AuthenticationError, ConfigurationError)) or url_setting in message:
        return message
    if isinstance(error, ConnectionFailed):
        return f"{message} (check {url_setting})"
    return f"{message} (check {url_setting} and {key_setting})"


def _check_clockify(client: ClockifyClient, problems: list[str]) -> None:
    try:
        workspaces = client.workspaces()
    except ApiError as error:
        problems.append(_describe(error, "CLOCKIFY_API_URL", "CLOCKIFY_API_KEY"))
        return
    ids = {w.get("id") for w in workspaces if isinstance(w, dict)}
    if client.workspace_id not in ids:
        problems.append(
            f"CLOCKIFY_WORKSPACE_ID={client.workspace_id!r} is not a workspace this Clockify API key can see: "
            f"set it to one of {sorted(i for i in ids if i)} (or use the key of a member of that workspace)."
        )
        return
    # The reports API lives on another host: one empty report proves URL, key and workspace there too.
    moment = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    try:
        client.detailed_report_page(moment, moment, page=1, page_size=1)
    except ConfigurationError as error:  # the main API knows the workspace: this host is the wrong one
        problems.append(
            f"CLOCKIFY_REPORTS_URL={client.reports_url!r} answered HTTP {error.status} for a workspace the main "
            f"API knows: set CLOCKIFY_REPORTS_URL to the reports API base (default {s.CLOCKIFY_REPORTS_URL})."
        )
    except ApiError as error:
        problems.append(_describe(error, "CLOCKIFY_REPORTS_URL", "CLOCKIFY_API_KEY"))


def _check_linear(client: LinearClient, problems: list[str]) -> None:
    try:
        client.query(LINEAR_CHECK_QUERY)
    except ApiError as error:
        problems.append(_describe(error, "LINEAR_API_URL", "LINEAR_API_KEY"))


def check(settings: Settings) -> list[str]:
    """Every problem found, one line each (empty: ready to sync)."""
    problems = settings.missing() + _bad_urls(settings)
    named = " ".join(problems)
    quick = replace(settings, api=CHECK_API)
    if not any(
        n in named for n in ("CLOCKIFY_API_KEY", "CLOCKIFY_WORKSPACE_ID", "CLOCKIFY_API_URL", "CLOCKIFY_REPORTS_URL")
    ):
        client = clockify_client(quick)
        try:
            _check_clockify(client, problems)
        finally:
            client.close()
    if not any(n in named for n in ("LINEAR_API_KEY", "LINEAR_API_URL")):
        client = linear_client(quick)
        try:
            _check_linear(client, problems)
        finally:
            client.close()
    return problems
