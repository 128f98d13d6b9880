"""Checks before a sync writes anything: settings present, each API reachable and accepting its key.

`check()` returns one line per problem, each naming the variable to fix. It is cheap: one request to each
API host (Clockify's main API, its reports API, Linear), two attempts at most, short timeouts. A sync that
passes can still fail later (an outage), but a typo in a key, a URL or the workspace id is reported up
front, before any table is touched, instead of after some raw tables were already replaced.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from orchestration import settings
from orchestration.clients.errors import ApiError, AuthenticationError, ConfigurationError, ConnectionFailed

# Retry budget of a check: enough to ride out a blip, short enough that a wrong URL answers in seconds.
CHECK_RETRY = {"max_attempts": 2, "max_retry_seconds": 10.0, "connect_timeout": 5.0, "read_timeout": 20.0}
URL_SETTINGS = ("CLOCKIFY_API_URL", "CLOCKIFY_REPORTS_URL", "LINEAR_API_URL")
LINEAR_CHECK_QUERY = "query PreflightViewer { viewer { id } }"


def _missing() -> list[str]:
    from orchestration.sync import REQUIRED_ENV

    return [
        f"{name} is not set: set it to {meaning} in the environment or in .env."
        for name, meaning in REQUIRED_ENV.items()
        if not (os.environ.get(name) or "").strip()
    ]


def _bad_urls() -> list[str]:
    problems = []
    for name in URL_SETTINGS:
        value = settings.get(name)
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(
                f"{name}={value!r} is not an http(s) URL: set it to the API's base URL "
                f"(default {settings.DEFAULTS[name]})."
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


def _check_clockify(problems: list[str]) -> None:
    import datetime as dt

    from orchestration.clients.clockify import ClockifyClient, format_report_timestamp

    client = ClockifyClient(
        api_key=os.environ["CLOCKIFY_API_KEY"].strip(),
        workspace_id=os.environ["CLOCKIFY_WORKSPACE_ID"].strip(),
        api_url=settings.get("CLOCKIFY_API_URL"),
        reports_url=settings.get("CLOCKIFY_REPORTS_URL"),
        **CHECK_RETRY,
    )
    try:
        workspaces = client.http.request(
            "GET", client._api_url("/workspaces"), check=client._check, url_setting="CLOCKIFY_API_URL"
        )
    except ApiError as error:
        problems.append(_describe(error, "CLOCKIFY_API_URL", "CLOCKIFY_API_KEY"))
        return
    ids = {w.get("id") for w in workspaces if isinstance(w, dict)} if isinstance(workspaces, list) else set()
    if client.workspace_id not in ids:
        problems.append(
            f"CLOCKIFY_WORKSPACE_ID={client.workspace_id!r} is not a workspace this Clockify API key can see: "
            f"set it to one of {sorted(i for i in ids if i)} (or use the key of a member of that workspace)."
        )
        return
    # The reports API lives on another host: one empty report proves URL, key and workspace there too.
    moment = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
    body = {
        "dateRangeStart": format_report_timestamp(moment),
        "dateRangeEnd": format_report_timestamp(moment),
        "detailedFilter": {"page": 1, "pageSize": 1, "sortColumn": "DATE"},
    }
    url = f"{client.reports_url.rstrip('/')}/workspaces/{client.workspace_id}/reports/detailed"
    try:
        client.http.request("POST", url, json=body, check=client._check, url_setting="CLOCKIFY_REPORTS_URL")
    except ConfigurationError as error:  # the main API knows the workspace: this host is the wrong one
        problems.append(
            f"CLOCKIFY_REPORTS_URL={client.reports_url!r} answered HTTP {error.status} for a workspace the main "
            f"API knows: set CLOCKIFY_REPORTS_URL to the reports API base (default "
            f"{settings.DEFAULTS['CLOCKIFY_REPORTS_URL']})."
        )
    except ApiError as error:
        problems.append(_describe(error, "CLOCKIFY_REPORTS_URL", "CLOCKIFY_API_KEY"))
    finally:
        client.http.close()


def _check_linear(problems: list[str]) -> None:
    from orchestration.clients.linear import LinearClient

    client = LinearClient(
        api_key=os.environ["LINEAR_API_KEY"].strip(), api_url=settings.get("LINEAR_API_URL"), **CHECK_RETRY
    )
    try:
        client.query(LINEAR_CHECK_QUERY)
    except ApiError as error:
        problems.append(_describe(error, "LINEAR_API_URL", "LINEAR_API_KEY"))
    finally:
        client.http.close()


def check() -> list[str]:
    """Every problem found, one line each (empty: ready to sync)."""
    problems = _missing() + _bad_urls()
    for read in (settings.start_date, settings.marts_storage_version):
        try:
            read()
        except settings.ConfigError as error:
            problems.append(str(error))
    bad_url = " ".join(problems)
    if not any(
        n in bad_url for n in ("CLOCKIFY_API_KEY", "CLOCKIFY_WORKSPACE_ID", "CLOCKIFY_API_URL", "CLOCKIFY_REPORTS_URL")
    ):
        _check_clockify(problems)
    if not any(n in bad_url for n in ("LINEAR_API_KEY", "LINEAR_API_URL")):
        _check_linear(problems)
    return problems
