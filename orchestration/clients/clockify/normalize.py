"""Clockify's records in one shape: report rows and main-API entries both become main-API time entries.

Pure functions (no I/O), unit-tested directly: the reports API and the main API disagree on ids (`_id`),
empty values ("" vs null), durations (seconds vs ISO-8601) and time offsets; everything downstream sees
the main API's shape with times in UTC (`Z`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from orchestration.clients.clockify.records import ClockifyTimeEntry
from orchestration.clients.errors import ApiError
from orchestration.timeutil import iso_millis, iso_seconds, parse_timestamp

# Fields every normalised time entry has, even when the source left them out.
_ENTRY_DEFAULTS: dict[str, Any] = {
    "description": None,
    "userId": None,
    "projectId": None,
    "taskId": None,
    "billable": None,
    "type": "REGULAR",
}


def format_api_timestamp(moment: datetime) -> str:
    """Main API style: 2024-05-01T09:00:00Z (second precision is all Clockify stores)."""
    return iso_seconds(moment)


def format_report_timestamp(moment: datetime) -> str:
    """Reports API style: 2024-05-01T09:00:00.000Z."""
    return iso_millis(moment)


def seconds_to_iso_duration(seconds: float) -> str:
    """3725 -> "PT1H2M5S", the main API's duration format (hours are not folded into days)."""
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{secs}S" if secs else "")
    return text if text != "PT" else "PT0S"


_API_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z", re.ASCII)


def normalise_entry(record: dict[str, Any], workspace_id: str) -> ClockifyTimeEntry:
    """Same fields and formats whichever endpoint the entry came from: times in UTC with `Z`."""
    entry = dict(record)
    for key, default in _ENTRY_DEFAULTS.items():
        entry.setdefault(key, default)
    for key in ("projectId", "taskId", "clientId"):
        if entry.get(key) == "":  # reports use "" for "none", the main API null
            entry[key] = None
    if entry.get("tagIds") is None:
        entry["tagIds"] = []
    if not entry.get("workspaceId"):
        entry["workspaceId"] = workspace_id
    interval = dict(entry.get("timeInterval") or {})
    for key in ("start", "end"):
        value = interval.get(key)
        if isinstance(value, str) and _API_TIMESTAMP.match(value):
            continue  # already the main API's form (parsing and formatting would give it back)
        moment = parse_timestamp(value)
        # Reports may give times in the user's profile offset; store UTC like the main API.
        interval[key] = format_api_timestamp(moment) if moment else value
    interval.setdefault("end", None)
    if isinstance(interval.get("duration"), (int, float)) and not isinstance(interval["duration"], bool):
        interval["duration"] = seconds_to_iso_duration(interval["duration"])
    if interval.get("end") is None:
        interval["duration"] = None  # running timer
    interval.setdefault("duration", None)
    entry["timeInterval"] = interval
    return cast(ClockifyTimeEntry, entry)


def report_row_to_entry(row: dict[str, Any], workspace_id: str) -> ClockifyTimeEntry:
    """A detailed-report row mapped to the main API's time-entry shape; report-only fields are kept."""
    entry = dict(row)
    entry["id"] = row_id(row)
    entry.pop("_id", None)
    if entry.get("tagIds") is None and isinstance(row.get("tags"), list):
        entry["tagIds"] = [t.get("_id") or t.get("id") for t in row["tags"] if isinstance(t, dict)]
    return normalise_entry(entry, workspace_id)


def row_id(row: dict[str, Any]) -> str:
    return row.get("_id") or row.get("id") or ""


def report_rows(answer: Any) -> list[dict[str, Any]]:
    if isinstance(answer, dict):
        for key in ("timeentries", "timeEntries"):
            if isinstance(answer.get(key), list):
                return answer[key]
        if not answer.get("totals"):  # an empty report may come back without the list at all
            return []
    raise ApiError(
        "Clockify detailed report came back without a `timeentries` list; the reports API changed shape.",
        service="Clockify",
    )


def report_entry_count(answer: dict[str, Any]) -> int | None:
    totals = answer.get("totals") or []
    if totals and isinstance(totals[0], dict) and isinstance(totals[0].get("entriesCount"), int):
        return totals[0]["entriesCount"]
    return None


def named(records: Iterable[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The record Clockify would consider to have `name` (names are unique ignoring case and edge spaces)."""
    wanted = name.strip().casefold()
    return next((r for r in records if str(r.get("name") or "").strip().casefold() == wanted), None)
