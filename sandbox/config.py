"""Configuration of a sandbox dataset and server."""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, replace
from typing import Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_CLOCKIFY_API_KEY = "sandbox-clockify-key"
DEFAULT_LINEAR_API_KEY = "lin_api_sandbox0000000000000000000000000000000"
CLOCKIFY_REGIONS = ("euc1", "use2", "euw2", "apse2")

_HOST_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class SandboxConfig:
    """Everything that determines the synthetic dataset (and a few server knobs).

    The same config always yields the same data (``anchor=None`` means today's UTC
    date, so pin ``anchor`` where reproducibility across days matters).
    Data covers the days ``[anchor - days + 1, anchor]``.

    The switches below model facts of the real APIs; where ``api-notes.md`` marks a fact *open*, the
    default is the sandbox's choice and the switch gives the other answer (see sandbox/README.md).
    """

    seed: int = 7
    users: int = 12
    teams: int = 3
    issues: int = 240
    days: int = 90
    anchor: Optional[_dt.date] = None
    entries_per_user_per_day: float = 4.0
    projects: int = 8
    clients: int = 4
    tags: int = 6
    latency_ms: int = 0
    enforce_rate_limits: bool = False
    # additions (not part of the frozen interface, but handy)
    clockify_api_key: str = DEFAULT_CLOCKIFY_API_KEY
    linear_api_key: str = DEFAULT_LINEAR_API_KEY
    clockify_rate_per_second: int = 50
    linear_requests_per_hour: int = 5000
    # --- time zones: the API-key owner's Clockify profile zone (the report's and the per-user time
    # entries' default zone). Only the owner's profile changes with it, never the data.
    owner_timezone: str = "America/Los_Angeles"
    # --- Clockify hosts: a regional (euc1, use2, euw2, apse2) or subdomain workspace answers only under
    # /<region>/api/v1 and /<region>/report/v1 (the sandbox's stand-in for https://<region>.clockify.me).
    clockify_region: Optional[str] = None
    clockify_subdomain: Optional[str] = None
    # what the other hosts answer: "workspace_not_found" (the region default, per the notes) or
    # "key_unknown" (401 code 4003; the subdomain default: its key was made on the subdomain)
    clockify_wrong_host: Optional[str] = None
    # --- Clockify plan: "PAID" (50 requests/s per key, when enforce_rate_limits) or "FREE" (also
    # clockify_free_requests_per_hour for the whole workspace, both hosts, always enforced)
    clockify_plan: str = "PAID"
    clockify_free_requests_per_hour: int = 30
    # --- open facts (defaults are the sandbox's choice)
    # DONE tasks: "on_request" (only with is-active=false), "always" (listed unless is-active=true),
    # "never" (no listing returns them; only the report's taskName names them)
    clockify_done_tasks: str = "on_request"
    clockify_report_includes_running: bool = False
    clockify_report_unstable_ties: bool = False  # sortColumn DATE: equal starts reorder page to page
    clockify_report_max_page_size: Optional[int] = None  # silently serve fewer rows than asked
    # A key whose owner is no workspace admin is not refused; what it reads depends on the workspace's
    # "who can see all time" setting (open). True (default): the key owner is the workspace's owner, an
    # admin, and reads everyone's time. False: a regular member; GET /workspaces?roles=WORKSPACE_ADMIN
    # leaves the workspace out, and what they read is clockify_member_sees_all_time's answer.
    clockify_key_owner_admin: bool = True
    # For a member's key: True, everyone's time (Clockify's default setting); False, "only their own time"
    # (workspaceSettings.onlyAdminsSeeAllTimeEntries): the report and the other users' time entries then
    # hold only the key owner's entries, with no error.
    clockify_member_sees_all_time: bool = True
    # changes feed (/entities/deleted|updated|created): "on", "off_404" or "off_403"
    clockify_changes_feed: str = "on"
    clockify_changes_delay_s: float = 60.0  # "changes appear about a minute later"
    # Rates in the detailed report (open, sandbox/README.md "Rates"): "entry" (each row's `rate` is the
    # rate Clockify priced it at, `amount` its billable amount) or "zero" (`rate`/`amount` 0, as a plan
    # that hides amounts might answer). `clockify_report_amount_unit`: `amount` in "cents" (like every
    # rate) or currency "units" (a decimal).
    clockify_report_rates: str = "entry"
    clockify_report_amount_unit: str = "cents"
    clockify_currency: str = "USD"  # the workspace's currency (every rate is in it)
    # time off and holidays (sandbox/capacity.py): "on", or what a plan without them answers (open):
    # "off_403" (Access Denied) or "off_404" (No static resource); None: off_403 on the FREE plan, else on
    clockify_time_off: Optional[str] = None
    # a DAYS request's period (open): "local" (the person's midnights, as UTC instants) or "utc_dates"
    clockify_time_off_period: str = "local"
    # --- Linear
    linear_complexity_per_hour: int = 250_000
    linear_ratelimit_status: int = 400  # RATELIMITED comes as HTTP 400 or 429
    linear_customers_enabled: bool = True  # False: the plan lacks customers (FEATURE_NOT_ACCESSIBLE)
    linear_archive_bumps_updated_at: bool = True  # open: does archiving / trashing bump updatedAt
    linear_trash_retention_days: float = 30.0
    linear_oauth_token: Optional[str] = None  # accepted as "Bearer <token>" when set
    # --- the clock (sandbox/clock.py): "real", "simulated" (real speed from clock_start) or "frozen"
    clock: str = "real"
    clock_start: Optional[_dt.datetime] = None

    def __post_init__(self) -> None:
        if self.users < 1 or self.teams < 1 or self.days < 1:
            raise ValueError("users, teams and days must be >= 1")
        if self.issues < 0 or self.projects < 1 or self.clients < 0 or self.tags < 0:
            raise ValueError("issues/clients/tags must be >= 0 and projects >= 1")
        if self.entries_per_user_per_day < 0:
            raise ValueError("entries_per_user_per_day must be >= 0")
        try:
            ZoneInfo(self.owner_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"owner_timezone {self.owner_timezone!r} is not an IANA time zone") from None
        if self.clockify_region and self.clockify_subdomain:
            raise ValueError("a workspace is regional or on a subdomain, not both")
        for name in ("clockify_region", "clockify_subdomain"):
            host = getattr(self, name)
            if host is not None and (not _HOST_RE.match(host) or host in ("api", "v1", "report", "graphql")):
                raise ValueError(f"{name} {host!r} is not a host name (lower-case letters, digits, '-')")
        choices = {
            "clockify_wrong_host": (None, "workspace_not_found", "key_unknown"),
            "clockify_plan": ("PAID", "FREE"),
            "clockify_done_tasks": ("on_request", "always", "never"),
            "clockify_changes_feed": ("on", "off_404", "off_403"),
            "clockify_report_rates": ("entry", "zero"),
            "clockify_report_amount_unit": ("cents", "units"),
            "clockify_time_off": (None, "on", "off_404", "off_403"),
            "clockify_time_off_period": ("local", "utc_dates"),
            "linear_ratelimit_status": (400, 429),
            "clock": ("real", "simulated", "frozen"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, not {getattr(self, name)!r}")
        if self.clockify_time_off is None:  # the Free plan lacks time off and holidays (likely)
            object.__setattr__(self, "clockify_time_off", "off_403" if self.clockify_plan == "FREE" else "on")
        if self.clockify_report_max_page_size is not None and self.clockify_report_max_page_size < 1:
            raise ValueError("clockify_report_max_page_size must be >= 1")

    @property
    def anchor_date(self) -> _dt.date:
        return self.anchor if self.anchor is not None else _dt.datetime.now(_dt.timezone.utc).date()

    @property
    def start_date(self) -> _dt.date:
        return self.anchor_date - _dt.timedelta(days=self.days - 1)

    @property
    def clockify_host(self) -> Optional[str]:
        """The path prefix standing for the workspace's host (None: the global hosts)."""
        return self.clockify_region or self.clockify_subdomain

    @property
    def wrong_host_answer(self) -> str:
        if self.clockify_wrong_host:
            return self.clockify_wrong_host
        return "key_unknown" if self.clockify_subdomain else "workspace_not_found"

    def with_(self, **changes) -> "SandboxConfig":
        return replace(self, **changes)

    @classmethod
    def team_of_200(cls, **overrides) -> "SandboxConfig":
        """The benchmark workload: 200 people, a year of data, ~250k time entries."""
        base = dict(
            users=200, days=365, entries_per_user_per_day=5.0, teams=10, issues=20000, projects=24, clients=10, tags=12
        )
        base.update(overrides)
        return cls(**base)

    @classmethod
    def small(cls, **overrides) -> "SandboxConfig":
        """A tiny dataset for quick tests."""
        base = dict(users=4, teams=2, issues=40, days=14, projects=4, clients=2, tags=4)
        base.update(overrides)
        return cls(**base)
