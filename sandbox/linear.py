"""Linear GraphQL API: executes queries with graphql-core against Linear's real schema
(``orchestration/clients/linear/schema.graphql``) over the sandbox dataset.

Behaviour (documented choices where Linear's docs are vague):

- Connections: ``nodes``, ``edges { node cursor }``, ``pageInfo { hasNextPage endCursor ... }``.
  ``first`` defaults to 50; ``first``/``last`` above 250 (the practical maximum) or below 0 fail the
  whole request with HTTP 400, ``extensions.code == "INVALID_INPUT"``. Cursors are node ids
  (keyset pagination on ``(orderBy field, id)``, so a page boundary survives concurrent edits).
  Order: ``orderBy`` createdAt (default) or updatedAt, **newest first**.
- Archived objects are left out unless ``includeArchived: true``; disabled users unless
  ``includeDisabled: true``.
- ``filter``: comparators ``eq neq in nin gt gte lt lte null`` (dates also take ISO-8601
  durations relative to now, e.g. ``"-P2W"``), string comparators (``eq``, ``contains``,
  ``containsIgnoreCase``, ``startsWith``, ...), ``and``/``or``, and relation filters (issue
  ``team``, ``state``, ``assignee``, ``creator``, ``cycle``, ``project``). A filter field the sandbox
  does not implement fails with HTTP 400 ``INVALID_INPUT`` (never silently ignored).
- Complexity is estimated like Linear's (scalar 0.1, object 1, connections multiply their
  ``nodes``/``edges`` by ``first``/``last``, default 50): :func:`estimate_complexity` is the same rule
  as a pure function. Above 10,000 points the request fails with HTTP 400 and
  ``extensions.code == "QUERY_TOO_COMPLEX"`` (not RATELIMITED: retrying cannot help). The estimate is
  sent back in ``x-complexity`` and charged to the hourly complexity budget (server.py).
- Customers are a plan feature: with ``linear_customers_enabled=False`` any query reaching a
  ``Customer*`` type answers HTTP 400 ``FEATURE_NOT_ACCESSIBLE``.
- Trashed issues are purged ``linear_trash_retention_days`` after they were trashed (by the sandbox
  clock), before each request: they vanish from every query and from ``issue(id:)``.
- Syntax errors: HTTP 400 ``GRAPHQL_PARSE_FAILED``; schema validation errors: HTTP 400
  ``GRAPHQL_VALIDATION_FAILED``; bad variables: HTTP 400 ``BAD_USER_INPUT``. Resolver errors:
  HTTP 400 when no data could be returned, else 200 with ``data`` and ``errors``.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections import OrderedDict
from typing import Any, Callable, Optional

import graphql
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    InlineFragmentNode,
    OperationDefinitionNode,
    get_named_type,
    is_leaf_type,
)
from graphql.execution.values import get_argument_values, get_variable_values

from . import history as _history
from .data import Workspace
from .timefmt import linear_ts, parse_iso_duration, to_epoch, to_linear_ts

MAX_FIRST = 250
DEFAULT_FIRST = 50
MAX_COMPLEXITY = 10_000

SCHEMA_PATH = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "orchestration", "clients", "linear", "schema.graphql"
)


_schema: Optional[graphql.GraphQLSchema] = None
_schema_lock = threading.Lock()


def gql_error(message: str, code: str, **ext: Any) -> GraphQLError:
    extensions = {
        "code": code,
        "type": code.lower().replace("_", " "),
        "userError": True,
        "userPresentableMessage": message,
    }
    extensions.update(ext)
    return GraphQLError(message, extensions=extensions)


def error_body(message: str, code: str, **ext: Any) -> dict:
    return {"errors": [gql_error(message, code, **ext).formatted]}


# ---------------------------------------------------------------------------------------------
# schema + resolvers
# ---------------------------------------------------------------------------------------------
def get_schema() -> graphql.GraphQLSchema:
    """Linear's schema with the sandbox resolvers attached (built once per process, ~1.5 s)."""
    global _schema
    if _schema is None:
        with _schema_lock:
            if _schema is None:
                with open(SCHEMA_PATH, encoding="utf-8") as fh:
                    schema = graphql.build_schema(fh.read())
                _install_resolvers(schema)
                _schema = schema
    return _schema


_MISSING = object()


def _fallback(return_type: Any, source: dict) -> Any:
    """Value for a schema field the dataset does not store: null where allowed, else a neutral value."""
    if not isinstance(return_type, GraphQLNonNull):
        return None
    inner = return_type.of_type
    if isinstance(inner, GraphQLList):
        return []
    named = get_named_type(inner)
    name = named.name
    if name == "String":
        return ""
    if name == "Boolean":
        return False
    if name in ("Float", "Int"):
        return 0
    if name == "DateTime":
        return source.get("createdAt") or "1970-01-01T00:00:00.000Z"
    if name in ("JSONObject", "JSON"):
        return {}
    if name.endswith("Connection"):
        return _empty_connection()
    return None


def default_resolver(source: Any, info: graphql.GraphQLResolveInfo, **_args: Any) -> Any:
    if isinstance(source, dict):
        v = source.get(info.field_name, _MISSING)
        if v is _MISSING:
            return _fallback(info.return_type, source)
        return v
    return getattr(source, info.field_name, None)


def _empty_connection() -> dict:
    return {
        "nodes": [],
        "edges": [],
        "pageInfo": {"hasNextPage": False, "hasPreviousPage": False, "startCursor": None, "endCursor": None},
    }


def _ws(info: graphql.GraphQLResolveInfo) -> Workspace:
    return info.context["ws"]


# each source: (entity kind, function(ws, parent) -> list of items, cache-key-of-parent or None)
def _team_members(ws: Workspace, team: dict) -> list[dict]:
    return getattr(ws, "_team_members", {}).get(team["id"], [])


CONNECTION_SOURCES: dict[tuple[str, str], tuple[str, Callable[[Workspace, Any], list]]] = {
    ("Query", "issues"): ("Issue", lambda ws, p: ws.linear_issues),
    ("Query", "users"): ("User", lambda ws, p: ws.linear_users),
    ("Query", "teams"): ("Team", lambda ws, p: ws.linear_teams),
    ("Query", "cycles"): ("Cycle", lambda ws, p: ws.linear_cycles),
    ("Query", "projects"): ("Project", lambda ws, p: ws.linear_projects),
    ("Query", "workflowStates"): ("WorkflowState", lambda ws, p: ws.linear_workflow_states),
    ("Query", "customers"): ("Customer", lambda ws, p: ws.linear_customers),
    ("Query", "issueLabels"): ("IssueLabel", lambda ws, p: ws.linear_labels),
    ("Query", "customerNeeds"): ("CustomerNeed", lambda ws, p: ws.linear_customer_needs),
    ("Issue", "labels"): (
        "IssueLabel",
        lambda ws, i: [x for x in ws.linear_labels if x["id"] in set(i.get("labelIds") or ())],
    ),
    ("Customer", "needs"): ("CustomerNeed", lambda ws, c: [n for n in ws.linear_customer_needs if n["customer"] is c]),
    ("Team", "issues"): ("Issue", lambda ws, t: [i for i in ws.linear_issues if i["team"] is t]),
    ("Team", "cycles"): ("Cycle", lambda ws, t: [c for c in ws.linear_cycles if c["team"] is t]),
    ("Team", "states"): ("WorkflowState", lambda ws, t: [s for s in ws.linear_workflow_states if s["team"] is t]),
    ("Team", "members"): ("User", _team_members),
    ("Team", "projects"): (
        "Project",
        lambda ws, t: [p for p in ws.linear_projects if any(x is t for x in ws.project_teams.get(p["id"], []))],
    ),
    ("Cycle", "issues"): ("Issue", lambda ws, c: [i for i in ws.linear_issues if i["cycle"] is c]),
    ("Project", "issues"): ("Issue", lambda ws, p: [i for i in ws.linear_issues if i["project"] is p]),
    ("Project", "teams"): ("Team", lambda ws, p: list(ws.project_teams.get(p["id"], []))),
    ("WorkflowState", "issues"): ("Issue", lambda ws, s: [i for i in ws.linear_issues if i["state"] is s]),
    ("User", "assignedIssues"): ("Issue", lambda ws, u: [i for i in ws.linear_issues if i["assignee"] is u]),
    ("User", "createdIssues"): ("Issue", lambda ws, u: [i for i in ws.linear_issues if i["creator"] is u]),
    ("User", "teams"): (
        "Team",
        lambda ws, u: [t for t in ws.linear_teams if any(m is u for m in _team_members(ws, t))],
    ),
    ("Organization", "teams"): ("Team", lambda ws, o: ws.linear_teams),
    ("Organization", "users"): ("User", lambda ws, o: ws.linear_users),
}

SINGLE_SOURCES = {
    "issue": "linear_issues",
    "team": "linear_teams",
    "user": "linear_users",
    "cycle": "linear_cycles",
    "project": "linear_projects",
    "workflowState": "linear_workflow_states",
    "customer": "linear_customers",
}


def _install_resolvers(schema: graphql.GraphQLSchema) -> None:
    for tname, t in schema.type_map.items():
        if not isinstance(t, GraphQLObjectType) or tname.startswith("__"):
            continue
        for fname, field in t.fields.items():
            named = get_named_type(field.type)
            if (tname, fname) in CONNECTION_SOURCES:
                field.resolve = _make_connection_resolver(tname, fname)
            elif (
                named.name.endswith("Connection")
                and isinstance(named, GraphQLObjectType)
                and "pageInfo" in named.fields
            ):
                field.resolve = _empty_connection_resolver
    q = schema.query_type.fields
    for fname, attr in SINGLE_SOURCES.items():
        q[fname].resolve = _make_single_resolver(fname, attr)
    q["viewer"].resolve = lambda _s, info: next(
        (u for u in _ws(info).linear_users if u.get("isMe")), _ws(info).linear_users[0]
    )
    q["organization"].resolve = lambda _s, info: _ws(info).linear_organization
    for tname in ("Team", "User"):
        schema.type_map[tname].fields["organization"].resolve = lambda _s, info: _ws(info).linear_organization
    schema.type_map["Team"].fields["activeCycle"].resolve = lambda t, info: next(
        (c for c in _ws(info).linear_cycles if c["team"] is t and c["isActive"]), None
    )
    schema.type_map["Team"].fields["issueCount"].resolve = lambda t, info, includeArchived=False: sum(
        1 for i in _ws(info).linear_issues if i["team"] is t and (includeArchived or not i["archivedAt"])
    )
    schema.type_map["Issue"].fields["children"].resolve = _make_connection_resolver_fn(
        "Issue", lambda ws, p: [i for i in ws.linear_issues if i.get("parent") is p]
    )
    # Issue history (sandbox/history.py): per-issue lists, paged like every connection but not cached (one
    # query asks for hundreds of them; the root connections' caches must survive it).
    issue_fields = schema.type_map["Issue"].fields
    issue_fields["history"].resolve = _make_connection_resolver_fn(
        "IssueHistory", lambda ws, i: ws.linear_issue_history.get(i["id"], []), cache=False
    )
    issue_fields["stateHistory"].resolve = _make_connection_resolver_fn(
        "IssueStateSpan", lambda ws, i: _history.state_spans(ws, i), cache=False
    )
    history_fields = schema.type_map["IssueHistory"].fields
    for id_field, object_field in _history.ID_FIELDS.items():
        history_fields[id_field].resolve = lambda src, _info, f=object_field: (src.get(f) or {}).get("id")
    schema.type_map["IssueStateSpan"].fields["stateId"].resolve = lambda span, _info: span["state"]["id"]


def _empty_connection_resolver(_source: Any, _info: Any, **_args: Any) -> dict:
    return _empty_connection()


def _make_single_resolver(fname: str, attr: str):
    def resolve(_source: Any, info: graphql.GraphQLResolveInfo, id: str) -> dict:  # noqa: A002
        ws = _ws(info)
        if fname == "issue":
            try:
                return ws.get_issue(id)
            except KeyError:
                pass
        else:
            for item in getattr(ws, attr):
                if item["id"] == id or (fname == "team" and item.get("key") == id):
                    return item
        raise gql_error(
            f"Entity not found: {fname[0].upper() + fname[1:]}",
            "INVALID_INPUT",
            userPresentableMessage=f"Could not find referenced {fname}.",
        )

    return resolve


def _make_connection_resolver(tname: str, fname: str):
    kind, source = CONNECTION_SOURCES[(tname, fname)]
    return _make_connection_resolver_fn(kind, source, root=(tname == "Query"), name=f"{tname}.{fname}")


def _make_connection_resolver_fn(kind: str, source: Callable, root: bool = False, name: str = "", cache: bool = True):
    def resolve(parent: Any, info: graphql.GraphQLResolveInfo, **args: Any) -> dict:
        ws = _ws(info)
        parent_key = None if root else (parent.get("id") if isinstance(parent, dict) else id(parent))
        return paginate(ws, kind, lambda: source(ws, parent), args, (name or kind, parent_key), cache=cache)

    return resolve


# ---------------------------------------------------------------------------------------------
# filtering
# ---------------------------------------------------------------------------------------------
# field -> (comparator kind, relation entity or None)
FILTER_SPECS: dict[str, dict[str, tuple[str, Optional[str]]]] = {
    "Issue": {
        "id": ("id", None),
        "createdAt": ("date", None),
        "updatedAt": ("date", None),
        "completedAt": ("date", None),
        "canceledAt": ("date", None),
        "startedAt": ("date", None),
        "archivedAt": ("date", None),
        "triagedAt": ("date", None),
        "addedToCycleAt": ("date", None),
        "dueDate": ("string", None),
        "number": ("number", None),
        "estimate": ("number", None),
        "priority": ("number", None),
        "title": ("string", None),
        "description": ("string", None),
        "team": ("rel", "Team"),
        "state": ("rel", "WorkflowState"),
        "assignee": ("rel", "User"),
        "creator": ("rel", "User"),
        "cycle": ("rel", "Cycle"),
        "project": ("rel", "Project"),
        "parent": ("rel", "Issue"),
    },
    "Team": {
        "id": ("id", None),
        "key": ("string", None),
        "name": ("string", None),
        "description": ("string", None),
        "createdAt": ("date", None),
        "updatedAt": ("date", None),
        "private": ("bool", None),
    },
    "User": {
        "id": ("id", None),
        "name": ("string", None),
        "displayName": ("string", None),
        "email": ("string", None),
        "active": ("bool", None),
        "admin": ("bool", None),
        "app": ("bool", None),
        "isMe": ("bool", None),
        "owner": ("bool", None),
        "createdAt": ("date", None),
        "updatedAt": ("date", None),
    },
    "Cycle": {
        "id": ("id", None),
        "number": ("number", None),
        "name": ("string", None),
        "startsAt": ("date", None),
        "endsAt": ("date", None),
        "completedAt": ("date", None),
        "createdAt": ("date", None),
        "updatedAt": ("date", None),
        "isActive": ("bool", None),
        "isPast": ("bool", None),
        "isFuture": ("bool", None),
        "isNext": ("bool", None),
        "isPrevious": ("bool", None),
        "team": ("rel", "Team"),
    },
    "WorkflowState": {
        "id": ("id", None),
        "name": ("string", None),
        "type": ("string", None),
        "position": ("number", None),
        "description": ("string", None),
        "createdAt": ("date", None),
        "updatedAt": ("date", None),
        "team": ("rel", "Team"),
    },
    "Project": {
        "id": ("id", None),
        "name": ("string", None),
        "state": ("string", None),
        "slugId": ("string", None),
        "createdAt": ("date", None),
        "updatedAt": ("date", None),
        "startedAt": ("date", None),
        "completedAt": ("date", None),
        "canceledAt": ("date", None),
        "priority": ("number", None),
        "lead": ("rel", "User"),
    },
    "Customer": {
        "id": ("id", None),
        "name": ("string", None),
        "slugId": ("string", None),
        "createdAt": ("date", None),
        "updatedAt": ("date", None),
        "revenue": ("number", None),
        "size": ("number", None),
        "owner": ("rel", "User"),
    },
    # IssueLabelFilter and CustomerNeedFilter (the schema's): the fields the project slices or selects by.
    "IssueLabel": {
        "id": ("id", None),
        "name": ("string", None),
        "isGroup": ("bool", None),
        "createdAt": ("date", None),
        "updatedAt": ("date", None),
        "team": ("rel", "Team"),
        "parent": ("rel", "IssueLabel"),
    },
    "CustomerNeed": {
        "id": ("id", None),
        "priority": ("number", None),
        "createdAt": ("date", None),
        "updatedAt": ("date", None),
        "customer": ("rel", "Customer"),
        "issue": ("rel", "Issue"),
        "project": ("rel", "Project"),
    },
}

_OPS = {
    "date": {"eq", "neq", "in", "nin", "gt", "gte", "lt", "lte", "null"},
    "number": {"eq", "neq", "in", "nin", "gt", "gte", "lt", "lte", "null"},
    "id": {"eq", "neq", "in", "nin", "null"},
    "bool": {"eq", "neq", "null"},
    "string": {
        "eq",
        "neq",
        "in",
        "nin",
        "null",
        "contains",
        "containsIgnoreCase",
        "notContains",
        "notContainsIgnoreCase",
        "startsWith",
        "startsWithIgnoreCase",
        "notStartsWith",
        "endsWith",
        "notEndsWith",
        "eqIgnoreCase",
        "neqIgnoreCase",
        "containsIgnoreCaseAndAccent",
    },
}


def _unsupported(path: str) -> GraphQLError:
    return gql_error(f"Filter '{path}' is not supported by the sandbox", "INVALID_INPUT")


def _date_value(v: Any, now_fn: Callable[[], Any], path: str) -> str:
    if not isinstance(v, str):
        raise gql_error(f"Invalid date in filter '{path}': {v!r}", "INVALID_INPUT")
    dur = parse_iso_duration(v) if v.lstrip("+-").startswith("P") else None
    if dur is not None:
        return linear_ts(int(round((to_epoch(now_fn()) + dur) * 1000)))
    try:
        return to_linear_ts(v)
    except ValueError:
        raise gql_error(f"Invalid date in filter '{path}': {v!r}", "INVALID_INPUT")


def _compile_comparator(kind: str, comp: Any, path: str, now_fn) -> Callable[[Any], bool]:
    if not isinstance(comp, dict):
        raise gql_error(f"Filter '{path}' must be a comparator object", "INVALID_INPUT")
    preds: list[Callable[[Any], bool]] = []
    for op, val in comp.items():
        if op not in _OPS[kind]:
            raise _unsupported(f"{path}.{op}")
        if op == "null":
            preds.append((lambda v: v is None) if val else (lambda v: v is not None))
            continue
        if val is None:
            continue
        if kind == "date":
            val = [_date_value(x, now_fn, path) for x in val] if op in ("in", "nin") else _date_value(val, now_fn, path)
        elif kind == "number":
            val = [float(x) for x in val] if op in ("in", "nin") else float(val)
        if op == "eq":
            preds.append(lambda v, x=val: v is not None and v == x)
        elif op == "neq":
            preds.append(lambda v, x=val: v != x)
        elif op == "in":
            s = set(val)
            preds.append(lambda v, s=s: v in s)
        elif op == "nin":
            s = set(val)
            preds.append(lambda v, s=s: v not in s)
        elif op == "gt":
            preds.append(lambda v, x=val: v is not None and v > x)
        elif op == "gte":
            preds.append(lambda v, x=val: v is not None and v >= x)
        elif op == "lt":
            preds.append(lambda v, x=val: v is not None and v < x)
        elif op == "lte":
            preds.append(lambda v, x=val: v is not None and v <= x)
        elif op == "contains":
            preds.append(lambda v, x=val: v is not None and x in v)
        elif op in ("containsIgnoreCase", "containsIgnoreCaseAndAccent"):
            preds.append(lambda v, x=val.lower(): v is not None and x in v.lower())
        elif op == "notContains":
            preds.append(lambda v, x=val: v is None or x not in v)
        elif op == "notContainsIgnoreCase":
            preds.append(lambda v, x=val.lower(): v is None or x not in v.lower())
        elif op == "startsWith":
            preds.append(lambda v, x=val: v is not None and v.startswith(x))
        elif op == "startsWithIgnoreCase":
            preds.append(lambda v, x=val.lower(): v is not None and v.lower().startswith(x))
        elif op == "notStartsWith":
            preds.append(lambda v, x=val: v is None or not v.startswith(x))
        elif op == "endsWith":
            preds.append(lambda v, x=val: v is not None and v.endswith(x))
        elif op == "notEndsWith":
            preds.append(lambda v, x=val: v is None or not v.endswith(x))
        elif op == "eqIgnoreCase":
            preds.append(lambda v, x=val.lower(): v is not None and v.lower() == x)
        elif op == "neqIgnoreCase":
            preds.append(lambda v, x=val.lower(): v is None or v.lower() != x)
    return lambda v: all(p(v) for p in preds)


def compile_filter(entity: str, f: Any, now_fn: Callable[[], Any], path: str = "filter") -> Callable[[dict], bool]:
    """Compile a Linear filter object into a predicate on items of ``entity``."""
    if f is None:
        return lambda item: True
    if not isinstance(f, dict):
        raise gql_error(f"'{path}' must be an object", "INVALID_INPUT")
    spec = FILTER_SPECS.get(entity)
    if spec is None:
        raise _unsupported(path)
    preds: list[Callable[[dict], bool]] = []
    for key, val in f.items():
        if val is None:
            continue
        p = f"{path}.{key}"
        if key in ("and", "or"):
            subs = [compile_filter(entity, x, now_fn, p) for x in val]
            if key == "and":
                preds.append(lambda item, subs=subs: all(s(item) for s in subs))
            else:
                preds.append(lambda item, subs=subs: any(s(item) for s in subs) if subs else True)
            continue
        if key == "null":  # nullable relation filter applied to the related object itself
            preds.append((lambda item: item is None) if val else (lambda item: item is not None))
            continue
        if key not in spec:
            raise _unsupported(p)
        kind, rel = spec[key]
        if kind == "rel":
            wants_null = val.get("null") if isinstance(val, dict) else None
            rest = {k: v for k, v in val.items() if k != "null"} if isinstance(val, dict) else val
            sub = compile_filter(rel, rest, now_fn, p)

            def rel_pred(item, key=key, sub=sub, wants_null=wants_null, has_rest=bool(rest)):
                other = item.get(key)
                if wants_null is True and other is not None:
                    return False
                if wants_null is False and other is None:
                    return False
                if other is None:
                    return not has_rest
                return sub(other)

            preds.append(rel_pred)
        else:
            cmp = _compile_comparator(kind, val, p, now_fn)
            preds.append(lambda item, key=key, cmp=cmp: cmp(item.get(key)))
    if not preds:
        return lambda item: True
    if len(preds) == 1:
        return preds[0]
    return lambda item: all(p(item) for p in preds)


# ---------------------------------------------------------------------------------------------
# pagination
# ---------------------------------------------------------------------------------------------
def _is_archived(kind: str, item: dict) -> bool:
    return bool(item.get("archivedAt"))


def paginate(
    ws: Workspace, kind: str, items_fn: Callable[[], list], args: dict, cache_key: Any, cache: bool = True
) -> dict:
    first, last = args.get("first"), args.get("last")
    after, before = args.get("after"), args.get("before")
    for name, v in (("first", first), ("last", last)):
        if v is not None and (v < 0 or v > MAX_FIRST):
            raise gql_error(f"Argument Validation Error: {name} must be between 0 and {MAX_FIRST}", "INVALID_INPUT")
    if first is not None and last is not None:
        raise gql_error("Argument Validation Error: use either first or last, not both", "INVALID_INPUT")
    for unsupported in ("sort", "sorts", "includeSubTeams"):
        if args.get(unsupported):
            raise gql_error(f"Argument '{unsupported}' is not supported by the sandbox (use orderBy)", "INVALID_INPUT")
    include_archived = bool(args.get("includeArchived"))
    include_disabled = bool(args.get("includeDisabled"))
    order_by = args.get("orderBy") or "createdAt"
    if order_by not in ("createdAt", "updatedAt"):
        raise gql_error(f"Unsupported orderBy {order_by!r}", "INVALID_INPUT")
    filt = args.get("filter")
    filter_json = json.dumps(filt, sort_keys=True, default=str) if filt else ""
    relative = '"-P' in filter_json or '"P' in filter_json  # relative dates depend on now: no caching
    pred = compile_filter(kind, filt, ws.now) if filt else None

    def build():
        items = items_fn()
        out = [
            i
            for i in items
            if (include_archived or not _is_archived(kind, i))
            and (kind != "User" or include_disabled or i.get("active", True))
            and (pred is None or pred(i))
        ]
        # history records have no updatedAt of their own (= createdAt), state spans only startedAt
        out.sort(
            key=lambda i: (i.get(order_by) or i.get("createdAt") or i.get("startedAt") or "", i["id"]), reverse=True
        )
        pos = {i["id"]: n for n, i in enumerate(out)}
        return out, pos

    key = ("gql", ws.linear_version, cache_key, kind, include_archived, include_disabled, order_by, filter_json)
    ordered, pos = build() if relative or not cache else ws.cached(key, build, max_items=128)
    lo, hi = 0, len(ordered)
    if after:
        lo = _cursor_position(ws, kind, ordered, pos, after, order_by) + 1
    if before:
        hi = _cursor_position(ws, kind, ordered, pos, before, order_by)
    if last is not None and first is None:
        start = max(lo, hi - last)
        page = ordered[start:hi]
        has_next = hi < len(ordered)
        has_prev = start > lo or lo > 0
    else:
        n = DEFAULT_FIRST if first is None else first
        page = ordered[lo : min(hi, lo + n)]
        has_next = lo + n < hi
        has_prev = lo > 0
    return {
        "nodes": page,
        "edges": [{"node": i, "cursor": i["id"]} for i in page],
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_prev,
            "startCursor": page[0]["id"] if page else None,
            "endCursor": page[-1]["id"] if page else None,
        },
    }


def _cursor_position(ws: Workspace, kind: str, ordered: list, pos: dict, cursor: str, order_by: str) -> int:
    """Index of the cursor's node in ``ordered``; if the node is no longer part of the result
    (edited, archived...), the index just before where its (orderBy value, id) would sort."""
    p = pos.get(cursor)
    if p is not None:
        return p
    attr = {
        "Issue": "linear_issues",
        "User": "linear_users",
        "Team": "linear_teams",
        "Cycle": "linear_cycles",
        "Project": "linear_projects",
        "WorkflowState": "linear_workflow_states",
        "Customer": "linear_customers",
        "IssueLabel": "linear_labels",
        "CustomerNeed": "linear_customer_needs",
    }.get(kind)
    node = next((i for i in getattr(ws, attr, []) if i["id"] == cursor), None) if attr else None
    if node is None:
        raise gql_error(f"Invalid cursor: {cursor!r}", "INVALID_INPUT")
    ck = (node.get(order_by) or "", node["id"])
    # ordered is descending: count the items sorting before the cursor's key
    n = 0
    for i in ordered:
        if (i.get(order_by) or "", i["id"]) > ck:
            n += 1
        else:
            break
    return n - 1


# ---------------------------------------------------------------------------------------------
# complexity and argument limits (checked before execution, on the whole document)
# ---------------------------------------------------------------------------------------------
def _is_connection(t: Any) -> bool:
    return t.name.endswith("Connection") and hasattr(t, "fields") and "pageInfo" in t.fields


def analyze(
    schema: graphql.GraphQLSchema, doc: graphql.DocumentNode, op: OperationDefinitionNode, variables: dict
) -> tuple[float, list[GraphQLError], set[str]]:
    """Linear's complexity rules: 0.1 per scalar property, 1 per object, a connection's ``nodes`` /
    ``edges`` multiplied by its ``first``/``last`` (default 50). Returns (points, argument errors, names
    of the object types the query reaches)."""
    fragments = {d.name.value: d for d in doc.definitions if isinstance(d, graphql.FragmentDefinitionNode)}
    errors: list[GraphQLError] = []
    types: set[str] = set()

    def cost(selection_set, parent_type, conn_mult: Optional[float] = None) -> float:
        total = 0.0
        if selection_set is None:
            return 0.0
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                name = sel.name.value
                if name.startswith("__") or not hasattr(parent_type, "fields"):
                    continue
                fdef = parent_type.fields.get(name)
                if fdef is None:
                    continue
                ftype = get_named_type(fdef.type)
                if is_leaf_type(ftype):
                    c = 0.1
                else:
                    types.add(ftype.name)
                    try:
                        args = get_argument_values(fdef, sel, variables)
                    except GraphQLError as e:
                        errors.append(e)
                        args = {}
                    if _is_connection(ftype):
                        first, last = args.get("first"), args.get("last")
                        for an, av in (("first", first), ("last", last)):
                            if av is not None and (av > MAX_FIRST or av < 0):
                                errors.append(
                                    gql_error(
                                        f"Argument Validation Error: {an} must be between 0 and {MAX_FIRST} "
                                        f"(got {av} on '{name}')",
                                        "INVALID_INPUT",
                                    )
                                )
                        mult = first if first is not None else (last if last is not None else DEFAULT_FIRST)
                        c = 1 + cost(sel.selection_set, ftype, conn_mult=float(mult))
                    else:
                        c = 1 + cost(sel.selection_set, ftype)
                if conn_mult is not None and name in ("nodes", "edges"):
                    c *= conn_mult
                total += c
            elif isinstance(sel, InlineFragmentNode):
                t = schema.get_type(sel.type_condition.name.value) if sel.type_condition else parent_type
                total += cost(sel.selection_set, t, conn_mult)
            elif isinstance(sel, FragmentSpreadNode):
                frag = fragments.get(sel.name.value)
                if frag is not None:
                    total += cost(frag.selection_set, schema.get_type(frag.type_condition.name.value), conn_mult)
        return total

    root = {"query": schema.query_type, "mutation": schema.mutation_type, "subscription": schema.subscription_type}[
        op.operation.value
    ]
    return cost(op.selection_set, root), errors, types


def estimate_complexity(query: str, variables: Optional[dict] = None, operation_name: Optional[str] = None) -> float:
    """The complexity points the sandbox charges for a GraphQL document, before sending it (a pure
    function: no dataset, no budget). Raises ValueError for a document the schema rejects."""
    schema = get_schema()
    doc, syntax_error, validation_errors = _parse_validate(schema, query)
    if syntax_error is not None or validation_errors:
        raise ValueError(str(syntax_error or validation_errors[0]))
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        ops = [o for o in ops if o.name and o.name.value == operation_name]
    if len(ops) != 1:
        raise ValueError("name exactly one operation of the document")
    coerced = get_variable_values(schema, ops[0].variable_definitions or [], variables or {})
    if isinstance(coerced, list):
        raise ValueError(str(coerced[0]))
    points, arg_errors, _types = analyze(schema, doc, ops[0], coerced)
    if arg_errors:
        raise ValueError(str(arg_errors[0]))
    return points


# ---------------------------------------------------------------------------------------------
# request handling
# ---------------------------------------------------------------------------------------------
_doc_cache: "OrderedDict[str, Any]" = OrderedDict()
_doc_lock = threading.Lock()


def _parse_validate(schema: graphql.GraphQLSchema, query: str):
    with _doc_lock:
        hit = _doc_cache.get(query)
        if hit is not None:
            _doc_cache.move_to_end(query)
            return hit
    try:
        doc = graphql.parse(query)
        errors = graphql.validate(schema, doc)
        result = (doc, None, errors)
    except GraphQLError as e:
        result = (None, e, [])
    with _doc_lock:
        _doc_cache[query] = result
        if len(_doc_cache) > 256:
            _doc_cache.popitem(last=False)
    return result


class Prepared:
    """A request that parsed, validated and priced: run it with :func:`run` once the budget allows."""

    __slots__ = ("doc", "variables", "op_name", "complexity")

    def __init__(self, doc, variables, op_name, complexity):
        self.doc, self.variables, self.op_name, self.complexity = doc, variables, op_name, complexity


def prepare(ws: Workspace, payload: Any):
    """Parse, validate and price one GraphQL request body: a :class:`Prepared`, or (http status, JSON
    body, complexity) for a request refused before execution (nothing is charged for those but the
    request itself)."""
    schema = get_schema()
    if not isinstance(payload, dict):
        return 400, error_body("POST body must be a JSON object", "BAD_USER_INPUT"), 0.0
    query = payload.get("query")
    if not isinstance(query, str) or not query.strip():
        return 400, error_body("GraphQL operations must contain a non-empty `query`.", "BAD_REQUEST"), 0.0
    variables = payload.get("variables") or {}
    if not isinstance(variables, dict):
        return 400, error_body("`variables` must be an object", "BAD_USER_INPUT"), 0.0
    op_name = payload.get("operationName") or None
    doc, syntax_error, validation_errors = _parse_validate(schema, query)
    if syntax_error is not None:
        return 400, {"errors": [_with_code(syntax_error, "GRAPHQL_PARSE_FAILED")]}, 0.0
    if validation_errors:
        return 400, {"errors": [_with_code(e, "GRAPHQL_VALIDATION_FAILED") for e in validation_errors]}, 0.0
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    if op_name:
        ops = [o for o in ops if o.name and o.name.value == op_name]
        if not ops:
            return 400, error_body(f'Unknown operation named "{op_name}".', "BAD_USER_INPUT"), 0.0
    elif len(ops) > 1:
        return (
            400,
            error_body("Must provide operation name if query contains multiple operations.", "BAD_USER_INPUT"),
            0.0,
        )
    op = ops[0]
    if op.operation.value != "query":
        return 400, error_body(f"The sandbox serves queries only, not {op.operation.value}s", "INVALID_INPUT"), 0.0
    coerced = get_variable_values(schema, op.variable_definitions or [], variables)
    if isinstance(coerced, list):
        return 400, {"errors": [_with_code(e, "BAD_USER_INPUT") for e in coerced]}, 0.0
    complexity, arg_errors, types = analyze(schema, doc, op, coerced)
    if arg_errors:
        return (
            400,
            {"errors": [_with_code(e, (e.extensions or {}).get("code", "INVALID_INPUT")) for e in arg_errors]},
            complexity,
        )
    if complexity > MAX_COMPLEXITY:
        msg = f"Query too complex: complexity {math.ceil(complexity)} exceeds the maximum of {MAX_COMPLEXITY}"
        return (
            400,
            error_body(msg, "QUERY_TOO_COMPLEX", complexity=math.ceil(complexity), maxComplexity=MAX_COMPLEXITY),
            complexity,
        )
    if not ws.config.linear_customers_enabled and any(t.startswith("Customer") for t in types):
        return (
            400,
            error_body(
                "Customers are not available on your plan",
                "FEATURE_NOT_ACCESSIBLE",
                userPresentableMessage="Customer requests are not enabled for this workspace's plan.",
            ),
            complexity,
        )
    return Prepared(doc, variables, op_name, complexity)


def run(ws: Workspace, prepared: Prepared) -> tuple[int, dict, float]:
    result = graphql.execute(
        get_schema(),
        prepared.doc,
        context_value={"ws": ws},
        variable_values=prepared.variables,
        operation_name=prepared.op_name,
        field_resolver=default_resolver,
    )
    body: dict = {}
    if result.errors:
        body["errors"] = [
            _with_code(e, (e.extensions or {}).get("code", "INTERNAL_SERVER_ERROR") if e.extensions else _code_for(e))
            for e in result.errors
        ]
    body["data"] = _ints(result.data)
    status = 400 if result.errors and result.data is None else 200
    return status, body, prepared.complexity


def execute_request(ws: Workspace, payload: Any) -> tuple[int, dict, float]:
    """Run one GraphQL request body without any budget. Returns (http status, JSON body, complexity)."""
    ws.purge_trashed()
    prepared = prepare(ws, payload)
    if not isinstance(prepared, Prepared):
        return prepared
    return run(ws, prepared)


def _ints(v: Any) -> Any:
    """Integral floats as JSON integers (``"number": 42``, not ``42.0``), as Linear's JS server writes them."""
    if isinstance(v, float):
        return int(v) if v.is_integer() else v
    if isinstance(v, dict):
        return {k: _ints(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_ints(x) for x in v]
    return v


def _code_for(e: GraphQLError) -> str:
    orig = e.original_error
    if orig is None:
        return "INTERNAL_SERVER_ERROR"
    if isinstance(orig, GraphQLError) and orig.extensions:
        return orig.extensions.get("code", "INVALID_INPUT")
    return "INTERNAL_SERVER_ERROR"


def _with_code(e: GraphQLError, code: str) -> dict:
    out = e.formatted
    ext = dict(out.get("extensions") or {})
    ext.setdefault("code", code)
    ext.setdefault("type", code.lower().replace("_", " "))
    ext.setdefault("userPresentableMessage", e.message)
    out["extensions"] = ext
    return out
