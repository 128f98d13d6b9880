"""Capacity data of the Clockify sandbox: working days and hours (workspace settings, member profiles),
holidays and time-off requests, generated and served like the real API (sandbox/README.md, "Capacity").

- ``GET /workspaces/{ws}/member-profile/{userId}``: ``{email, name, weekStart, workCapacity ("PT8H",
  ISO-8601, hours per working day), workingDays ["MONDAY", ...], ...}``; unknown user 404.
- ``GET /workspaces/{ws}/holidays``: every holiday at once (``page-size`` ignored, as probed), each
  ``{id, name, workspaceId, datePeriod {startDate, endDate} (YYYY-MM-DD), everyoneIncludingNew,
  userIds, userGroupIds, occursAnnually, automaticTimeEntryCreation, projectId, taskId}``; ``assigned-to``
  keeps the holidays of one user (their groups' too).
- ``GET /workspaces/{ws}/user-groups``: ``[{id, name, workspaceId, teamManagers, userIds}]`` paged by
  ``page``/``page-size`` (default 50), on every plan (a plan without groups: open, not simulated).
- ``POST /workspaces/{ws}/time-off/requests`` with ``{start, end, statuses, users, page, pageSize}``:
  ``{count, requests: [TimeOffRequestFullV1Dto]}``. ``start``/``end`` filter the request's *creation*
  time (the docs), not its period; ``statuses`` APPROVED, PENDING, REJECTED or ALL (default: all);
  ``page`` 1-based, ``pageSize`` default 50. A request's ``timeOffPeriod.period {start, end}`` are UTC
  instants: for ``timeUnit: DAYS`` the user's local midnight to the last day's local 23:59:59.999
  (``clockify_time_off_period="utc_dates"``: UTC midnight to 23:59:59.999 UTC, the other answer of an open
  fact); for ``HOURS`` the hours off. ``halfDay`` requests cover one day at half its capacity.
- ``clockify_time_off`` "off_403" / "off_404": the plan lacks time off (holidays included): both paths
  answer 403 Access Denied (code 1003) or 404 No static resource (what the real API answers is open).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import random
from typing import Any
from zoneinfo import ZoneInfo

from .timefmt import clockify_ts

WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
MON_FRI = list(WEEKDAYS[:5])
STATUSES = ("APPROVED", "PENDING", "REJECTED")


def _day(d: _dt.date) -> str:
    return d.isoformat()


def generate(ws: Any, cfg: Any) -> None:
    """Working days, member profiles, holidays and time-off requests (own random stream: nothing else moves)."""
    from .data import TIMEZONES  # here: data.py imports this module

    rng = random.Random(f"{cfg.seed}:capacity")
    wsid = ws.workspace_id
    ws.clockify_workspaces[0].setdefault("workspaceSettings", {})["workingDays"] = list(MON_FRI)
    users = ws.clockify_users
    profiles: dict[str, dict] = {}
    for i, u in enumerate(users):
        capacity, days = "PT8H", list(MON_FRI)
        if i == 1:
            capacity, days = "PT6H", list(WEEKDAYS[:4])  # part time, Monday to Thursday
        elif i == 2:
            capacity = "PT7H30M"
        elif i == 3 and len(users) > 4:
            days = []  # no working days of their own: the workspace's apply
        profiles[u["id"]] = {
            "email": u["email"],
            "name": u["name"],
            "hasPassword": True,
            "hasPendingApprovalRequest": False,
            "imageUrl": "",
            "userCustomFieldValues": [],
            "weekStart": "MONDAY",
            "workCapacity": capacity,
            "workingDays": days,
            "workspaceNumber": 1,
        }
    ws.clockify_member_profiles = profiles

    start, end = cfg.start_date, cfg.anchor_date
    ids = iter(f"{rng.getrandbits(96):024x}" for _ in range(100000))
    holidays: list[dict] = []

    def holiday(name: str, first: _dt.date, last: _dt.date, user_ids=None, annual=False) -> None:
        holidays.append(
            {
                "id": next(ids),
                "name": name,
                "workspaceId": wsid,
                "datePeriod": {"startDate": _day(first), "endDate": _day(last)},
                "everyoneIncludingNew": user_ids is None,
                "userIds": list(user_ids or []),
                "userGroupIds": [],
                "occursAnnually": annual,
                "automaticTimeEntryCreation": False,
                "projectId": None,
                "taskId": None,
            }
        )

    def weekday_in(lo: _dt.date, hi: _dt.date) -> _dt.date:
        d = lo + _dt.timedelta(days=rng.randrange(max((hi - lo).days, 1)))
        while d.weekday() >= 5:
            d += _dt.timedelta(days=1)
        return d

    # New Year's Day, entered years ago and repeating every year (occursAnnually)
    holiday("New Year's Day", _dt.date(start.year - 3, 1, 1), _dt.date(start.year - 3, 1, 1), annual=True)
    mid = start + (end - start) / 2
    founders = weekday_in(start, mid)  # entered two years ago on this month and day, repeating every year
    holiday(
        "Founders' Day", founders.replace(year=founders.year - 2), founders.replace(year=founders.year - 2), annual=True
    )
    company = weekday_in(mid, mid + _dt.timedelta(days=7))
    holiday("Company day off", company, company)
    # a two-day regional holiday for a third of the people
    regional = weekday_in(start + _dt.timedelta(days=3), mid)
    holiday("Regional holiday", regional, regional + _dt.timedelta(days=1), [u["id"] for u in users[::3]])
    saturday = start + _dt.timedelta(days=(5 - start.weekday()) % 7)
    holiday("Saturday fair", saturday, saturday)  # on a weekend: takes nothing off

    # User groups and a holiday given only to one: ids and dates drawn from no random stream, so adding
    # them moved nothing else the sandbox generates.
    def group_id(n: int) -> str:
        return hashlib.sha1(f"{wsid}:user-group:{n}".encode()).hexdigest()[:24]

    groups = [
        {"id": group_id(1), "name": "Support", "workspaceId": wsid, "teamManagers": [], "userIds": []},
        {"id": group_id(2), "name": "Design", "workspaceId": wsid, "teamManagers": [], "userIds": []},
    ]
    groups[0]["userIds"] = [u["id"] for u in users[1::4]]
    groups[1]["userIds"] = [u["id"] for u in users[2::5]]
    ws.clockify_user_groups = groups
    offsite = end - _dt.timedelta(days=10)
    while offsite.weekday() >= 5:
        offsite -= _dt.timedelta(days=1)
    holidays.append(
        {
            **holidays[-1],
            "id": group_id(100),
            "name": "Support offsite",
            "datePeriod": {"startDate": _day(offsite), "endDate": _day(offsite)},
            "everyoneIncludingNew": False,
            "userIds": [],
            "userGroupIds": [groups[0]["id"]],
        }
    )
    ws.clockify_holidays = holidays

    policies = [
        ("pol-vacation", "Vacation", "DAYS"),
        ("pol-sick", "Sick leave", "DAYS"),
        ("pol-hours", "Errands", "HOURS"),
    ]
    requests: list[dict] = []
    created0 = _dt.datetime.combine(start, _dt.time(9), _dt.timezone.utc) - _dt.timedelta(days=20)

    def request(u: dict, policy: tuple, first: _dt.date, last: _dt.date, status: str, half=False, hours=None):
        # the person's own zone (data.TIMEZONES, round robin in e-mail order), not the profile's: the key
        # owner's profile zone is a knob (owner_timezone) that must never move the data
        zone_name = TIMEZONES[users.index(u) % len(TIMEZONES)]
        tz = ZoneInfo(zone_name)
        if hours is not None:  # HOURS: the local hours off, as instants
            lo = _dt.datetime.combine(first, _dt.time(hours[0]), tz)
            hi = _dt.datetime.combine(first, _dt.time(hours[1]), tz)
        elif cfg.clockify_time_off_period == "utc_dates":
            lo = _dt.datetime.combine(first, _dt.time(0), _dt.timezone.utc)
            hi = _dt.datetime.combine(last, _dt.time(23, 59, 59, 999000), _dt.timezone.utc)
        else:  # the person's own midnight to the end of their last day
            lo = _dt.datetime.combine(first, _dt.time(0), tz)
            hi = _dt.datetime.combine(last, _dt.time(23, 59, 59, 999000), tz)
        created = created0 + _dt.timedelta(days=len(requests), hours=rng.randrange(8))
        requests.append(
            {
                "id": next(ids),
                "workspaceId": wsid,
                "userId": u["id"],
                "userName": u["name"],
                "userEmail": u["email"],
                "userTimeZone": zone_name,
                "requesterUserId": u["id"],
                "requesterUserName": u["name"],
                "policyId": policy[0],
                "policyName": policy[1],
                "timeUnit": policy[2],
                "note": "",
                "balance": 20.0,
                "balanceDiff": 0.5 if half else (hours[1] - hours[0] if hours else float((last - first).days + 1)),
                "createdAt": created.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z",
                "status": {
                    "statusType": status,
                    "changedAt": clockify_ts(int(created.timestamp()) + 3600),
                    "changedByUserId": users[0]["id"],
                    "changedByUserName": users[0]["name"],
                    "changedForUserName": u["name"],
                    "note": None,
                },
                "timeOffPeriod": {
                    "period": {"start": _iso_ms(lo), "end": _iso_ms(hi)},
                    "halfDay": half,
                    "halfDayPeriod": "FIRST_HALF" if half else None,
                    "halfDayHours": None,
                },
            }
        )

    for i, u in enumerate(users):
        if i % 2 == 0:  # a week's vacation, Monday to Friday
            monday = weekday_in(start + _dt.timedelta(days=7), end - _dt.timedelta(days=7))
            monday -= _dt.timedelta(days=monday.weekday())
            request(u, policies[0], monday, monday + _dt.timedelta(days=4), "APPROVED")
        if i % 3 == 1:  # a sick day and a half day
            day = weekday_in(start, end)
            request(u, policies[1], day, day, "APPROVED")
            half = weekday_in(start, end)
            request(u, policies[0], half, half, "APPROVED", half=True)
        if i % 4 == 1:  # two hours of errands, 14:00-16:00 local
            errand = weekday_in(start, end)
            request(u, policies[2], errand, errand, "APPROVED", hours=(14, 16))
        if i % 3 == 2:  # asked and not (yet) approved: takes nothing off
            day = weekday_in(start, end)
            request(u, policies[0], day, day + _dt.timedelta(days=1), "PENDING" if i % 2 else "REJECTED")
    ws.clockify_time_off_requests = requests


def _iso_ms(value: _dt.datetime) -> str:
    return value.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def feature_off(ws: Any, path: str):
    """The answer of a plan without time off, or None where the plan has it."""
    from .clockify import access_denied, no_route

    mode = ws.config.clockify_time_off
    if mode == "off_404":
        return no_route("api/v1" + path)
    if mode == "off_403":
        return access_denied()
    return None


def member_profile(ws: Any, user_id: str):
    from .clockify import Response, error

    profile = ws.clockify_member_profiles.get(user_id)
    return Response(200, dict(profile)) if profile else error(404, "User not found", 501)


def holidays(ws: Any, path: str, q: dict):
    from .clockify import Response

    off = feature_off(ws, path)
    if off is not None:
        return off
    found = ws.clockify_holidays
    who = q.get("assigned-to")
    if who:
        theirs = {g["id"] for g in ws.clockify_user_groups if who in g["userIds"]}
        found = [
            h for h in found if h["everyoneIncludingNew"] or who in h["userIds"] or theirs & set(h["userGroupIds"])
        ]
    return Response(200, [json.loads(json.dumps(h)) for h in found])


def user_groups(ws: Any, q: dict):
    from .clockify import _page

    return _page([json.loads(json.dumps(g)) for g in ws.clockify_user_groups], q)


def time_off_requests(ws: Any, path: str, body: bytes):
    from .clockify import BadRequest, Response
    from .timefmt import to_epoch

    off = feature_off(ws, path)
    if off is not None:
        return off
    try:
        req = json.loads(body or b"{}")
    except ValueError:
        raise BadRequest("Malformed JSON request") from None
    if not isinstance(req, dict):
        raise BadRequest("Malformed JSON request")
    found = list(ws.clockify_time_off_requests)
    statuses = [s.upper() for s in req.get("statuses") or []]
    if statuses and "ALL" not in statuses:
        bad = [s for s in statuses if s not in STATUSES]
        if bad:
            raise BadRequest(f"Invalid statuses {bad}")
        found = [r for r in found if r["status"]["statusType"] in statuses]
    if req.get("users"):
        found = [r for r in found if r["userId"] in set(req["users"])]
    for name, keep in (("start", lambda c, b: c >= b), ("end", lambda c, b: c <= b)):
        if req.get(name):  # the request's creation time, not its period (the docs)
            try:
                bound = to_epoch(req[name])
            except (ValueError, TypeError):
                raise BadRequest(f"Invalid date format for '{name}': '{req[name]}'") from None
            found = [r for r in found if keep(to_epoch(r["createdAt"]), bound)]
    page, size = int(req.get("page") or 1), int(req.get("pageSize") or 50)
    if page < 1 or size < 1:
        raise BadRequest("page and pageSize must be >= 1")
    chunk = found[(page - 1) * size : page * size]
    return Response(200, {"count": len(found), "requests": json.loads(json.dumps(chunk))})
