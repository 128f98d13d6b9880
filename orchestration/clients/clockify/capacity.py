"""Clockify capacity reads: member profiles (work capacity and working days), holidays, approved time off.

- `member_profiles(client, user_ids)`: `GET /workspaces/{ws}/member-profile/{userId}`, one request per person
  (no list carries `workCapacity`), `report_concurrency` at a time; each record gains the `userId` the profile
  itself lacks.
- `holidays(client)`: `GET /workspaces/{ws}/holidays`, every holiday at once (the API ignores paging).
- `user_groups(client)`: `GET /workspaces/{ws}/user-groups` paged by `page`/`page-size` (documented, default
  50), each `{id, name, workspaceId, userIds, ...}` (`userIds` likely): who a holiday given to groups is for.
- `approved_time_off(client, created_since=None)`: `POST /workspaces/{ws}/time-off/requests` with `statuses:
  [APPROVED]`, paged by `page`/`pageSize` until `count` is reached. Its `start`/`end` select by when a request
  was *created*, and what omitting them means is not documented: the body always names a window, from 2000
  (or `created_since`: the daily run's read of recent requests) to tomorrow.

Time off and holidays are a plan feature. Where the API refuses them (HTTP 403 or 404: which one a plan
without them answers is open) these raise `FeatureNotAccessible`, and the raw assets load an empty table
with a note. On the Free plan (30 requests an hour) nothing is asked: it lacks time off (likely), and a
profile read per person would spend the hour's budget the time entries need.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from orchestration.clients.errors import ApiError, FeatureNotAccessible

TIME_OFF_PAGE_SIZE = 200
# The documented default; its maximum is unknown, and a page cut below what was asked would look like the last.
USER_GROUPS_PAGE_SIZE = 50
# Requests created since then: every request a workspace can have (the API's own default is unknown).
TIME_OFF_CREATED_SINCE = "2000-01-01T00:00:00.000000Z"


def _refused_as_unavailable(client: Any, what: str):
    def refused(status: int) -> FeatureNotAccessible:
        return FeatureNotAccessible(
            f"Clockify answered HTTP {status} to {what}: this workspace's plan (or the key) has "
            "no time off or holidays, so none are subtracted from capacity.",
            service="Clockify",
            status=status,
        )

    return client.check_unless_refused(refused)


def _free_plan(client: Any, what: str) -> None:
    if client.plan == "free":
        raise FeatureNotAccessible(
            f"{what} not read on Clockify's Free plan (no time off there; its 30 requests an hour go to time entries).",
            service="Clockify",
        )


def member_profiles(client: Any, user_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Each person's member profile (`workCapacity` "PT8H", `workingDays` [...]), with its `userId`, in the order
    asked. The reads go `report_concurrency` at a time, paced under the rate limit like the per-project task
    reads (a team of 200 read one by one costs 200 latencies in every run); the same requests as one by one."""
    _free_plan(client, "member profiles (work capacity, working days)")
    wanted = list(dict.fromkeys(user_ids))  # de-duplicated, order kept

    def read(user_id: str, pace: Callable[[], None]) -> dict[str, Any]:
        pace()
        url = client._api_url(client._ws_path(f"/member-profile/{user_id}"))
        profile = client.http.request(
            "GET", url, check=_refused_as_unavailable(client, "GET member-profile"), url_setting="CLOCKIFY_API_URL"
        )
        if not isinstance(profile, dict):
            raise ApiError(f"Clockify answered GET member-profile/{user_id} with no object.", service="Clockify")
        return {**profile, "userId": user_id}

    by_user = client._per_project(read, wanted)
    return [by_user[user_id] for user_id in wanted]


def holidays(client: Any) -> list[dict[str, Any]]:
    _free_plan(client, "holidays")
    url = client._api_url(client._ws_path("/holidays"))
    answer = client.http.request(
        "GET", url, check=_refused_as_unavailable(client, "GET holidays"), url_setting="CLOCKIFY_API_URL"
    )
    if not isinstance(answer, list):
        raise ApiError("Clockify answered GET holidays with no list.", service="Clockify")
    return [h for h in answer if isinstance(h, dict)]


def user_groups(client: Any) -> list[dict[str, Any]]:
    """Every user group of the workspace with its members, page by page until a short page."""
    _free_plan(client, "user groups (for holidays given to groups)")
    url = client._api_url(client._ws_path("/user-groups"))
    found: dict[str, dict[str, Any]] = {}
    page = 1
    while True:
        answer = client.http.request(
            "GET",
            url,
            params={"page": page, "page-size": USER_GROUPS_PAGE_SIZE},
            check=_refused_as_unavailable(client, "GET user-groups"),
            url_setting="CLOCKIFY_API_URL",
        )
        if not isinstance(answer, list):
            raise ApiError("Clockify answered GET user-groups with no list.", service="Clockify")
        new = 0
        for g in answer:
            if isinstance(g, dict) and g.get("id") and g["id"] not in found:
                found[g["id"]] = g
                new += 1
        if len(answer) < USER_GROUPS_PAGE_SIZE or not new:
            return list(found.values())
        page += 1


def approved_time_off(client: Any, created_since: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Every APPROVED time-off request of the workspace (pending and rejected ones take nothing off), or
    those created since `created_since` (the body's `start` selects by creation time)."""
    _free_plan(client, "time off")
    url = client._api_url(client._ws_path("/time-off/requests"))
    tomorrow = dt.datetime.fromtimestamp(client.clock.time(), dt.UTC) + dt.timedelta(days=1)
    since = created_since.strftime("%Y-%m-%dT%H:%M:%S.000000Z") if created_since else TIME_OFF_CREATED_SINCE
    found: dict[str, dict[str, Any]] = {}
    page = 1
    while True:
        body = {
            "start": since,
            "end": tomorrow.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
            "statuses": ["APPROVED"],
            "page": page,
            "pageSize": TIME_OFF_PAGE_SIZE,
        }
        answer = client.http.request(
            "POST",
            url,
            json=body,
            check=_refused_as_unavailable(client, "POST time-off/requests"),
            url_setting="CLOCKIFY_API_URL",
        )
        records = answer.get("requests") if isinstance(answer, dict) else None
        if not isinstance(records, list):
            raise ApiError("Clockify answered POST time-off/requests without a `requests` list.", service="Clockify")
        new = 0
        for r in records:
            if isinstance(r, dict) and r.get("id") and r["id"] not in found:
                found[r["id"]] = r
                new += 1
        count = answer.get("count")
        if len(records) < TIME_OFF_PAGE_SIZE or not new or (isinstance(count, int) and len(found) >= count):
            return list(found.values())
        page += 1
