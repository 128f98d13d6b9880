"""Clockify main API (``/api/v1``) and detailed-report API (``/v1``) handlers.

What the real API does (``api-notes.md``) is followed; where the notes are silent or mark a fact *open*,
the choice is documented here and in sandbox/README.md (tests rely on them):

- Time zones. The detailed report reads ``dateRangeStart``/``dateRangeEnd`` as wall-clock time in the
  body's ``timeZone`` (IANA), by default the API-key owner's profile zone; a ``Z``/offset on the bounds
  is ignored. Rows render ``timeInterval.start/end`` in that zone with its offset
  (``2024-06-20T08:00:00-07:00``; ``Z`` where the offset is zero). ``GET .../user/{id}/time-entries``
  re-reads ``start``/``end`` as wall-clock time in the key owner's zone (no opt-out) and answers UTC
  ``Z`` timestamps. Both bounds filter on the entry's *start* and are **inclusive**.
- A member's key (``clockify_key_owner_admin=False``): ``GET /workspaces?roles=...`` leaves the workspace
  out; with ``clockify_member_sees_all_time=False`` the report and other users' time entries hold only the
  key owner's entries (no error).
- Auth: no key 401 code 1000; an unknown key 401 ``{"message": "Api key does not exist", "code": 4003}``.
- Unknown workspace (and a workspace on another host, see server.py): HTTP 403
  ``{"message": "Access Denied", "code": 1003}``. Unknown paths: 404 ``No static resource ...`` code 3000.
- Lists: ``page`` (1-based), ``page-size`` (default 50, > 5000 answers 400), a ``Last-Page: true|false``
  header; creation order (users: by e-mail, Clockify's default ``sort-column``; creation order is
  e-mail order in the generated data). ``archived`` on projects/clients/tags.
- ``/users``: ``account-statuses`` (comma-separated; default ACTIVE, PENDING_EMAIL_VERIFICATION,
  NOT_REGISTERED, so LIMITED accounts are left out), ``status`` (membership status: PENDING, ACTIVE,
  DECLINED, INACTIVE, ALL = default), ``memberships`` (NONE = default: ``memberships: []``; WORKSPACE or
  ALL add ``{userId, hourlyRate, costRate, targetId, membershipType: "WORKSPACE", membershipStatus}``),
  ``email``/``name`` (contains), ``sort-column`` EMAIL (default) | NAME | ID, ``sort-order``.
- Tasks (open fact, ``clockify_done_tasks``): "on_request" (default) lists DONE tasks only for
  ``is-active=false`` (and then only them); ``hydrated=true`` embeds ACTIVE tasks only. "always": no
  ``is-active`` or ``false`` lists every task, hydrated embeds all. "never": only ACTIVE tasks, anywhere.
- Detailed report rows in the official shape: ``_id, description, userId, userName, userEmail,
  billable, projectId, projectName, projectColor, clientId, clientName, taskId, taskName,
  tags[{id, name}], locked, approvalRequestId, timeInterval{start, end, duration (s)}, amount, rate,
  customFields``; missing ids and names are ``""``. ``totals: [{..., entriesCount}]``, ``[null]`` when
  empty. ``sortColumn`` ID (unique), DATE (default; ties by id, or reordered page to page with
  ``clockify_report_unstable_ties``), USER, USER_EMAIL, PROJECT, CLIENT, TASK, DESCRIPTION, DURATION,
  AMOUNT; ``sortOrder`` DESCENDING (default) or ASCENDING. No page-size maximum, unless
  ``clockify_report_max_page_size`` silently serves fewer rows. Range > 366 days: 400. Running timers
  (open) are left out unless ``clockify_report_includes_running``; ``totals.totalTime`` counts finished
  entries only.
- Changes feed (experimental): ``GET /workspaces/{ws}/entities/{deleted,updated,created}?type=TIME_ENTRY
  &start&end&page&limit``. ``type`` required (repeatable or comma-separated; only TIME_ENTRY has
  records). ``start``/``end`` are UTC instants filtering the change time (default: the 30 days up to
  ``end`` or now), ``page`` is 0-based (the docs' default is "0"), ``limit`` default 50. Answer
  ``{"response": [{"id", "deletedAt"|"updatedAt"|"createdAt", "documentCode": "TIME_ENTRY",
  "document": {the entry, main-API shape}}]}``, oldest change first, one record per entry (its latest
  change); a change shows ``clockify_changes_delay_s`` (60) after it happened; an entry created within
  the window is left out of /deleted and /updated. ``clockify_changes_feed`` "off_404" / "off_403".
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import random
import re
from typing import Any, Optional
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import capacity
from .data import Workspace, entry_rate
from .timefmt import clockify_ts, to_epoch

MAX_PAGE_SIZE = 5000
MAX_REPORT_RANGE_DAYS = 366
DEFAULT_ACCOUNT_STATUSES = ("ACTIVE", "PENDING_EMAIL_VERIFICATION", "NOT_REGISTERED")
ACCOUNT_STATUSES = DEFAULT_ACCOUNT_STATUSES + ("LIMITED", "DELETED", "LIMITED_DELETED")
MEMBERSHIP_STATUSES = ("PENDING", "ACTIVE", "DECLINED", "INACTIVE", "ALL")
SORT_COLUMNS = ("ID", "DATE", "USER", "USER_EMAIL", "PROJECT", "CLIENT", "TASK", "DESCRIPTION", "DURATION", "AMOUNT")
CHANGE_TYPES = (
    "APPROVAL_REQUESTS",
    "BALANCE",
    "CLIENTS",
    "CUSTOM_FIELDS",
    "HOLIDAYS",
    "INVOICES",
    "PROJECTS",
    "PTO_POLICY",
    "SCHEDULED_ASSIGNMENT",
    "TAGS",
    "TASKS",
    "TIME_ENTRY",
    "TIME_ENTRY_CUSTOM_FIELD_VALUE",
    "TIME_ENTRY_RATE",
    "TIME_OFF_REQUEST",
    "USER",
    "USER_GROUPS",
)
DAY = 86400


class Response:
    __slots__ = ("status", "body", "headers")

    def __init__(self, status: int, body: Any, headers: Optional[dict] = None):
        self.status = status
        self.body = body
        self.headers = headers or {}


def error(status: int, message: str, code: int) -> Response:
    return Response(status, {"message": message, "code": code})


UNAUTHORIZED = {"message": "Full authentication is required to access this resource", "code": 1000}
KEY_UNKNOWN = {"message": "Api key does not exist", "code": 4003}
ACCESS_DENIED = {"message": "Access Denied", "code": 1003}


def access_denied() -> Response:
    return Response(403, dict(ACCESS_DENIED))


def no_route(path: str) -> Response:
    return error(404, f"No static resource {path.lstrip('/')}.", 3000)


class BadRequest(Exception):
    def __init__(self, message: str, code: int = 400, status: int = 400):
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


def _qs(query: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}


def _int_param(q: dict, name: str, default: int, lo: int = 1, hi: Optional[int] = None) -> int:
    raw = q.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        raise BadRequest(f"Invalid value '{raw}' for parameter '{name}'")
    if v < lo:
        raise BadRequest(f"{name}: must be greater than or equal to {lo}")
    if hi is not None and v > hi:
        raise BadRequest(f"{name}: must be less than or equal to {hi}")
    return v


def _bool_param(q: dict, name: str) -> Optional[bool]:
    raw = q.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise BadRequest(f"Invalid value '{raw}' for parameter '{name}'")


def _list_param(q: dict, name: str) -> Optional[list[str]]:
    raw = q.get(name)
    if raw is None or raw == "":
        return None
    return [v.strip().upper() for v in raw.split(",") if v.strip()]


def _roles_param(query: str) -> list[str]:
    """`roles`, repeated (roles=WORKSPACE_ADMIN&roles=OWNER) or comma-separated."""
    return [r.strip().upper() for v in parse_qs(query).get("roles", []) for r in v.split(",") if r.strip()]


def sees_only_own_time(ws: Workspace) -> bool:
    """The key's owner is a member (no admin) of a workspace that shows members only their own time."""
    return not ws.config.clockify_key_owner_admin and not ws.config.clockify_member_sees_all_time


def key_owner_id(ws: Workspace) -> str:
    return ws.clockify_users[0]["id"]


def _page(items: list, q: dict, transform=None) -> Response:
    """One page of a main-API list, with Clockify's ``Last-Page`` header."""
    page = _int_param(q, "page", 1)
    size = _int_param(q, "page-size", 50, hi=MAX_PAGE_SIZE)
    chunk = items[(page - 1) * size : page * size]
    last = page * size >= len(items)
    return Response(200, transform(chunk) if transform else chunk, {"Last-Page": "true" if last else "false"})


_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
_WALL_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?)(?:Z|z|[+-]\d{2}:?\d{2})?$")


def zone(name: Any) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise BadRequest(f"Invalid time zone: {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadRequest(f"Invalid time zone: '{name}'") from None


def wall_clock_epoch(text: str, tz: ZoneInfo) -> float:
    """``2024-06-01T00:00:00.000Z`` read as the wall-clock time 2024-06-01 00:00 in ``tz`` (the suffix
    does not pick the instant: that is how Clockify reads report bounds and time-entry windows)."""
    m = _WALL_RE.match(text.strip())
    if not m:
        raise ValueError(text)
    naive = _dt.datetime.fromisoformat(m.group(1).replace(" ", "T")[:26])
    return naive.replace(tzinfo=tz).timestamp()


def owner_zone(ws: Workspace) -> ZoneInfo:
    """The API-key owner's profile zone (``/user`` is ``clockify_users[0]``)."""
    return zone(ws.clockify_users[0]["settings"]["timeZone"])


def render_ts(ts: Optional[str], tz: ZoneInfo) -> Optional[str]:
    """A stored UTC ``...Z`` timestamp in ``tz`` with its offset, seconds precision."""
    if ts is None:
        return None
    local = _dt.datetime.fromtimestamp(to_epoch(ts), tz)
    off = local.utcoffset()
    text = local.replace(tzinfo=None).isoformat(timespec="seconds")
    if not off:
        return text + "Z"
    secs = int(off.total_seconds())
    sign = "+" if secs >= 0 else "-"
    h, rem = divmod(abs(secs), 3600)
    return f"{text}{sign}{h:02d}:{rem // 60:02d}"


# ------------------------------------------------------------------------------ main API
def handle_main(
    ws: Workspace, method: str, path: str, query: str, body: bytes, workspace_here: bool = True
) -> Response:
    """``path`` is relative to ``/api/v1`` (starts with ``/``). ``workspace_here=False``: the request came
    to a host the workspace does not live on (it lists no workspace and answers none)."""
    try:
        return _route_main(ws, method, path, query, body, workspace_here)
    except BadRequest as e:
        return error(e.status, e.message, e.code)


def _route_main(ws: Workspace, method: str, path: str, query: str, body: bytes, here: bool) -> Response:
    q = _qs(query)
    parts = [p for p in path.split("/") if p]
    if method in ("POST", "PUT"):
        if not here and parts[:1] == ["workspaces"]:
            return access_denied()
        if (
            method == "POST"
            and len(parts) == 4
            and parts[1] == ws.workspace_id
            and parts[2:] == ["time-off", "requests"]
        ):
            return capacity.time_off_requests(ws, path, body)  # a read, sent as POST
        return _write(ws, method, parts, body)
    if method != "GET":
        return error(405, f"Request method '{method}' is not supported", 405)
    if parts == ["user"]:
        return Response(200, ws.clockify_users[0])
    if not parts or parts[0] != "workspaces":
        return no_route("api/v1" + path)
    if len(parts) == 1:
        listed = ws.clockify_workspaces if here else []
        if _roles_param(query) and not ws.config.clockify_key_owner_admin:
            listed = []  # ?roles=WORKSPACE_ADMIN(&roles=OWNER): the workspaces where the key's owner is one
        return _page(listed, q)
    if not here or parts[1] != ws.workspace_id:
        return access_denied()
    rest = parts[2:]
    if not rest:
        return Response(200, ws.clockify_workspaces[0])
    head = rest[0]
    if head == "users" and len(rest) == 1:
        return _users(ws, q)
    if head == "clients" and len(rest) == 1:
        return _page(_archived_filter(ws.clockify_clients, q), q)
    if head == "tags" and len(rest) == 1:
        return _page(_archived_filter(ws.clockify_tags, q), q)
    if head == "projects":
        if len(rest) == 1:
            projects = _archived_filter(ws.clockify_projects, q)
            if q.get("name"):
                projects = [p for p in projects if q["name"].lower() in p["name"].lower()]
            billable = _bool_param(q, "billable")
            if billable is not None:
                projects = [p for p in projects if p["billable"] == billable]
            if _bool_param(q, "hydrated"):
                # each project with its tasks embedded (which ones: see clockify_done_tasks)
                embed = "all" if ws.config.clockify_done_tasks == "always" else "active"

                def hydrate(page: list) -> list:
                    return [{**p, "tasks": [dict(t) for t in _tasks_of(ws, p["id"], embed)]} for p in page]

                return _page(projects, q, hydrate)
            return _page(projects, q)
        pid = rest[1]
        project = next((p for p in ws.clockify_projects if p["id"] == pid), None)
        if project is None:
            return error(400, "Project doesn't belong to Workspace", 501)
        if len(rest) == 2:
            return Response(200, project)
        if rest[2] == "tasks" and len(rest) == 3:
            tasks = _tasks_of(ws, pid, _task_selection(ws, _bool_param(q, "is-active")))
            if q.get("name"):
                tasks = [t for t in tasks if q["name"].lower() in t["name"].lower()]
            return _page(tasks, q)
        if rest[2] == "tasks" and len(rest) == 4:
            task = next((t for t in ws.clockify_tasks.get(pid, []) if t["id"] == rest[3]), None)
            return Response(200, task) if task else error(404, "Task not found", 501)
    if head == "user" and len(rest) == 3 and rest[2] == "time-entries":
        return _time_entries(ws, rest[1], q)
    if head == "time-entries" and len(rest) == 2:
        try:
            return Response(200, ws.get_time_entry(rest[1]))
        except KeyError:
            return error(404, "TimeEntry not found", 501)
    if head == "entities" and len(rest) == 2 and rest[1] in ("deleted", "updated", "created"):
        return _entity_changes(ws, rest[1], query)
    if head == "member-profile" and len(rest) == 2:
        return capacity.member_profile(ws, rest[1])
    if head == "holidays" and len(rest) == 1:
        return capacity.holidays(ws, path, q)
    if head == "user-groups" and len(rest) == 1:
        return capacity.user_groups(ws, q)
    return no_route("api/v1" + path)


def _task_selection(ws: Workspace, is_active: Optional[bool]) -> str:
    mode = ws.config.clockify_done_tasks
    if mode == "never" or is_active is True:
        return "active"
    if mode == "always":
        return "all"
    return "done" if is_active is False else "active"  # on_request


def _tasks_of(ws: Workspace, pid: str, which: str) -> list[dict]:
    tasks = ws.clockify_tasks.get(pid, [])
    if which == "all":
        return tasks
    want = "DONE" if which == "done" else "ACTIVE"
    return [t for t in tasks if t.get("status", "ACTIVE") == want]


def rate_of(amount: Optional[int], ws: Workspace) -> Optional[dict]:
    """`{amount (cents), currency}`, or None where the level has no rate (what Clockify answers unset)."""
    return None if amount is None else {"amount": amount, "currency": ws.config.clockify_currency}


def _users(ws: Workspace, q: dict) -> Response:
    statuses = _list_param(q, "account-statuses") or list(DEFAULT_ACCOUNT_STATUSES)
    bad = [s for s in statuses if s not in ACCOUNT_STATUSES]
    if bad:
        raise BadRequest(f"Invalid account status(es) {bad}; expected some of {list(ACCOUNT_STATUSES)}")
    member = (q.get("status") or "ALL").upper()
    if member not in MEMBERSHIP_STATUSES:
        raise BadRequest(f"Invalid status '{q['status']}'; expected one of {list(MEMBERSHIP_STATUSES)}")
    memberships = (q.get("memberships") or "NONE").upper()
    if memberships not in ("NONE", "WORKSPACE", "PROJECT", "USERGROUP", "ALL"):
        raise BadRequest(
            f"Invalid memberships '{q['memberships']}'; expected NONE, WORKSPACE, PROJECT, USERGROUP or ALL"
        )
    ms = ws.clockify_membership_status
    users = [
        u
        for u in ws.clockify_users
        if u["status"] in statuses and (member == "ALL" or ms.get(u["id"], "ACTIVE") == member)
    ]
    if q.get("email"):
        users = [u for u in users if q["email"].lower() in u["email"].lower()]
    if q.get("name"):
        users = [u for u in users if q["name"].lower() in u["name"].lower()]
    column = (q.get("sort-column") or "EMAIL").upper()
    keys = {"EMAIL": lambda u: u["email"].lower(), "NAME": lambda u: u["name"].lower(), "ID": lambda u: u["id"]}
    if column not in keys:
        raise BadRequest(f"Invalid sort-column '{column}'; expected EMAIL, NAME or ID")
    order = (q.get("sort-order") or "ASCENDING").upper()
    if order not in ("ASCENDING", "DESCENDING"):
        raise BadRequest("sort-order must be ASCENDING or DESCENDING")
    users = sorted(users, key=lambda u: (keys[column](u), u["id"]), reverse=order == "DESCENDING")
    wsid = ws.workspace_id

    def with_memberships(page: list) -> list:
        if memberships not in ("WORKSPACE", "ALL"):
            return page
        return [
            {
                **u,
                "memberships": [
                    {
                        "userId": u["id"],
                        "hourlyRate": rate_of(ws.clockify_member_rates.get(u["id"]), ws),
                        "costRate": None,
                        "targetId": wsid,
                        "membershipType": "WORKSPACE",
                        "membershipStatus": ms.get(u["id"], "ACTIVE"),
                    }
                ],
            }
            for u in page
        ]

    return _page(users, q, with_memberships)


def _archived_filter(items: list[dict], q: dict) -> list[dict]:
    archived = _bool_param(q, "archived")
    if archived is None:
        return items
    return [i for i in items if i.get("archived", False) == archived]


def _window_param(q: dict, name: str, tz: ZoneInfo) -> Optional[str]:
    """A time-entries ``start``/``end``: read as wall-clock time in the key owner's zone."""
    raw = q.get(name)
    if raw is None or raw == "":
        return None
    if not _TS_RE.match(raw):
        raise BadRequest(f"Invalid date format for '{name}': '{raw}', expected yyyy-MM-ddThh:mm:ssZ")
    return clockify_ts(math.floor(wall_clock_epoch(raw, tz)))


def _time_entries(ws: Workspace, user_id: str, q: dict) -> Response:
    if not any(u["id"] == user_id for u in ws.clockify_users):
        return error(400, "User doesn't belong to Workspace", 501)
    tz = owner_zone(ws)
    start = _window_param(q, "start", tz)
    end = _window_param(q, "end", tz)
    if start and end and end < start:
        raise BadRequest("start must be before end")
    page = _int_param(q, "page", 1)
    size = _int_param(q, "page-size", 50, hi=MAX_PAGE_SIZE)
    entries = ws.entries_for_user(user_id, start, end)  # oldest first
    if sees_only_own_time(ws) and user_id != key_owner_id(ws):
        entries = []  # another member's time: hidden, and no error says so
    in_progress = _bool_param(q, "in-progress")
    desc = q.get("description")
    project = q.get("project")
    task = q.get("task")
    if in_progress or desc or project or task:
        entries = [
            e
            for e in entries
            if (not in_progress or e["timeInterval"]["end"] is None)
            and (not desc or desc.lower() in (e["description"] or "").lower())
            and (not project or e["projectId"] == project)
            and (not task or e["taskId"] == task)
        ]
    # newest first, page by page, without reversing the whole list
    n = len(entries)
    hi = n - (page - 1) * size
    lo = max(0, hi - size)
    out = entries[lo:hi][::-1] if hi > 0 else []
    if _bool_param(q, "hydrated"):
        out = [_hydrate(ws, e) for e in out]
    return Response(200, out, {"Last-Page": "true" if lo == 0 else "false"})


def _lookups(ws: Workspace) -> dict:
    def build():
        return {
            "users": {u["id"]: u for u in ws.clockify_users},
            "projects": {p["id"]: p for p in ws.clockify_projects},
            "clients": {c["id"]: c for c in ws.clockify_clients},
            "tasks": {t["id"]: t for ts in ws.clockify_tasks.values() for t in ts},
            "tags": {t["id"]: t for t in ws.clockify_tags},
        }

    return ws.cached(("clockify_lookups", ws.entries_version), build)


def _hydrate(ws: Workspace, e: dict) -> dict:
    lk = _lookups(ws)
    out = dict(e)
    out["project"] = lk["projects"].get(e["projectId"]) if e["projectId"] else None
    out["task"] = lk["tasks"].get(e["taskId"]) if e["taskId"] else None
    out["tags"] = [lk["tags"][t] for t in e["tagIds"] if t in lk["tags"]]
    return out


# ------------------------------------------------------------------------------ changes feed
def _entity_changes(ws: Workspace, kind: str, query: str) -> Response:
    cfg = ws.config
    if cfg.clockify_changes_feed == "off_404":
        return no_route(f"api/v1/workspaces/{ws.workspace_id}/entities/{kind}")
    if cfg.clockify_changes_feed == "off_403":
        return access_denied()
    multi = parse_qs(query, keep_blank_values=True)
    types = [t.strip().upper() for v in multi.get("type", []) for t in v.split(",") if t.strip()]
    if not types:
        raise BadRequest(
            "Required request parameter 'type' for method parameter type ChangeTrackerDocumentType[] is not present"
        )
    bad = [t for t in types if t not in CHANGE_TYPES]
    if bad:
        raise BadRequest(f"Invalid type(s) {bad}; expected some of {list(CHANGE_TYPES)}")
    q = {k: v[-1] for k, v in multi.items()}
    now = ws.now_epoch()
    bounds = {}
    for name in ("start", "end"):
        raw = q.get(name)
        if raw:
            if not _TS_RE.match(raw):
                raise BadRequest(f"Invalid date format for '{name}': '{raw}', expected yyyy-MM-ddThh:mm:ssZ")
            bounds[name] = to_epoch(raw)
    start, end = bounds.get("start"), bounds.get("end")
    if start is None and end is None:
        start, end = now - 30 * DAY, now
    elif start is None:
        start = end - 30 * DAY
    elif end is None:
        end = start + 30 * DAY
    if end < start:
        raise BadRequest("start must be before end")
    page = _int_param(q, "page", 0, lo=0)
    limit = _int_param(q, "limit", 50, lo=1)
    records: list[dict] = []
    if "TIME_ENTRY" in types:
        visible_until = now - cfg.clockify_changes_delay_s
        latest: dict[str, dict] = {}
        for c in ws.clockify_changes:
            if c["kind"] == kind and start <= c["at"] <= end and c["at"] <= visible_until:
                latest[c["id"]] = c
        for c in sorted(latest.values(), key=lambda c: (c["at"], c["n"])):
            if kind != "created" and start <= ws.entry_created_at(c["id"]) <= end:
                continue  # created within the window: the docs leave it out of /deleted and /updated
            records.append(
                {
                    "id": c["id"],
                    f"{kind}At": clockify_ts(math.floor(c["at"])),
                    "documentCode": "TIME_ENTRY",
                    "document": c["document"],
                }
            )
    return Response(200, {"response": records[page * limit : (page + 1) * limit]})


# ------------------------------------------------------------------------------ reports API
_DUR_PARTS = re.compile(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?")


def duration_seconds(iso: Optional[str]) -> Optional[int]:
    if iso is None:
        return None
    m = _DUR_PARTS.fullmatch(iso)
    if not m:
        return None
    h, mi, s = (int(x) if x else 0 for x in m.groups())
    return h * 3600 + mi * 60 + s


def handle_reports(
    ws: Workspace, method: str, path: str, query: str, body: bytes, workspace_here: bool = True
) -> Response:
    """``path`` is relative to ``/v1`` (global) or ``/report/v1`` (regional)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) != 4 or parts[0] != "workspaces" or parts[2] != "reports":
        return no_route("v1" + path)
    if not workspace_here or parts[1] != ws.workspace_id:
        return access_denied()
    if parts[3] != "detailed":
        return error(404, f"Report type '{parts[3]}' is not available in the sandbox", 404)
    if method != "POST":
        return error(405, f"Request method '{method}' is not supported", 405)
    try:
        req = json.loads(body or b"{}")
    except ValueError:
        return error(400, "Malformed JSON request body", 400)
    if not isinstance(req, dict):
        return error(400, "Request body must be a JSON object", 400)
    try:
        return _detailed(ws, req)
    except BadRequest as e:
        return error(e.status, e.message, e.code)


def _id_filter(req: dict, name: str):
    """``users: {ids: [...], contains: CONTAINS|DOES_NOT_CONTAIN}`` or a plain list of ids."""
    f = req.get(name)
    if f is None:
        return None
    if isinstance(f, list):
        ids, contains = f, "CONTAINS"
    elif isinstance(f, dict):
        ids, contains = f.get("ids") or [], f.get("contains", "CONTAINS")
    else:
        raise BadRequest(f"'{name}' must be an object with 'ids'")
    if contains not in ("CONTAINS", "DOES_NOT_CONTAIN", "CONTAINS_ONLY"):
        raise BadRequest(f"'{name}.contains' must be CONTAINS or DOES_NOT_CONTAIN")
    if not ids and contains != "DOES_NOT_CONTAIN":
        return None  # an empty selection means "all", as in the report UI
    return set(ids), contains != "DOES_NOT_CONTAIN"


def _bound(value: Any, name: str, tz: ZoneInfo, up: bool) -> tuple[float, str]:
    """(wall-clock epoch in ``tz``, Clockify ts of the whole second to filter with)."""
    if not isinstance(value, str) or not value:
        raise BadRequest(f"'{name}' is required (ISO-8601, e.g. 2024-03-01T00:00:00.000Z)")
    try:
        epoch = wall_clock_epoch(value, tz)
    except ValueError:
        raise BadRequest(f"Invalid date for '{name}': '{value}'")
    return epoch, clockify_ts(math.ceil(epoch) if up else math.floor(epoch))


def _sort_key(column: str, lk: dict):
    users, projects, tasks = lk["users"], lk["projects"], lk["tasks"]

    def project_name(e):
        p = projects.get(e["projectId"])
        return (p["name"] if p else "").lower()

    keys = {
        "DATE": lambda e: (e["timeInterval"]["start"], e["id"]),
        "ID": lambda e: (e["id"],),
        "USER": lambda e: ((users.get(e["userId"]) or {}).get("name", "").lower(), e["timeInterval"]["start"], e["id"]),
        "USER_EMAIL": lambda e: (
            (users.get(e["userId"]) or {}).get("email", "").lower(),
            e["timeInterval"]["start"],
            e["id"],
        ),
        "PROJECT": lambda e: (project_name(e), e["timeInterval"]["start"], e["id"]),
        "CLIENT": lambda e: (
            ((projects.get(e["projectId"]) or {}).get("clientName") or "").lower(),
            e["timeInterval"]["start"],
            e["id"],
        ),
        "TASK": lambda e: (
            ((tasks.get(e["taskId"]) or {}).get("name") or "").lower(),
            e["timeInterval"]["start"],
            e["id"],
        ),
        "DESCRIPTION": lambda e: ((e["description"] or "").lower(), e["timeInterval"]["start"], e["id"]),
        "DURATION": lambda e: (duration_seconds(e["timeInterval"]["duration"]) or 0, e["id"]),
        "AMOUNT": lambda e: (0, e["timeInterval"]["start"], e["id"]),
    }
    return keys[column]


def _detailed(ws: Workspace, req: dict) -> Response:
    cfg = ws.config
    tz_name = req.get("timeZone")
    tz = zone(tz_name) if tz_name not in (None, "") else owner_zone(ws)
    start_epoch, start = _bound(req.get("dateRangeStart"), "dateRangeStart", tz, up=True)
    end_epoch, end = _bound(req.get("dateRangeEnd"), "dateRangeEnd", tz, up=False)
    if end < start:
        raise BadRequest("dateRangeEnd must be after dateRangeStart")
    if end_epoch - start_epoch > MAX_REPORT_RANGE_DAYS * 86400:
        raise BadRequest(f"Date range cannot be longer than {MAX_REPORT_RANGE_DAYS} days on your plan", 400)
    df = req.get("detailedFilter")
    if df is None:
        df = {}
    if not isinstance(df, dict):
        raise BadRequest("'detailedFilter' must be an object")
    try:
        page = int(df.get("page", 1))
        size = int(df.get("pageSize", 50))
    except (TypeError, ValueError):
        raise BadRequest("detailedFilter.page and pageSize must be integers")
    if page < 1:
        raise BadRequest("detailedFilter.page must be greater than or equal to 1")
    if size < 1:
        raise BadRequest("detailedFilter.pageSize must be greater than or equal to 1")
    if cfg.clockify_report_max_page_size:
        size = min(size, cfg.clockify_report_max_page_size)  # fewer rows than asked, and no word about it
    sort_col = df.get("sortColumn") or "DATE"
    if sort_col not in SORT_COLUMNS:
        raise BadRequest(f"sortColumn '{sort_col}' is not one of {list(SORT_COLUMNS)}")
    order = req.get("sortOrder", df.get("sortOrder", "DESCENDING")) or "DESCENDING"
    if order not in ("ASCENDING", "DESCENDING"):
        raise BadRequest("sortOrder must be ASCENDING or DESCENDING")
    export = req.get("exportType", "JSON")
    if export not in ("JSON", None):
        raise BadRequest(f"exportType '{export}' is not supported by the sandbox (use JSON)")
    filters = {k: _id_filter(req, k) for k in ("users", "projects", "clients", "tasks", "tags")}
    billable = req.get("billable")
    desc = req.get("description")
    without_desc = bool(req.get("withoutDescription"))
    running = cfg.clockify_report_includes_running
    key = (
        "report",
        ws.entries_version,
        start,
        end,
        order,
        sort_col,
        running,
        json.dumps({k: sorted(v[0]) if v else None for k, v in filters.items()}, sort_keys=True),
        json.dumps([{k: v[1] if v else None for k, v in filters.items()}, billable, desc, without_desc]),
    )

    def build():
        entries = ws.entries_between(start, end)  # sorted by (start, id)
        lk = _lookups(ws)
        projects = lk["projects"]
        if not running:
            entries = [e for e in entries if e["timeInterval"]["end"] is not None]
        if sees_only_own_time(ws):  # a member's key where members see only their own time: no error
            owner = key_owner_id(ws)
            entries = [e for e in entries if e["userId"] == owner]
        if any(filters.values()) or billable is not None or desc or without_desc:

            def keep(e: dict) -> bool:
                for name, field in (("users", "userId"), ("projects", "projectId"), ("tasks", "taskId")):
                    f = filters[name]
                    if f and ((e[field] in f[0]) != f[1]):
                        return False
                f = filters["clients"]
                if f:
                    p = projects.get(e["projectId"])
                    if ((p["clientId"] if p else None) in f[0]) != f[1]:
                        return False
                f = filters["tags"]
                if f and (bool(f[0].intersection(e["tagIds"])) != f[1]):
                    return False
                if billable is not None and e["billable"] != billable:
                    return False
                if desc and desc.lower() not in (e["description"] or "").lower():
                    return False
                if without_desc and e["description"]:
                    return False
                return True

            entries = [e for e in entries if keep(e)]
        if sort_col != "DATE":
            entries = sorted(entries, key=_sort_key(sort_col, lk))
        if order == "DESCENDING":
            entries = entries[::-1]
        total = billable_total = 0
        total_amount = 0.0
        for e in entries:
            secs = duration_seconds(e["timeInterval"]["duration"])
            if secs is not None:
                total += secs
                if e["billable"]:
                    billable_total += secs
                    total_amount += _priced(ws, e)[1]
        totals: list = [
            {
                "_id": "",
                "totalTime": total,
                "totalBillableTime": billable_total,
                "entriesCount": len(entries),
                "totalAmount": _amount_out(ws, total_amount),
                "amounts": [],
            }
        ]
        return entries, (totals if entries else [None])

    entries, totals = ws.cached(key, build, max_items=32)
    lo, hi = (page - 1) * size, page * size
    if sort_col == "DATE" and cfg.clockify_report_unstable_ties:
        page_entries = _unstable_slice(entries, lo, hi, f"{cfg.seed}:{page}")
    else:
        page_entries = entries[lo:hi]
    return Response(200, {"totals": totals, "timeentries": [_report_entry(ws, e, tz) for e in page_entries]})


def _unstable_slice(entries: list, lo: int, hi: int, seed: str) -> list:
    """``entries[lo:hi]`` after reordering, differently for every page, the runs of equal start times
    that cross the page's edges (a sort on a non-unique column, as a database may return it)."""
    n = len(entries)
    if lo >= n:
        return []
    hi = min(hi, n)
    out = list(entries)
    rng = random.Random(seed)
    for edge in (lo, hi):
        if edge <= 0 or edge >= n:
            continue
        start = entries[edge]["timeInterval"]["start"]
        if entries[edge - 1]["timeInterval"]["start"] != start:
            continue
        a = edge - 1
        while a > 0 and entries[a - 1]["timeInterval"]["start"] == start:
            a -= 1
        b = edge
        while b < n and entries[b]["timeInterval"]["start"] == start:
            b += 1
        run = out[a:b]
        rng.shuffle(run)
        out[a:b] = run
    return out[lo:hi]


def _report_entry(ws: Workspace, e: dict, tz: ZoneInfo) -> dict:
    lk = _lookups(ws)
    u = lk["users"].get(e["userId"])
    p = lk["projects"].get(e["projectId"]) if e["projectId"] else None
    t = lk["tasks"].get(e["taskId"]) if e["taskId"] else None
    tags = lk["tags"]
    ti = e["timeInterval"]
    return {
        "_id": e["id"],
        "description": e["description"] or "",
        "userId": e["userId"],
        "userName": u["name"] if u else "",
        "userEmail": u["email"] if u else "",
        "billable": e["billable"],
        "projectId": e["projectId"] or "",
        "projectName": p["name"] if p else "",
        "projectColor": p["color"] if p else "",
        "clientId": (p["clientId"] or "") if p else "",
        "clientName": (p["clientName"] or "") if p else "",
        "taskId": e["taskId"] or "",
        "taskName": t["name"] if t else "",
        "tags": [{"id": tid, "name": tags[tid]["name"]} for tid in e["tagIds"] if tid in tags],
        "locked": e["isLocked"],
        "approvalRequestId": None,
        "timeInterval": {
            "start": render_ts(ti["start"], tz),
            "end": render_ts(ti["end"], tz),
            "duration": duration_seconds(ti["duration"]),
        },
        **_report_rate(ws, e),
        "customFields": [],
    }


def _priced(ws: Workspace, e: dict) -> tuple[int, float]:
    """(rate in cents, billable amount in cents) of an entry: non-billable time has a rate, no amount."""
    rate = entry_rate(ws, e)
    secs = duration_seconds(e["timeInterval"]["duration"]) or 0
    return rate, (rate * secs / 3600.0 if e["billable"] else 0.0)


def _amount_out(ws: Workspace, cents: float) -> float:
    if ws.config.clockify_report_rates == "zero":
        return 0
    return round(cents) if ws.config.clockify_report_amount_unit == "cents" else round(cents / 100.0, 2)


def _report_rate(ws: Workspace, e: dict) -> dict:
    """The row's `rate` (cents) and `amount` (open unit: clockify_report_amount_unit); both 0 with
    clockify_report_rates="zero" (open: what a plan that hides amounts answers)."""
    if ws.config.clockify_report_rates == "zero":
        return {"amount": 0, "rate": 0}
    rate, cents = _priced(ws, e)
    return {"amount": _amount_out(ws, cents), "rate": rate}


# ------------------------------------------------------------------------------ write endpoints
# POST /workspaces/{ws}/clients | /projects | /projects/{pid}/tasks  -> 201 with the new object
# PUT  /workspaces/{ws}/clients/{id} | /projects/{id} | /projects/{pid}/tasks/{tid} -> 200
# Names must be unique (clients and projects per workspace, tasks per project): else 400, code 501.
# Names must be non-empty (after trimming) and not longer than the limits below: else 400, code 501
# (Clockify answers a too-long project name with "Project name has to be between 2 and 250 characters
# long"; the task and client limits are the sandbox's choice, documented here).
# Every write that reaches these handlers is appended to ``write_log(ws)`` as (method, path, status):
# tests assert "no writes" with it (faults injected before the handler are not in it).
NAME_LIMITS = {"Client": (1, 100), "Project": (2, 250), "Task": (1, 1000)}
_CLIENT_FIELDS = {"name", "note", "address", "email", "archived"}
_PROJECT_FIELDS = {"name", "clientId", "billable", "color", "note", "archived", "isPublic", "public"}
_TASK_FIELDS = {"name", "assigneeIds", "estimate", "status", "billable"}


def write_log(ws: Workspace) -> list[tuple[str, str, int]]:
    """(method, path, status) of every POST/PUT the main API handled for this workspace, oldest first."""
    with ws.lock:
        return ws.__dict__.setdefault("_clockify_write_log", [])


def _write(ws: Workspace, method: str, parts: list[str], body: bytes) -> Response:
    resp = _write_unlogged(ws, method, parts, body)
    write_log(ws).append((method, "/" + "/".join(parts), resp.status))
    return resp


def _write_unlogged(ws: Workspace, method: str, parts: list[str], body: bytes) -> Response:
    if len(parts) < 3 or parts[0] != "workspaces":
        return error(404, "Not found", 404)
    if parts[1] != ws.workspace_id:
        return error(403, "Access Denied", 1003)
    try:
        req = json.loads(body or b"{}")
    except ValueError:
        return error(400, "Malformed JSON request body", 400)
    if not isinstance(req, dict):
        return error(400, "Request body must be a JSON object", 400)
    rest = parts[2:]
    with ws.lock:
        try:
            if rest[0] == "clients" and len(rest) in (1, 2):
                return _upsert(
                    ws,
                    ws.clockify_clients,
                    rest[1] if len(rest) == 2 else None,
                    req,
                    _CLIENT_FIELDS,
                    "Client",
                    lambda r: {
                        "name": r["name"],
                        "workspaceId": ws.workspace_id,
                        "archived": False,
                        "address": "",
                        "note": "",
                        "email": None,
                        "currencyId": None,
                        "ccEmails": None,
                    },
                )
            if rest[0] == "projects" and len(rest) in (1, 2):

                def new_project(r: dict) -> dict:
                    return {
                        "name": r["name"],
                        "hourlyRate": {"amount": 0, "currency": "USD"},
                        "costRate": None,
                        "clientId": "",
                        "clientName": "",
                        "workspaceId": ws.workspace_id,
                        "billable": False,
                        "memberships": [],
                        "color": "#03A9F4",
                        "estimate": {"estimate": "PT0S", "type": "AUTO"},
                        "archived": False,
                        "duration": "PT0S",
                        "note": "",
                        "template": False,
                        "public": True,
                        "budgetEstimate": None,
                        "timeEstimate": None,
                    }

                if req.get("clientId") and not any(c["id"] == req["clientId"] for c in ws.clockify_clients):
                    raise BadRequest("Client doesn't belong to Workspace", 501)
                resp = _upsert(
                    ws,
                    ws.clockify_projects,
                    rest[1] if len(rest) == 2 else None,
                    req,
                    _PROJECT_FIELDS,
                    "Project",
                    new_project,
                )
                if resp.status < 300:
                    p = resp.body
                    if "isPublic" in p:
                        p["public"] = p.pop("isPublic")
                    client = next((c for c in ws.clockify_clients if c["id"] == p.get("clientId")), None)
                    p["clientId"] = client["id"] if client else ""
                    p["clientName"] = client["name"] if client else ""
                    ws.clockify_tasks.setdefault(p["id"], [])
                return resp
            if rest[0] == "projects" and len(rest) in (3, 4) and rest[2] == "tasks":
                pid = rest[1]
                if not any(p["id"] == pid for p in ws.clockify_projects):
                    return error(400, "Project doesn't belong to Workspace", 501)
                tasks = ws.clockify_tasks.setdefault(pid, [])
                if "status" in req and req["status"] not in ("ACTIVE", "DONE"):
                    raise BadRequest("status must be ACTIVE or DONE")
                return _upsert(
                    ws,
                    tasks,
                    rest[3] if len(rest) == 4 else None,
                    req,
                    _TASK_FIELDS,
                    "Task",
                    lambda r: {
                        "name": r["name"],
                        "projectId": pid,
                        "assigneeIds": [],
                        "assigneeId": None,
                        "userGroupIds": [],
                        "estimate": "PT0S",
                        "status": "ACTIVE",
                        "duration": "PT0S",
                        "billable": True,
                        "hourlyRate": None,
                        "costRate": None,
                    },
                )
        except BadRequest as e:
            return error(e.status, e.message, e.code)
    return error(405 if method == "PUT" else 404, "Not found", 404)


def _upsert(ws: Workspace, items: list, item_id: Optional[str], req: dict, allowed: set, what: str, new) -> Response:
    unknown = set(req) - allowed
    if unknown:
        raise BadRequest(f"Unrecognized field(s) {sorted(unknown)}")
    name = req.get("name")
    if (item_id is None or "name" in req) and (not isinstance(name, str) or not name.strip()):
        raise BadRequest(f"{what} name is required", 501)
    if name is not None:
        lo, hi = NAME_LIMITS[what]
        if not lo <= len(name.strip()) <= hi:
            raise BadRequest(f"{what} name has to be between {lo} and {hi} characters long", 501)
        clash = next((i for i in items if i["name"].lower() == str(name).strip().lower() and i["id"] != item_id), None)
        if clash is not None:
            raise BadRequest(f"{what} with name '{name}' already exists", 501)
    if item_id is None:
        obj = new(req)
        obj.update({k: v for k, v in req.items()})
        obj["name"] = name.strip()
        obj = {"id": ws.id_factory.oid(to_epoch(ws.now())), **obj}
        items.append(obj)
        status = 201
    else:
        obj = next((i for i in items if i["id"] == item_id), None)
        if obj is None:
            return error(404, f"{what} not found", 501)
        obj.update(req)
        if name is not None:
            obj["name"] = name.strip()
        status = 200
    ws._touch_entries()  # refresh the name lookups used by the report
    return Response(status, obj)
