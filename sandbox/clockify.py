"""Clockify main API (``/api/v1``) and detailed-report API (``/v1``) handlers.

Behaviour choices where Clockify's documentation is silent (kept deliberately, tests rely on them):

- Unknown workspace id: HTTP 403 ``{"message": "Access Denied", "code": 1003}`` (what Clockify
  answers for a workspace the key's user is not a member of).
- Unknown user in ``/user/{userId}/time-entries`` or unknown project in ``/projects/{id}/tasks``:
  HTTP 400 ``{"message": "... doesn't belong to Workspace", "code": 501}``.
- Bad paging/date parameters: HTTP 400 ``{"message": ..., "code": 400}``.
- ``start``/``end`` of time entries and ``dateRangeStart``/``dateRangeEnd`` of the detailed report
  filter on the entry's *start* and are both **inclusive** (the report UI itself sends
  ``...T23:59:59.999Z`` as the end of a day). Fractional seconds in the report bounds are honoured
  (the start bound is rounded up, the end bound down, to whole seconds).
- Main API lists are in creation order; time entries newest first (by start, then id); the
  detailed report sorts by (start, id), ``sortOrder`` DESCENDING by default (ASCENDING allowed),
  so paging never repeats or skips an entry while the data does not change.
- ``GET /projects?hydrated=true`` embeds each project's ``tasks`` (all of them, in the shape and order
  of ``/projects/{id}/tasks``); without ``hydrated`` the projects come without ``tasks``. Clockify's
  hydrated projects also carry memberships and estimates; the sandbox adds only the tasks.
- The detailed report includes running timers (``end``/``duration`` null) and counts only
  finished entries in ``totals.totalTime``.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Optional
from urllib.parse import parse_qs

from .data import Workspace
from .timefmt import clockify_ts, to_epoch

MAX_PAGE_SIZE = 5000
MAX_REPORT_PAGE_SIZE = 1000
MAX_REPORT_RANGE_DAYS = 366


class Response:
    __slots__ = ("status", "body", "headers")

    def __init__(self, status: int, body: Any, headers: Optional[dict] = None):
        self.status = status
        self.body = body
        self.headers = headers or {}


def error(status: int, message: str, code: int) -> Response:
    return Response(status, {"message": message, "code": code})


UNAUTHORIZED = {"message": "Full authentication is required to access this resource", "code": 1000}


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


def _paginate(items: list, q: dict) -> list:
    page = _int_param(q, "page", 1)
    size = _int_param(q, "page-size", 50, hi=MAX_PAGE_SIZE)
    return items[(page - 1) * size : page * size]


_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


def _ts_param(q: dict, name: str) -> Optional[str]:
    raw = q.get(name)
    if raw is None or raw == "":
        return None
    if not _TS_RE.match(raw):
        raise BadRequest(f"Invalid date format for '{name}': '{raw}', expected yyyy-MM-ddThh:mm:ssZ")
    return clockify_ts(math.floor(to_epoch(raw)))


# ------------------------------------------------------------------------------ main API
def handle_main(ws: Workspace, method: str, path: str, query: str, body: bytes) -> Response:
    """``path`` is relative to ``/api/v1`` (starts with ``/``)."""
    try:
        return _route_main(ws, method, path, _qs(query), body)
    except BadRequest as e:
        return error(e.status, e.message, e.code)


def _route_main(ws: Workspace, method: str, path: str, q: dict, body: bytes) -> Response:
    parts = [p for p in path.split("/") if p]
    if method in ("POST", "PUT"):
        return _write(ws, method, parts, body)
    if method != "GET":
        return error(405, f"Request method '{method}' is not supported", 405)
    if parts == ["user"]:
        return Response(200, ws.clockify_users[0])
    if not parts or parts[0] != "workspaces":
        return error(404, "Not found", 404)
    if len(parts) == 1:
        return Response(200, _paginate(ws.clockify_workspaces, q))
    if parts[1] != ws.workspace_id:
        return error(403, "Access Denied", 1003)
    rest = parts[2:]
    if not rest:
        return Response(200, ws.clockify_workspaces[0])
    head = rest[0]
    if head == "users" and len(rest) == 1:
        users = ws.clockify_users
        if q.get("email"):
            users = [u for u in users if u["email"].lower() == q["email"].lower()]
        if q.get("name"):
            users = [u for u in users if q["name"].lower() in u["name"].lower()]
        return Response(200, _paginate(users, q))
    if head == "clients" and len(rest) == 1:
        return Response(200, _paginate(_archived_filter(ws.clockify_clients, q), q))
    if head == "tags" and len(rest) == 1:
        return Response(200, _paginate(_archived_filter(ws.clockify_tags, q), q))
    if head == "projects":
        if len(rest) == 1:
            projects = _archived_filter(ws.clockify_projects, q)
            if q.get("name"):
                projects = [p for p in projects if q["name"].lower() in p["name"].lower()]
            billable = _bool_param(q, "billable")
            if billable is not None:
                projects = [p for p in projects if p["billable"] == billable]
            page = _paginate(projects, q)
            if _bool_param(q, "hydrated"):
                # Like Clockify: each project with its tasks embedded, as /projects/{id}/tasks lists them.
                page = [{**p, "tasks": [dict(t) for t in ws.clockify_tasks.get(p["id"], [])]} for p in page]
            return Response(200, page)
        pid = rest[1]
        project = next((p for p in ws.clockify_projects if p["id"] == pid), None)
        if project is None:
            return error(400, "Project doesn't belong to Workspace", 501)
        if len(rest) == 2:
            return Response(200, project)
        if rest[2] == "tasks" and len(rest) == 3:
            tasks = ws.clockify_tasks.get(pid, [])
            active = _bool_param(q, "is-active")
            if active is not None:
                tasks = [t for t in tasks if (t["status"] == "ACTIVE") == active]
            if q.get("name"):
                tasks = [t for t in tasks if q["name"].lower() in t["name"].lower()]
            return Response(200, _paginate(tasks, q))
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
    return error(404, "Not found", 404)


def _archived_filter(items: list[dict], q: dict) -> list[dict]:
    archived = _bool_param(q, "archived")
    if archived is None:
        return items
    return [i for i in items if i.get("archived", False) == archived]


def _time_entries(ws: Workspace, user_id: str, q: dict) -> Response:
    if not any(u["id"] == user_id for u in ws.clockify_users):
        return error(400, "User doesn't belong to Workspace", 501)
    start = _ts_param(q, "start")
    end = _ts_param(q, "end")
    if start and end and end < start:
        raise BadRequest("start must be before end")
    page = _int_param(q, "page", 1)
    size = _int_param(q, "page-size", 50, hi=MAX_PAGE_SIZE)
    entries = ws.entries_for_user(user_id, start, end)  # oldest first
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
    return Response(200, out)


def _lookups(ws: Workspace) -> dict:
    def build():
        return {
            "users": {u["id"]: u for u in ws.clockify_users},
            "projects": {p["id"]: p for p in ws.clockify_projects},
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


def handle_reports(ws: Workspace, method: str, path: str, query: str, body: bytes) -> Response:
    """``path`` is relative to ``/v1``."""
    parts = [p for p in path.split("/") if p]
    if len(parts) != 4 or parts[0] != "workspaces" or parts[2] != "reports":
        return error(404, "Not found", 404)
    if parts[1] != ws.workspace_id:
        return error(403, "Access Denied", 1003)
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


def _bound(value: Any, name: str, up: bool) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequest(f"'{name}' is required (ISO-8601, e.g. 2024-03-01T00:00:00.000Z)")
    try:
        epoch = to_epoch(value)
    except ValueError:
        raise BadRequest(f"Invalid date for '{name}': '{value}'")
    return clockify_ts(math.ceil(epoch) if up else math.floor(epoch))


def _detailed(ws: Workspace, req: dict) -> Response:
    start = _bound(req.get("dateRangeStart"), "dateRangeStart", up=True)
    end = _bound(req.get("dateRangeEnd"), "dateRangeEnd", up=False)
    if end < start:
        raise BadRequest("dateRangeEnd must be after dateRangeStart")
    if to_epoch(req["dateRangeEnd"]) - to_epoch(req["dateRangeStart"]) > MAX_REPORT_RANGE_DAYS * 86400:
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
    if size < 1 or size > MAX_REPORT_PAGE_SIZE:
        raise BadRequest(f"detailedFilter.pageSize must be between 1 and {MAX_REPORT_PAGE_SIZE}")
    sort_col = df.get("sortColumn", "DATE")
    if sort_col not in ("DATE", None):
        raise BadRequest(f"sortColumn '{sort_col}' is not supported by the sandbox (use DATE)")
    order = req.get("sortOrder", "DESCENDING")
    if order not in ("ASCENDING", "DESCENDING"):
        raise BadRequest("sortOrder must be ASCENDING or DESCENDING")
    export = req.get("exportType", "JSON")
    if export not in ("JSON", None):
        raise BadRequest(f"exportType '{export}' is not supported by the sandbox (use JSON)")
    filters = {k: _id_filter(req, k) for k in ("users", "projects", "clients", "tasks", "tags")}
    billable = req.get("billable")
    desc = req.get("description")
    without_desc = bool(req.get("withoutDescription"))
    key = (
        "report",
        ws.entries_version,
        start,
        end,
        order,
        json.dumps({k: sorted(v[0]) if v else None for k, v in filters.items()}, sort_keys=True),
        json.dumps([{k: v[1] if v else None for k, v in filters.items()}, billable, desc, without_desc]),
    )

    def build():
        entries = ws.entries_between(start, end)
        lk = _lookups(ws)
        projects = lk["projects"]
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
        if order == "DESCENDING":
            entries = entries[::-1]
        total = billable_total = 0
        for e in entries:
            secs = duration_seconds(e["timeInterval"]["duration"])
            if secs is not None:
                total += secs
                if e["billable"]:
                    billable_total += secs
        totals = [
            {
                "_id": "",
                "totalTime": total,
                "totalBillableTime": billable_total,
                "entriesCount": len(entries),
                "totalAmount": 0,
                "amounts": [],
            }
        ]
        return entries, totals

    entries, totals = ws.cached(key, build, max_items=32)
    page_entries = entries[(page - 1) * size : page * size]
    return Response(200, {"totals": totals, "timeentries": [_report_entry(ws, e) for e in page_entries]})


def _report_entry(ws: Workspace, e: dict) -> dict:
    lk = _lookups(ws)
    u = lk["users"].get(e["userId"])
    p = lk["projects"].get(e["projectId"]) if e["projectId"] else None
    t = lk["tasks"].get(e["taskId"]) if e["taskId"] else None
    tags = lk["tags"]
    ti = e["timeInterval"]
    return {
        "_id": e["id"],
        "description": e["description"],
        "userId": e["userId"],
        "userName": u["name"] if u else None,
        "userEmail": u["email"] if u else None,
        "billable": e["billable"],
        "projectId": e["projectId"],
        "projectName": p["name"] if p else None,
        "projectColor": p["color"] if p else None,
        "clientId": p["clientId"] if p else None,
        "clientName": p["clientName"] if p else None,
        "taskId": e["taskId"],
        "taskName": t["name"] if t else None,
        "tagIds": list(e["tagIds"]),
        "tags": [{"id": tid, "name": tags[tid]["name"]} for tid in e["tagIds"] if tid in tags],
        "type": e["type"],
        "isLocked": e["isLocked"],
        "approvalRequestId": None,
        "timeInterval": {"start": ti["start"], "end": ti["end"], "duration": duration_seconds(ti["duration"])},
        "amount": 0,
        "rate": 0,
        "customFields": [],
    }


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
