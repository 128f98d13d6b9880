"""UTC and API timestamp helpers shared by the clients, the warehouse and write-back.

The warehouse stores naive UTC; the APIs speak ISO-8601 with an offset (`Z`). Naive datetimes handed to
these helpers are taken to be UTC already.
"""

from __future__ import annotations

import datetime as dt
from typing import Any


def as_utc(moment: dt.datetime) -> dt.datetime:
    """Aware datetimes converted to UTC; naive ones taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def utc_now_naive() -> dt.datetime:
    """Now, in UTC, without tzinfo: how the warehouse stores times (`_loaded_at`, link rows)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def parse_timestamp(value: Any) -> dt.datetime | None:
    """An API timestamp (`...Z` or with an offset) as an aware UTC datetime; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return as_utc(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def iso_seconds(moment: dt.datetime) -> str:
    """2024-05-01T09:00:00Z: UTC to the second."""
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_millis(moment: dt.datetime) -> str:
    """2024-05-01T09:00:00.000Z: UTC to the millisecond."""
    moment = as_utc(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def split_range(start: dt.datetime, end: dt.datetime, longest: dt.timedelta) -> list[tuple[dt.datetime, dt.datetime]]:
    """Consecutive half-open windows covering [start, end), none longer than `longest`."""
    windows = []
    while start < end:
        windows.append((start, min(end, start + longest)))
        start = windows[-1][1]
    return windows
