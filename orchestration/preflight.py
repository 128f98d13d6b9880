"""`warehouse check`, and the same checks before `warehouse sync` writes anything.

`run_checks(settings)` asks each API what the settings point at and returns one `Check` per step, each
with what it found (workspace name, key owner and their time zone, members, organization, teams) or the
problem and its fix, naming the variable to change:

- settings: the keys and the workspace id are set, the URLs are http(s) URLs;
- Clockify key: GET /user on the main API: the key works on that host; whose key it is and their profile
  time zone (the report is read in UTC whatever it is);
- Clockify workspace: GET /workspaces/{id}: the key sees the workspace on this host (a wrong host is told
  apart from a wrong id by what the API lists), its name and plan; GET /users: how many members;
- Clockify reports: one empty detailed report: the reports host knows the workspace too;
- Linear key and organization: the key works, whose it is, which organization it reads;
- Linear teams: the teams the key can read;
- Linear customers: whether the plan has the feature (a warning when not: the table stays empty).

It writes nothing (no file, no run) and costs 4 Clockify and 3 Linear requests, two attempts each at most
with short timeouts, so a wrong URL answers in seconds. A later step that fails a check is skipped. A sync
that passes can still fail later (an outage), but a typo in a key, a URL, a host or the workspace id is
reported before any table is touched. It uses the clients' public methods only.

The requests run concurrently (threads): Clockify's and Linear's checks side by side, and within each,
the steps after the first (the key; the organization) at once, since they need only the answer the first
one got (the client keeps the key's owner). The lines are the same as one after the other, in the same
order: a step after a failed one is left out as before (only its request was spent).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
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
TEAMS_SHOWN = 10
# At most every step of both sources at once (2 sources + 5 Clockify + 3 Linear steps): no step waiting for
# another (the workspace step waits for the member list) can be queued behind it.
CHECK_THREADS = 10
T = TypeVar("T")
NO_KEYS = (
    "no API keys are set: set CLOCKIFY_API_KEY, CLOCKIFY_WORKSPACE_ID and LINEAR_API_KEY in the environment "
    "or in .env (README, 'Run it on your own workspace'), or try the sandbox with `warehouse demo`."
)


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "ok", "warning" (passes, worth knowing) or "error" (the message names the fix)
    message: str

    @property
    def ok(self) -> bool:
        return self.status != "error"

    def line(self, width: int = 20) -> str:
        return f"{self.status + ':':<9}{self.name:<{width}} {self.message}"


@dataclass
class Findings:
    """Every check run, and what identifies the sources (for the warehouse's source marker)."""

    checks: list[Check] = field(default_factory=list)
    clockify_workspace_id: str | None = None
    clockify_host: str | None = None
    linear_organization_id: str | None = None
    linear_host: str | None = None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def problems(self) -> list[str]:
        return [f"{c.name}: {c.message}" for c in self.checks if not c.ok]

    def add(self, name: str, status: str, message: str) -> bool:
        self.checks.append(Check(name, status, message))
        return status != "error"

    def attempt(self, name: str, url_setting: str, key_setting: str, step) -> bool:
        """The result of `step` (what it found, or a warning `Check`); an API error becomes an error line."""
        try:
            found = step.result()
        except ApiError as error:
            return self.add(name, "error", _describe(error, url_setting, key_setting))
        if isinstance(found, Check):
            return self.add(name, found.status, found.message)
        return self.add(name, "ok", found)


# Starts a step; what it returns gives the step's answer (or raises its error) on `.result()`: a Future.
Start = Callable[[Callable[[], Any]], Any]


class _Later:
    """A step run when its result is asked for (once): the checks one after the other."""

    def __init__(self, step: Callable[[], T]) -> None:
        self.step = step
        self.done = False

    def result(self) -> T:
        if not self.done:
            self.value, self.done = self.step(), True
        return self.value


class _Inline:
    """The executor of `run_checks(concurrent=False)`: nothing runs until its result is asked for."""

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def submit(self, step: Callable[[], T]) -> _Later:
        return _Later(step)


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


def _host(url: str) -> str:
    return urlsplit(url).netloc


def _person(record: dict) -> str:
    name, email = record.get("name") or "(no name)", record.get("email")
    return f"{name} <{email}>" if email else name


def _check_clockify(client: ClockifyClient, settings: Settings, findings: Findings, start: Start) -> None:
    host = _host(client.api_url)
    where = f"region {settings.clockify.region}" if settings.clockify.region else host

    def key() -> str:
        owner = client.current_user()
        zone = (owner.get("settings") or {}).get("timeZone") or "not set"
        return (
            f"works on {where}; key of {_person(owner)}, time zone {zone} "
            "(the report is read in UTC whatever this zone is)"
        )

    if not findings.attempt("Clockify key", "CLOCKIFY_API_URL", "CLOCKIFY_API_KEY", start(key)):
        return
    members = start(client.users)

    def workspace() -> str | Check:
        found = client.workspace()
        plan = found.get("featureSubscriptionType") or "unknown"
        text = f"{found.get('name')!r} ({client.workspace_id}), {plan} plan, {len(members.result())} members"
        if plan == "FREE":  # passes, but a backfill will take hours: say so up front
            return Check("", "warning", text + ": Clockify allows 30 requests an hour for the whole workspace")
        return text

    def access() -> str | Check:
        # Whose time a sync reads: a member's key reads only its owner's own where only admins see all time.
        found = client.key_access()
        reads_all = found.admin or found.sees_all_time
        return found.describe() if reads_all else Check("", "error", found.describe())

    def reports() -> str:
        # One empty report proves URL, key and workspace on the reports host too.
        moment = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        client.detailed_report_page(moment, moment, page=1, page_size=1)
        return f"the detailed report answers on {_host(client.reports_url)}"

    # In flight together; each reported only if the ones before it passed, as one after the other.
    steps = [
        ("Clockify workspace", "CLOCKIFY_API_URL", "CLOCKIFY_WORKSPACE_ID", start(workspace)),
        ("Clockify access", "CLOCKIFY_API_URL", "CLOCKIFY_API_KEY", start(access)),
        ("Clockify reports", "CLOCKIFY_REPORTS_URL", "CLOCKIFY_API_KEY", start(reports)),
    ]
    for name, url_setting, key_setting, step in steps:
        if not findings.attempt(name, url_setting, key_setting, step):
            return
        if name == "Clockify workspace":
            findings.clockify_workspace_id, findings.clockify_host = client.workspace_id, host


def _check_linear(client: LinearClient, findings: Findings, start: Start) -> None:
    def organization() -> str:
        found = client.organization()
        org, viewer = found.get("organization") or {}, found.get("viewer") or {}
        findings.linear_organization_id, findings.linear_host = org.get("id"), _host(client.api_url)
        return f"{org.get('name')!r} ({org.get('urlKey')}), key of {_person(viewer)}"

    if not findings.attempt("Linear organization", "LINEAR_API_URL", "LINEAR_API_KEY", start(organization)):
        return

    def teams() -> str:
        keys = sorted(t.get("key") or "?" for t in client.teams())
        shown = ", ".join(keys[:TEAMS_SHOWN]) + (", ..." if len(keys) > TEAMS_SHOWN else "")
        return f"{len(keys)} team(s): {shown}" if keys else "no team this key can read"

    def customers() -> str | Check:
        if client.customers_available():
            return "available on this plan"
        return Check(
            "",
            "warning",
            "not on this plan (FEATURE_NOT_ACCESSIBLE): raw.linear_customers stays empty, nothing else changes",
        )

    # Both in flight together; a failed team list does not skip the customers' check.
    listed, plan = start(teams), start(customers)
    findings.attempt("Linear teams", "LINEAR_API_URL", "LINEAR_API_KEY", listed)
    findings.attempt("Linear customers", "LINEAR_API_URL", "LINEAR_API_KEY", plan)


def run_checks(settings: Settings, concurrent: bool = True) -> Findings:
    """Every check, in order; a check whose settings are missing or malformed is not run. `concurrent=False`:
    one request at a time (the same lines)."""
    findings = Findings()
    missing = settings.missing()
    if len(missing) == len(s.REQUIRED):  # nothing configured yet: one line, not three
        findings.add("settings", "error", NO_KEYS)
        return findings
    for problem in missing + _bad_urls(settings):
        findings.add("settings", "error", problem)
    named = " ".join(findings.problems)
    quick = replace(settings, api=CHECK_API)
    clockify, linear = Findings(), Findings()

    def check_clockify() -> None:
        client = clockify_client(quick, persist_budget=False)
        try:
            _check_clockify(client, settings, clockify, start)
        finally:
            client.close()

    def check_linear() -> None:
        client = linear_client(quick, persist_budget=False)
        try:
            _check_linear(client, linear, start)
        finally:
            client.close()

    chains = []
    if not any(
        n in named for n in ("CLOCKIFY_API_KEY", "CLOCKIFY_WORKSPACE_ID", "CLOCKIFY_API_URL", "CLOCKIFY_REPORTS_URL")
    ):
        chains.append(check_clockify)
    if not any(n in named for n in ("LINEAR_API_KEY", "LINEAR_API_URL")):
        chains.append(check_linear)
    with ThreadPoolExecutor(CHECK_THREADS, thread_name_prefix="check") if concurrent else _Inline() as pool:
        start: Start = pool.submit
        for done in [start(chain) for chain in chains]:
            done.result()
    for part in (clockify, linear):
        findings.checks += part.checks
    findings.clockify_workspace_id, findings.clockify_host = clockify.clockify_workspace_id, clockify.clockify_host
    findings.linear_organization_id, findings.linear_host = linear.linear_organization_id, linear.linear_host
    return findings


def check(settings: Settings) -> list[str]:
    """Every problem found, one line each (empty: ready to sync)."""
    return run_checks(settings).problems
