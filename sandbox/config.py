"""Configuration of a sandbox dataset and server."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, replace
from typing import Optional

DEFAULT_CLOCKIFY_API_KEY = "sandbox-clockify-key"
DEFAULT_LINEAR_API_KEY = "lin_api_sandbox0000000000000000000000000000000"


@dataclass(frozen=True)
class SandboxConfig:
    """Everything that determines the synthetic dataset (and a few server knobs).

    The same config always yields the same data (``anchor=None`` means today's UTC
    date, so pin ``anchor`` where reproducibility across days matters).
    Data covers the days ``[anchor - days + 1, anchor]``.
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
    linear_requests_per_hour: int = 2500

    def __post_init__(self) -> None:
        if self.users < 1 or self.teams < 1 or self.days < 1:
            raise ValueError("users, teams and days must be >= 1")
        if self.issues < 0 or self.projects < 1 or self.clients < 0 or self.tags < 0:
            raise ValueError("issues/clients/tags must be >= 0 and projects >= 1")
        if self.entries_per_user_per_day < 0:
            raise ValueError("entries_per_user_per_day must be >= 0")

    @property
    def anchor_date(self) -> _dt.date:
        return self.anchor if self.anchor is not None else _dt.datetime.now(_dt.timezone.utc).date()

    @property
    def start_date(self) -> _dt.date:
        return self.anchor_date - _dt.timedelta(days=self.days - 1)

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
