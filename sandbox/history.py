"""Linear issue history: ``Issue.history`` (IssueHistory records) and ``Issue.stateHistory``
(IssueStateSpan), for every issue the sandbox serves.

Generated from each issue's current fields (deterministic, from its own random stream, so nothing else in
the dataset changes), and kept consistent with them:

- the last value each record sets is the issue's current one (state, team, cycle, estimate, assignee,
  project, priority); ``startedAt`` is the first move into a started-type state, ``completedAt`` /
  ``canceledAt`` the move into the final completed / canceled state, ``triagedAt`` the move out of triage;
  ``addedToCycleAt`` is the issue's last cycle change; a moved issue changes team (and state: workflow
  states belong to a team) at its ``addedToTeamAt``, and before that its states are the old team's;
- states: created in Triage (when it was triaged) or Backlog / Todo; Todo before the start for some; In
  Progress at ``startedAt``; In Review before Done for most; about 12% of completed issues were reopened
  once (Done -> In Progress -> ... -> Done at ``completedAt``); some review -> in progress rework loops;
- cycles: joined when ``addedToCycleAt`` says; about a quarter carried over from the team's previous
  cycle at the cycle boundary (unfinished there); some planned into the next cycle and pulled into the
  current one halfway; some backlog issues added to a cycle and removed again;
- estimates: about a fifth change (estimated after creation, or re-estimated after the start, i.e.
  mid-cycle); assignees (assigned at the start, reassigned), priorities and projects change too;
  archiving and trashing are recorded (``archived`` / ``trashed``).

A record holds only what changed, under the API's field names with objects (``fromState``, ``toCycle``,
``toAssignee``, ...); the ``...Id`` fields resolve from them (sandbox/linear.py). Changes made at one moment
are one record (a move changes team and state, and clears the cycle, at once). There is no record for the
creation: what an issue was created with is the first change's ``from`` side (the notes are silent on
whether Linear writes one; the marts do not depend on it, their unit tests cover both shapes).

State spans are derived from the state changes when asked (``state_spans``): one span from ``createdAt`` to
the first state change, one per change after it, the last one open (``endedAt`` null). A team move starts
a new span (the state id changes). Span ids are stable (derived from the record that starts the span).

The Workspace's mutations (``edit_issue``, ``move_issue``, ``archive_issue``, ``unarchive_issue``,
``trash_issue``) append records through :func:`record`.
"""

from __future__ import annotations

import datetime as _dt
import random
import uuid
from typing import Any, Optional

from .timefmt import linear_ts

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
_SPAN_NAMESPACE = uuid.UUID("9f5c1b8e-3a4d-4c2b-9e61-7d0a5b2c8f10")
# the record fields that point at objects, and the `...Id` field each one resolves
OBJECT_FIELDS = (
    "fromState",
    "toState",
    "fromTeam",
    "toTeam",
    "fromCycle",
    "toCycle",
    "fromAssignee",
    "toAssignee",
    "fromProject",
    "toProject",
)
ID_FIELDS = {f + "Id": f for f in OBJECT_FIELDS} | {"actorId": "actor"}
# issue field -> history suffix, for edit_issue's diff (scalars and objects alike)
TRACKED_FIELDS = {
    "state": "State",
    "team": "Team",
    "cycle": "Cycle",
    "assignee": "Assignee",
    "project": "Project",
    "estimate": "Estimate",
    "priority": "Priority",
    "title": "Title",
}

_day_numbers: dict[str, int] = {}


def ts_ms(ts: str) -> int:
    """``2024-03-05T09:30:00.123Z`` -> epoch milliseconds (the sandbox's fixed Linear format)."""
    d = ts[:10]
    day = _day_numbers.get(d)
    if day is None:
        day = _day_numbers[d] = (_dt.date.fromisoformat(d) - _dt.date(1970, 1, 1)).days
    return ((day * 24 + int(ts[11:13])) * 60 + int(ts[14:16])) * 60_000 + int(ts[17:19]) * 1000 + int(ts[20:23])


def _uid(rng: random.Random) -> str:
    h = "%032x" % rng.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_TOD = [f"T{h:02d}:{m:02d}:{s:02d}." for h in range(24) for m in range(60) for s in range(60)]
_MILLIS = [f"{ms:03d}Z" for ms in range(1000)]
_day_strings: dict[int, str] = {}


def _lts(ms: int) -> str:
    """``linear_ts`` with tables (the generator formats ~100k of them)."""
    sec, milli = divmod(ms, 1000)
    day, rem = divmod(sec, 86400)
    d = _day_strings.get(day)
    if d is None:
        d = _day_strings[day] = linear_ts(day * DAY_MS)[:10]
    return d + _TOD[rem] + _MILLIS[milli]


def changes(field: str, old: Any, new: Any) -> dict:
    """The from/to keys for one field's change (``field`` is the suffix: ``State``, ``Estimate``...);
    empty when nothing changed. A null side is left out, as the API answers null for it."""
    if old is new or (old == new and not isinstance(old, dict)):
        return {}
    out = {}
    if old is not None:
        out["from" + field] = old
    if new is not None:
        out["to" + field] = new
    return out


def record(ws: Any, issue: dict, at: str, changed: dict, actor: Optional[dict] = None) -> Optional[dict]:
    """Append one history record (a mutation's changes, at Linear timestamp ``at``) to ``issue``."""
    if not changed:
        return None
    rec = {"id": ws.id_factory.uuid(), "createdAt": at, "issue": issue, **changed}
    if actor is not None:
        rec["actor"] = actor
    ws.linear_issue_history.setdefault(issue["id"], []).append(rec)
    return rec


def state_spans(ws: Any, issue: dict) -> list[dict]:
    """The issue's IssueStateSpans, oldest first, derived from its state changes."""
    spans = []
    start, key, state = issue["createdAt"], issue["id"], None
    for rec in ws.linear_issue_history.get(issue["id"], ()):
        to = rec.get("toState")
        if to is None:
            continue
        if state is None:  # the first change's "from" is what the issue was created in
            state = rec.get("fromState") or to
        spans.append((key, start, rec["createdAt"], state))
        start, key, state = rec["createdAt"], rec["id"], to
    spans.append((key, start, None, state or issue["state"]))
    return [
        {"id": str(uuid.uuid5(_SPAN_NAMESPACE, k)), "startedAt": s, "endedAt": e, "state": st} for k, s, e, st in spans
    ]


# ------------------------------------------------------------------------------------------ generation
def generate(ws: Any, seed: int) -> None:
    """Fill ``ws.linear_issue_history`` for every issue (needs the generator's private keys: ``_gen``,
    cycles' ``_starts`` / ``_ends``). Adjusts ``triagedAt`` and ``addedToCycleAt`` to the history."""
    rng = random.Random(f"sandbox:{seed}:history")
    rand = rng.random
    states = ws.linear_workflow_states
    plain = {(s["team"]["id"], s["type"]): s for s in states if s["name"] != "In Review"}
    review = {s["team"]["id"]: s for s in states if s["name"] == "In Review"}
    cycles_of: dict[str, list[dict]] = {}
    for c in ws.linear_cycles:
        cycles_of.setdefault(c["team"]["id"], []).append(c)
    for lst in cycles_of.values():
        lst.sort(key=lambda c: c["_starts"])
    cycle_index = {c["id"]: n for lst in cycles_of.values() for n, c in enumerate(lst)}
    members = getattr(ws, "_team_members", {})
    all_people = [u for u in ws.linear_users if not u["app"] and u["active"]]
    history: dict[str, list[dict]] = {}

    def between(lo: int, hi: int) -> Optional[int]:
        """A random instant strictly inside (lo, hi), or None when there is no room."""
        if hi - lo < 2:
            return None
        return lo + 1 + int(rand() * (hi - lo - 1))

    for issue in ws.linear_issues:
        g = issue.get("_gen")
        if g is None:
            continue
        team = issue["team"]
        tid = team["id"]
        cur = issue["state"]
        stype = cur["type"]
        # epochs from the generator, milliseconds from the strings (L() added them)
        created = g["_created"] * 1000 + int(issue["createdAt"][20:23])
        updated = ts_ms(issue["updatedAt"])
        started = g["_started"] * 1000 + int(issue["startedAt"][20:23]) if issue["startedAt"] else None
        completed = g["_completed"] * 1000 + int(issue["completedAt"][20:23]) if issue["completedAt"] else None
        canceled = g["_canceled"] * 1000 + int(issue["canceledAt"][20:23]) if issue["canceledAt"] else None
        moved = g["_moved_at"] * 1000 + int(issue["addedToTeamAt"][20:23]) if g.get("_moved_at") else None
        old_team = g["_team0"] if moved is not None else team
        events: dict[int, dict] = {}

        # ---- workflow states: (ms, type, in review)
        steps: list[list] = []
        if issue["startedTriageAt"] is not None:
            initial = "triage"
        elif stype == "backlog" or rand() < 0.6:
            initial = "backlog"
        else:
            initial = "unstarted"
        steps.append([created, initial, False])
        big = min([x for x in (started, completed, canceled) if x is not None], default=None)
        if initial == "triage" and stype != "triage":
            triaged = g["_triaged"] * 1000 + int(issue["triagedAt"][20:23]) if issue["triagedAt"] else None
            t = triaged if triaged is not None else between(created, big or updated)
            if t is not None and big is not None and t >= big:
                t = None
            if t is not None:
                steps.append([t, "backlog" if stype == "backlog" or rand() < 0.5 else "unstarted", False])
                issue["triagedAt"] = _lts(t)
            else:  # out of triage straight into the start (or the cancellation)
                issue["triagedAt"] = _lts(big if big is not None else updated)
        if stype == "unstarted" and steps[-1][1] != "unstarted":
            t = between(steps[-1][0], updated)
            if t is None:
                steps[-1][1] = "unstarted"
            else:
                steps.append([t, "unstarted", False])
        if started is not None:
            if steps[-1][1] == "backlog" and rand() < 0.6:
                t = between(steps[-1][0], started)
                if t is not None:
                    steps.append([t, "unstarted", False])
            steps.append([started, "started", False])
            if stype == "started":
                if cur is review[tid]:
                    t = between(started, updated)
                    if t is None:
                        steps[-1][2] = True
                    else:
                        steps.append([t, "started", True])
                elif rand() < 0.2:  # back from review for rework
                    t1 = between(started, updated)
                    t2 = between(t1, updated) if t1 is not None else None
                    if t2 is not None:
                        steps += [[t1, "started", True], [t2, "started", False]]
            elif stype == "completed":
                if rand() < 0.12 and completed - started > 4 * HOUR_MS:
                    p = sorted(started + 1 + int(rand() * (completed - started - 2)) for _ in range(4))
                    if len(set(p)) == 4:
                        if rand() < 0.7:
                            steps.append([p[0], "started", True])
                        steps += [[p[1], "completed", False], [p[2], "started", False]]
                        if rand() < 0.7:
                            steps.append([p[3], "started", True])
                elif rand() < 0.7:
                    t = between(started, completed)
                    if t is not None:
                        steps.append([t, "started", True])
                steps.append([completed, "completed", False])
            elif stype == "canceled":
                if rand() < 0.2:
                    t = between(started, canceled)
                    if t is not None:
                        steps.append([t, "started", True])
                steps.append([canceled, "canceled", False])
        elif stype in ("canceled", "duplicate"):
            if stype == "canceled" and steps[-1][1] == "backlog" and rand() < 0.4:
                t = between(steps[-1][0], canceled)
                if t is not None:
                    steps.append([t, "unstarted", False])
            steps.append([canceled, stype, False])

        elif stype == "completed":  # not generated (completed issues have a start); kept consistent anyway
            steps.append([completed, "completed", False])

        # The state changes, with the move (team and state at once) in its place; before it, the states are
        # the old team's.
        first_team = old_team["id"] if moved is not None else tid
        prev = review[first_team] if steps[0][2] else plain[(first_team, steps[0][1])]
        pending = moved
        for ms, st, rv in steps[1:] + [[None, None, None]]:
            if pending is not None and (ms is None or ms >= pending):
                dst = review[tid] if prev["name"] == "In Review" else plain[(tid, prev["type"])]
                events[pending] = dict(fromTeam=old_team, toTeam=team, fromState=prev, toState=dst)
                prev, pending = dst, None
            if ms is None:
                break
            t_id = first_team if pending is not None else tid
            new = review[t_id] if rv else plain[(t_id, st)]
            rec = events.setdefault(ms, {})
            rec.setdefault("fromState", prev)  # at the very moment of the move: one record for both
            rec["toState"] = new
            prev = new
        if prev is not cur:
            raise AssertionError(f"history of {issue['identifier']} ends in {prev['name']}, not {cur['name']}")

        # ---- cycles
        cyc = issue["cycle"]
        team_cycles = cycles_of.get(tid, [])
        if cyc is not None:
            starts, ends = cyc["_starts"] * 1000, cyc["_ends"] * 1000
            join = max(created, starts, moved or 0)
            idx = cycle_index[cyc["id"]]
            r = rand()
            if moved is None and r < 0.25 and idx > 0 and join == starts and created < starts - DAY_MS:
                prev_c = team_cycles[idx - 1]
                planned = max(created, prev_c["_starts"] * 1000 - int(rand() * 3 * DAY_MS))
                if planned > created:
                    events.setdefault(planned, {})["toCycle"] = prev_c
                events.setdefault(starts, {}).update(fromCycle=prev_c, toCycle=cyc)  # carried over
            elif moved is None and r < 0.40 and idx + 1 < len(team_cycles) and starts < join < ends:
                # created mid-cycle (join == created) into the next cycle, pulled into this one halfway
                t = between(join, min(ends, updated))
                if t is not None:
                    events.setdefault(t, {}).update(fromCycle=team_cycles[idx + 1], toCycle=cyc)
                    join = t
            elif join > created:
                events.setdefault(join, {})["toCycle"] = cyc
            issue["addedToCycleAt"] = _lts(join)
        elif moved is None and stype in ("backlog", "unstarted", "canceled") and team_cycles and rand() < 0.2:
            t0 = created + 1 + int(rand() * 3 * DAY_MS)
            holder = next((c for c in team_cycles if c["_starts"] * 1000 <= t0 < c["_ends"] * 1000), None)
            if holder is not None and t0 < updated:
                t1 = between(t0, min(holder["_ends"] * 1000, updated))
                if t1 is not None:  # added to a cycle, then taken out again
                    events.setdefault(t0, {})["toCycle"] = holder
                    events.setdefault(t1, {})["fromCycle"] = holder

        # ---- estimate, assignee, priority, project
        est = issue["estimate"]
        r = rand()
        if est is not None and r < 0.10:
            t = between(created, started or updated)
            if t is not None:  # created unestimated, estimated later
                events.setdefault(t, {})["toEstimate"] = est
        elif est is not None and r < 0.22 and started is not None:
            t = between(started, completed or canceled or updated)
            if t is not None:  # re-estimated after the start
                events.setdefault(t, {}).update(fromEstimate=1.0 if est != 1.0 else 3.0, toEstimate=est)
        elif est is None and r < 0.03:
            t = between(created, updated)
            if t is not None:
                events.setdefault(t, {})["fromEstimate"] = 2.0
        who = issue["assignee"]
        team_people = members.get(tid) or all_people
        r = rand()
        if who is not None and started is not None and r < 0.45:
            events.setdefault(started, {})["toAssignee"] = who  # assigned when started
        elif who is not None and r < 0.55 and len(team_people) > 1:
            t = between(created, updated)
            other = team_people[int(rand() * len(team_people))]
            if t is not None and other is not who:  # reassigned
                events.setdefault(t, {}).update(fromAssignee=other, toAssignee=who)
        if rand() < 0.1:
            t = between(created, updated)
            if t is not None:
                p = issue["priority"]
                events.setdefault(t, {}).update(fromPriority=float((int(p) + 1) % 5), toPriority=p)
        if issue["project"] is not None and rand() < 0.15:
            t = between(created, updated)
            if t is not None:
                events.setdefault(t, {})["toProject"] = issue["project"]
        if issue["archivedAt"]:
            events.setdefault(ts_ms(issue["archivedAt"]), {})["trashed" if issue["trashed"] else "archived"] = True

        recs = []
        for ms in sorted(events):
            rec = {"id": _uid(rng), "createdAt": _lts(ms), "issue": issue}
            rec.update(events[ms])
            if rand() < 0.85:
                rec["actor"] = team_people[int(rand() * len(team_people))]
            recs.append(rec)
        history[issue["id"]] = recs
    ws.linear_issue_history = history


# ------------------------------------------------------------------------------------------ API shape
_SCALAR_FIELDS = (
    "fromEstimate",
    "toEstimate",
    "fromPriority",
    "toPriority",
    "addedLabelIds",
    "removedLabelIds",
    "archived",
    "trashed",
)


def api_records(ws: Any, issue: dict) -> tuple[list[dict], list[dict]]:
    """The issue's history records and state spans as the project's Linear client stores them (the ``...Id``
    fields the history documents select, plus ``issue {id updatedAt}``): for loaders that skip HTTP."""
    ref = {"id": issue["id"], "updatedAt": issue["updatedAt"]}
    history = []
    for rec in ws.linear_issue_history.get(issue["id"], ()):
        row = {"id": rec["id"], "createdAt": rec["createdAt"], "issue": ref}
        for id_field, obj in ID_FIELDS.items():
            row[id_field] = (rec.get(obj) or {}).get("id")
        for f in _SCALAR_FIELDS:
            row[f] = rec.get(f)
        history.append(row)
    spans = [
        {"id": s["id"], "stateId": s["state"]["id"], "startedAt": s["startedAt"], "endedAt": s["endedAt"], "issue": ref}
        for s in state_spans(ws, issue)
    ]
    return history, spans
