"""Clockify's changes feed (experimental): which time entries were deleted or updated in a window of time, so
the daily run reloads exactly the old days that changed instead of only its trailing WAREHOUSE_RESYNC_DAYS.

`GET {main}/workspaces/{ws}/entities/deleted` and `/entities/updated` with `type=TIME_ENTRY`, `start` and
`end` (UTC instants, `yyyy-MM-ddThh:mm:ssZ`), `page` and `limit`, answer `{"response": [{id, deletedAt |
updatedAt, document, documentCode}]}` (a bare list is accepted too), where `document` is the entry: as it was
(deleted) or as it is now (updated). Changes show up about a minute after they happen. Paging starts at 0
and stops at an empty or short page, or one that brings no new id (so a 1-based API is read right as well).

Where the feed is not available (HTTP 404 or 403: an older API, a plan or a key without it), `changes()`
raises `FeedUnavailable`, and the time-entry asset falls back to a deep re-sync of the last months.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestration.clients.errors import ApiError
from orchestration.timeutil import iso_seconds, parse_timestamp

KINDS = ("deleted", "updated")
PAGE_LIMIT = 1000
# Changes appear about a minute after they happen: each check re-reads this much before its last end.
OVERLAP = dt.timedelta(minutes=10)


class FeedUnavailable(ApiError):
    """The changes feed answered 404 or 403: not available to this workspace or key."""


@dataclass(frozen=True)
class Change:
    id: str
    kind: str  # "deleted" | "updated"
    at: dt.datetime | None  # when it changed
    start: dt.datetime | None  # the entry's start in the feed's document (as it was, or as it is now)


def changes(client: Any, since: dt.datetime, until: dt.datetime, limit: int = PAGE_LIMIT) -> list[Change]:
    """Time entries deleted or updated in [since, until), one per id and kind (its latest change).

    `client` is a `ClockifyClient` (its http, workspace and error handling). Raises FeedUnavailable."""
    url = client.api_url.rstrip("/") + f"/workspaces/{client.workspace_id}/entities"
    found: dict[tuple[str, str], Change] = {}

    def refused(status: int) -> FeedUnavailable:
        return FeedUnavailable(
            f"Clockify's changes feed answered HTTP {status}: not available here; old entries are "
            "corrected by the deep re-sync instead (CLOCKIFY_DEEP_RESYNC_MONTHS / _DAYS).",
            service="Clockify",
            status=status,
        )

    check = client.check_unless_refused(refused)
    for kind in KINDS:
        page = 0
        while True:
            params = {
                "type": "TIME_ENTRY",
                "start": iso_seconds(since),
                "end": iso_seconds(until),
                "page": page,
                "limit": limit,
            }
            answer = client.http.request(
                "GET", f"{url}/{kind}", params=params, check=check, url_setting="CLOCKIFY_API_URL"
            )
            records = feed_records(answer)
            fresh = 0
            for record in records:
                change = to_change(record, kind)
                if change is None:
                    continue
                fresh += (change.id, kind) not in found
                found[(change.id, kind)] = change
            if not records or len(records) < limit or not fresh:
                break
            page += 1
    return list(found.values())


def feed_records(answer: Any) -> list[dict[str, Any]]:
    if isinstance(answer, list):  # an empty log has been seen as a bare []
        return [r for r in answer if isinstance(r, dict)]
    if isinstance(answer, dict) and isinstance(answer.get("response"), list):
        return [r for r in answer["response"] if isinstance(r, dict)]
    raise ApiError("Clockify's changes feed answered without a `response` list; its shape changed.", service="Clockify")


def to_change(record: Mapping[str, Any], kind: str) -> Change | None:
    document = record.get("document") if isinstance(record.get("document"), dict) else {}
    entry_id = record.get("id") or document.get("id")
    if not entry_id:
        return None
    interval = document.get("timeInterval") if isinstance(document.get("timeInterval"), dict) else {}
    return Change(
        id=str(entry_id),
        kind=kind,
        at=parse_timestamp(record.get("deletedAt") if kind == "deleted" else record.get("updatedAt")),
        start=parse_timestamp(interval.get("start")),
    )


def changed_days(found: Iterable[Change], loaded_day_of: Mapping[str, dt.date]) -> set[dt.date]:
    """The UTC days whose entries changed: each change's day in the feed, and the day the warehouse holds the
    entry on (an entry moved to another day changed both)."""
    days: set[dt.date] = set()
    for change in found:
        if change.start is not None:
            days.add(change.start.date())
        if change.id in loaded_day_of:
            days.add(loaded_day_of[change.id])
    return days
