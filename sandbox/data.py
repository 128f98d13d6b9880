"""The sandbox dataset: a deterministic synthetic Clockify workspace and Linear organization.

``generate_workspace(cfg)`` builds a :class:`Workspace` whose attributes are plain lists of
dicts in the APIs' own JSON shapes. Linear objects reference each other by holding the
*same* dict (``issue["team"] is team``), so the GraphQL resolvers can return nested objects
directly; connections (``team.issues``...) are resolved by :mod:`sandbox.linear`.

Determinism: every random choice comes from ``random.Random`` seeded with a string derived
from ``cfg.seed`` and a section name (string seeds are hashed with SHA-512 by ``random``, so
they are stable across processes, unlike ``hash()``).
"""

from __future__ import annotations

import bisect
from collections import Counter
import datetime as _dt
import gc
import random
import re
import threading
import uuid
from typing import Any, Callable, Iterable, Optional
from zoneinfo import ZoneInfo

from . import capacity, history
from .config import SandboxConfig
from .clock import Clock
from .timefmt import (
    UTC,
    clockify_ts,
    iso_duration,
    linear_ts,
    parse_dt,
    to_epoch,
)

DAY = 86400

# --------------------------------------------------------------------------------------------
# vocabulary
# --------------------------------------------------------------------------------------------
FIRST_NAMES = [
    "Alice",
    "Bruno",
    "Chiara",
    "Dmitri",
    "Elena",
    "Farid",
    "Greta",
    "Hiro",
    "Ines",
    "Jonas",
    "Kofi",
    "Lena",
    "Mateo",
    "Nadia",
    "Oskar",
    "Priya",
    "Quentin",
    "Rosa",
    "Sven",
    "Tamara",
    "Umar",
    "Vera",
    "Wei",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Amir",
    "Bianca",
    "Carlos",
    "Dana",
    "Emil",
    "Fatima",
    "Gustav",
    "Hana",
    "Ivan",
    "Julia",
    "Karim",
    "Lucia",
    "Marek",
    "Nora",
    "Omar",
    "Paula",
    "Rafael",
    "Sofia",
    "Tomas",
    "Ulla",
    "Viktor",
    "Wanda",
    "Yara",
    "Zeno",
]
LAST_NAMES = [
    "Andersen",
    "Bauer",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Hoffmann",
    "Ivanova",
    "Jansen",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Umarov",
    "Varga",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zimmermann",
    "Alvarez",
    "Becker",
    "Chen",
    "Dimitrov",
    "Esposito",
    "Fernandes",
    "Gruber",
    "Horvat",
    "Ito",
    "Jovanovic",
    "Kim",
    "Lopez",
    "Meyer",
    "Novak",
    "Olsen",
    "Popescu",
    "Romano",
    "Silva",
    "Torres",
    "Vogel",
]
# Profile time zones, assigned round robin (people sorted by e-mail): the first few already span the
# globe (a team of 4 covers UTC-8..+5:30, a team of 6 five zones, two of them with DST in opposite
# hemispheres). People work about 9-to-5 local time, so US-west afternoons and Australian / Japanese
# mornings cross midnight UTC every working day. Offsets come from zoneinfo, DST-correct per day.
TIMEZONES = [
    "America/Los_Angeles",
    "Europe/Berlin",
    "Asia/Kolkata",
    "America/New_York",
    "Australia/Sydney",
    "Europe/London",
    "America/Chicago",
    "Europe/Warsaw",
    "Asia/Tokyo",
    "Europe/Lisbon",
    "America/Sao_Paulo",
    "Europe/Helsinki",
]
TEAM_DEFS = [
    ("ENG", "Engineering"),
    ("OPS", "Operations"),
    ("DES", "Design"),
    ("MOB", "Mobile"),
    ("WEB", "Web"),
    ("DATA", "Data"),
    ("SEC", "Security"),
    ("QA", "Quality"),
    ("INF", "Infrastructure"),
    ("API", "API Platform"),
]
CLIENT_NAMES = [
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella Health",
    "Stark Industries",
    "Wayne Enterprises",
    "Hooli",
    "Soylent",
    "Cyberdyne",
    "Tyrell",
    "Wonka Foods",
    "Vandelay Imports",
]
PROJECT_NAMES = [
    "Platform",
    "Internal",
    "Mobile App",
    "Website Redesign",
    "Data Pipeline",
    "Customer Support",
    "Security Audit",
    "Onboarding",
    "Billing Revamp",
    "Infrastructure",
    "Design System",
    "Analytics",
    "Partner API",
    "QA Automation",
    "Search",
    "Notifications",
]
TAG_NAMES = [
    "Bug",
    "Feature",
    "Meeting",
    "Support",
    "Overtime",
    "Research",
    "Ops",
    "Urgent",
    "Refactor",
    "Docs",
    "Hiring",
    "Travel",
]
PLAIN_TASKS = [
    "Code review",
    "Meetings",
    "Support",
    "Planning",
    "Development",
    "Testing",
    "Documentation",
    "Deployment",
    "Research",
    "Design",
]
COLORS = [
    "#03A9F4",
    "#E91E63",
    "#4CAF50",
    "#FF9800",
    "#9C27B0",
    "#607D8B",
    "#795548",
    "#00BCD4",
    "#8BC34A",
    "#F44336",
    "#3F51B5",
    "#CDDC39",
]
VERBS = [
    "Fix",
    "Add",
    "Refactor",
    "Investigate",
    "Update",
    "Remove",
    "Improve",
    "Migrate",
    "Document",
    "Support",
    "Speed up",
    "Redesign",
    "Clean up",
    "Handle",
    "Validate",
]
OBJECTS = [
    "login",
    "billing page",
    "CSV export",
    "password reset",
    "onboarding flow",
    "search index",
    "webhook retries",
    "invoice PDF",
    "dark mode",
    "rate limiter",
    "audit log",
    "user settings",
    "SSO with Okta",
    "push notifications",
    "checkout",
    "report builder",
    "API pagination",
    "signup form",
    "cache invalidation",
    "timezone handling",
    "file uploads",
    "dashboard charts",
    "email templates",
    "feature flags",
    "mobile navigation",
    "access tokens",
    "data retention job",
]
QUALIFIERS = [
    "",
    "",
    "",
    " on Safari",
    " for admins",
    " in production",
    " on Android",
    " for large teams",
    " after deploy",
    " edge cases",
    " v2",
    " regression",
]
NO_ID_DESCRIPTIONS = [
    "Meetings",
    "Daily standup",
    "Standup",
    "Support",
    "Code review",
    "",
    "",
    "Email",
    "1:1",
    "Sprint planning",
    "Retro",
    "Interviewing",
    "Customer call",
    "Admin",
    "Planning",
    "Onboarding",
    "Slack & email",
    "Team sync",
    "Research",
    "Support rotation",
    "Documentation",
    "Lunch & learn",
]
GENERIC_TASK_DESCRIPTIONS = ["", "", "", "wip", "continued", "dev", "work", "follow-up", "review feedback"]
STATE_DEFS = [
    # name, type, color
    ("Triage", "triage", "#FC7840"),
    ("Backlog", "backlog", "#bec2c8"),
    ("Todo", "unstarted", "#e2e2e2"),
    ("In Progress", "started", "#f2c94c"),
    ("In Review", "started", "#0f783c"),
    ("Done", "completed", "#5e6ad2"),
    ("Canceled", "canceled", "#95a2b3"),
    ("Duplicate", "duplicate", "#95a2b3"),
]
STATE_TYPES = ["triage", "backlog", "unstarted", "started", "completed", "canceled", "duplicate"]
PRIORITY_LABELS = ["No priority", "Urgent", "High", "Medium", "Low"]
UNKNOWN_ID_DESCRIPTIONS = [
    "ABC-999 vendor ticket follow-up",
    "JIRA-1234 legacy ticket cleanup",
    "{key}-99999 (typo?)",
    "UTF-8 encoding bug in export",
    "ISO-8601 date parsing",
    "SR-2231 customer escalation",
    "COVID-19 office policy meeting",
    "INC-4711 postmortem",
    "ZD-5521 support ticket",
]
UNKNOWN_THEN_KNOWN = [
    "UTF-8 issue in {id}",
    "ABC-12 follow-up for {id}",
    "INC-88 root cause: {id}",
    "ISO-8601 dates, see {id}",
]


def slugify(text: str, limit: int = 40) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:limit].rstrip("-")


class _Ids:
    """Deterministic id factories: Clockify ObjectIds and Linear UUIDs."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.machine = "%010x" % rng.getrandbits(40)
        self.counter = rng.getrandbits(24)

    def oid(self, epoch: float) -> str:
        self.counter = (self.counter + 1) & 0xFFFFFF
        return "%08x%s%06x" % (int(epoch) & 0xFFFFFFFF, self.machine, self.counter)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


# --------------------------------------------------------------------------------------------
# the workspace
# --------------------------------------------------------------------------------------------
class _EntryIndex:
    __slots__ = ("keys", "entries", "user_keys", "user_entries", "version")

    def __init__(self, entries: list[dict], version: int):
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._build(entries, version)
        finally:
            if was_enabled:
                gc.enable()

    def _build(self, entries: list[dict], version: int) -> None:
        order = sorted(entries, key=lambda e: (e["timeInterval"]["start"], e["id"]))
        self.entries = order
        self.keys = [(e["timeInterval"]["start"], e["id"]) for e in order]
        self.user_keys: dict[str, list] = {}
        self.user_entries: dict[str, list] = {}
        for k, e in zip(self.keys, order):
            uid = e["userId"]
            lst = self.user_entries.get(uid)
            if lst is None:
                lst = self.user_entries[uid] = []
                self.user_keys[uid] = []
            lst.append(e)
            self.user_keys[uid].append(k)
        self.version = version


class Workspace:
    """The live dataset. Attributes are lists/dicts in the APIs' JSON shapes; mutate it with
    the methods below (they keep the indexes and ``updatedAt`` right)."""

    def __init__(self, cfg: SandboxConfig):
        self.config = cfg
        self.lock = threading.RLock()
        # The sandbox clock (sandbox/clock.py); a plain function returning a datetime also works here
        # (it then stamps mutations only; budgets keep the Sandbox's own clock).
        self.clock: Callable[[], _dt.datetime] = Clock.from_config(cfg)
        # Clockify
        self.clockify_workspaces: list[dict] = []
        self.clockify_users: list[dict] = []
        self.clockify_clients: list[dict] = []
        self.clockify_projects: list[dict] = []
        self.clockify_tags: list[dict] = []
        self.clockify_tasks: dict[str, list[dict]] = {}
        self.clockify_time_entries: list[dict] = []
        # Linear
        self.linear_organization: dict = {}
        self.linear_users: list[dict] = []
        self.linear_teams: list[dict] = []
        self.linear_cycles: list[dict] = []
        self.linear_projects: list[dict] = []
        self.linear_workflow_states: list[dict] = []
        self.linear_issues: list[dict] = []
        self.linear_customers: list[dict] = []
        self.linear_labels: list[dict] = []  # IssueLabel (issueLabels); issues name theirs in labelIds
        self.linear_customer_needs: list[dict] = []  # CustomerNeed (customerNeeds): customer -> issue/project
        # bookkeeping
        self.entries_version = 0
        self.linear_version = 0
        self._entry_index: Optional[_EntryIndex] = None
        self._entry_by_id: dict[str, dict] = {}
        self._issue_by_key: dict[str, dict] = {}
        self._team_counters: dict[str, int] = {}
        self._cache: dict[Any, Any] = {}
        self.id_factory: Optional[_Ids] = None
        # Clockify: workspace membership status per user id (GET /users?memberships=WORKSPACE)
        self.clockify_membership_status: dict[str, str] = {}
        # Clockify: workspace-member billable rate (cents) per user id, None where not set (data._gen_rates)
        self.clockify_member_rates: dict[str, Optional[int]] = {}
        # Clockify changes feed: {"kind": created|updated|deleted, "at": epoch, "document": entry copy}
        self.clockify_changes: list[dict] = []
        # Capacity (sandbox/capacity.py): member profiles by user id, holidays, time-off requests
        self.clockify_member_profiles: dict[str, dict] = {}
        self.clockify_holidays: list[dict] = []
        self.clockify_user_groups: list[dict] = []
        self.clockify_time_off_requests: list[dict] = []
        self._entry_created_at: dict[str, float] = {}
        # Linear trash: issue id -> epoch it was trashed; purged linear_trash_retention_days later
        self.linear_trashed_at: dict[str, float] = {}
        self.linear_purged: list[dict] = []
        # Linear issue history (sandbox/history.py): issue id -> IssueHistory records, oldest first
        self.linear_issue_history: dict[str, list[dict]] = {}

    # ---------------------------------------------------------------- convenience
    @property
    def workspace_id(self) -> str:
        return self.clockify_workspaces[0]["id"]

    def now(self) -> _dt.datetime:
        return parse_dt(self.clock())

    def now_epoch(self) -> float:
        return to_epoch(self.now())

    def cached(self, key: Any, build: Callable[[], Any], max_items: int = 64) -> Any:
        """Tiny cache for derived views, keyed by the caller (include the version!)."""
        with self.lock:
            if key in self._cache:
                return self._cache[key]
        value = build()
        with self.lock:
            if len(self._cache) >= max_items:
                self._cache.clear()
            self._cache[key] = value
        return value

    # ---------------------------------------------------------------- Clockify lookups
    def entry_index(self) -> _EntryIndex:
        idx = self._entry_index
        if idx is not None and idx.version == self.entries_version:
            return idx
        with self.lock:
            idx = self._entry_index
            if idx is None or idx.version != self.entries_version:
                idx = _EntryIndex(self.clockify_time_entries, self.entries_version)
                self._entry_index = idx
            return idx

    def get_time_entry(self, entry_id: str) -> dict:
        return self._entry_by_id[entry_id]

    def entries_for_user(self, user_id: str, start: Optional[str] = None, end: Optional[str] = None) -> list[dict]:
        """The user's entries whose start is in [start, end] (Clockify ts strings), oldest first."""
        idx = self.entry_index()
        keys = idx.user_keys.get(user_id, [])
        lo = bisect.bisect_left(keys, (start,)) if start else 0
        hi = bisect.bisect_right(keys, (end, "\uffff")) if end else len(keys)
        return idx.user_entries.get(user_id, [])[lo:hi]

    def entries_between(self, start: Optional[str], end: Optional[str]) -> list[dict]:
        """All entries whose start is in [start, end] (Clockify ts strings), sorted by (start, id)."""
        idx = self.entry_index()
        lo = bisect.bisect_left(idx.keys, (start,)) if start else 0
        hi = bisect.bisect_right(idx.keys, (end, "\uffff")) if end else len(idx.keys)
        return idx.entries[lo:hi]

    def _touch_entries(self) -> None:
        self.entries_version += 1
        self._cache.clear()

    # ---------------------------------------------------------------- Clockify mutations
    @staticmethod
    def _interval(start: Any, end: Any) -> dict:
        s = clockify_ts(int(to_epoch(start)))
        if end is None:
            return {"start": s, "end": None, "duration": None}
        e = clockify_ts(int(to_epoch(end)))
        secs = int(to_epoch(e) - to_epoch(s))
        if secs < 0:
            raise ValueError("time entry end is before its start")
        return {"start": s, "end": e, "duration": iso_duration(secs)}

    def edit_time_entry(self, entry_id: str, **fields: Any) -> dict:
        """Change fields of an entry in place. ``timeInterval={"start":..., "end":...}`` (str or
        datetime; duration is recomputed) or the shorthands ``start=`` / ``end=``."""
        with self.lock:
            e = self._entry_by_id[entry_id]
            self._remember_creation(e)
            ti = dict(e["timeInterval"])
            if "timeInterval" in fields:
                ti.update(fields.pop("timeInterval") or {})
            if "start" in fields:
                ti["start"] = fields.pop("start")
            if "end" in fields:
                ti["end"] = fields.pop("end")
            unknown = set(fields) - set(e)
            if unknown:
                raise ValueError(f"unknown time entry fields: {sorted(unknown)}")
            e.update(fields)
            e["timeInterval"] = self._interval(ti["start"], ti.get("end"))
            self._record_change("updated", e)
            self._touch_entries()
            return e

    def delete_time_entry(self, entry_id: str) -> dict:
        with self.lock:
            e = self._entry_by_id.pop(entry_id)
            self._remember_creation(e)
            self.clockify_time_entries.remove(e)
            self._record_change("deleted", e)
            self._touch_entries()
            return e

    def _record_change(self, kind: str, entry: dict) -> None:
        """For GET /entities/{created,updated,deleted}: the change at the clock's time, with a copy of
        the entry as it was then (main-API shape)."""
        doc = dict(entry)
        doc["timeInterval"] = dict(entry["timeInterval"])
        doc["tagIds"] = list(entry["tagIds"])
        self.clockify_changes.append(
            {"kind": kind, "at": self.now_epoch(), "id": entry["id"], "n": len(self.clockify_changes), "document": doc}
        )

    def _remember_creation(self, entry: dict) -> None:
        """A generated entry was created when its timer stopped (or started, if it still runs): fixed
        before its first change, so an edit (stopping the timer now) does not move it."""
        if entry["id"] not in self._entry_created_at:
            ti = entry["timeInterval"]
            self._entry_created_at[entry["id"]] = to_epoch(ti["end"] or ti["start"])

    def entry_created_at(self, entry_id: str) -> float:
        """When an entry was created (epoch seconds), see :meth:`_remember_creation`."""
        t = self._entry_created_at.get(entry_id)
        if t is not None:
            return t
        e = self._entry_by_id.get(entry_id)
        if e is None:
            return float("-inf")
        ti = e["timeInterval"]
        return to_epoch(ti["end"] or ti["start"])

    def stop_timer(self, entry_id: str, end: Any = None) -> dict:
        with self.lock:
            e = self._entry_by_id[entry_id]
            if e["timeInterval"]["end"] is not None:
                raise ValueError(f"time entry {entry_id} is not running")
            return self.edit_time_entry(entry_id, end=end if end is not None else self.now())

    def add_time_entry(
        self,
        user_id: str,
        start: Any,
        end: Any = None,
        description: str = "",
        project_id: Optional[str] = None,
        task_id: Optional[str] = None,
        tag_ids: Iterable[str] = (),
        billable: bool = False,
    ) -> dict:
        """Create an entry (``end=None`` starts a running timer). Returns the new entry."""
        with self.lock:
            if user_id not in {u["id"] for u in self.clockify_users}:
                raise KeyError(user_id)
            interval = self._interval(start, end)
            e = {
                "id": self.id_factory.oid(to_epoch(start)),
                "description": description,
                "tagIds": list(tag_ids),
                "userId": user_id,
                "billable": billable,
                "taskId": task_id,
                "projectId": project_id,
                "workspaceId": self.workspace_id,
                "timeInterval": interval,
                "customFieldValues": [],
                "type": "REGULAR",
                "kioskId": None,
                "isLocked": False,
            }
            self.clockify_time_entries.append(e)
            self._entry_by_id[e["id"]] = e
            self._entry_created_at[e["id"]] = self.now_epoch()
            self._record_change("created", e)
            self._touch_entries()
            return e

    # ---------------------------------------------------------------- Linear lookups
    def get_issue(self, key: str) -> dict:
        """By uuid, current identifier or a previous identifier (as Linear's ``issue(id:)``)."""
        issue = self._issue_by_key.get(key) or self._issue_by_key.get(str(key).upper())
        if issue is None:
            raise KeyError(key)
        return issue

    def team_by_key(self, key: str) -> dict:
        for t in self.linear_teams:
            if t["key"] == key:
                return t
        raise KeyError(key)

    def _touch_linear(self) -> None:
        self.linear_version += 1
        self._cache.clear()

    def _now_linear(self) -> str:
        return linear_ts(int(round(to_epoch(self.now()) * 1000)))

    # ---------------------------------------------------------------- Linear mutations
    def move_issue(self, issue_id: str, team_key: str) -> dict:
        """Move to another team: new identifier there, the old one appended to
        previousIdentifiers, state mapped to the same type, cycle cleared, updatedAt = now."""
        with self.lock:
            issue = self.get_issue(issue_id)
            team = self.team_by_key(team_key)
            if issue["team"] is team:
                raise ValueError(f"{issue['identifier']} is already in {team_key}")
            number = self._team_counters[team["id"]] + 1
            self._team_counters[team["id"]] = number
            old = issue["identifier"]
            before = {f: issue[f] for f in ("team", "state", "cycle")}
            issue["previousIdentifiers"] = list(issue["previousIdentifiers"]) + [old]
            issue["team"] = team
            issue["number"] = number
            issue["identifier"] = f"{team['key']}-{number}"
            state = issue["state"]
            issue["state"] = next(
                s
                for s in self.linear_workflow_states
                if s["team"] is team
                and s["type"] == state["type"]
                and (s["name"] == "In Review") == (state["name"] == "In Review")
            )
            issue["cycle"] = None
            issue["url"] = (
                f"https://linear.app/{self.linear_organization['urlKey']}/issue/{issue['identifier']}/{slugify(issue['title'])}"
            )
            issue["branchName"] = (
                issue["branchName"].split("/")[0] + f"/{issue['identifier'].lower()}-{slugify(issue['title'])}"
            )
            issue["addedToTeamAt"] = issue["updatedAt"] = self._now_linear()
            self._record_history(issue, before, issue["updatedAt"])
            self._issue_by_key[issue["identifier"]] = issue
            self._touch_linear()
            return issue

    def archive_issue(self, issue_id: str) -> dict:
        """archivedAt = now; updatedAt too unless ``linear_archive_bumps_updated_at`` is off (open fact)."""
        with self.lock:
            issue = self.get_issue(issue_id)
            issue["archivedAt"] = self._now_linear()
            if self.config.linear_archive_bumps_updated_at:
                issue["updatedAt"] = issue["archivedAt"]
            history.record(self, issue, issue["archivedAt"], {"archived": True})
            self._touch_linear()
            return issue

    def unarchive_issue(self, issue_id: str) -> dict:
        with self.lock:
            issue = self.get_issue(issue_id)
            changed = ({"archived": False} if issue["archivedAt"] else {}) | (
                {"trashed": False} if issue["trashed"] else {}
            )
            issue["archivedAt"] = None
            issue["trashed"] = False
            self.linear_trashed_at.pop(issue["id"], None)
            issue["updatedAt"] = self._now_linear()
            history.record(self, issue, issue["updatedAt"], changed)
            self._touch_linear()
            return issue

    def trash_issue(self, issue_id: str) -> dict:
        """Delete an issue as Linear does: into the trash (``trashed: true``, archived, so only
        ``includeArchived`` queries see it), permanently removed ``linear_trash_retention_days``
        (30) days later. updatedAt is bumped unless ``linear_archive_bumps_updated_at`` is off."""
        with self.lock:
            issue = self.get_issue(issue_id)
            now = self._now_linear()
            issue["trashed"] = True
            issue["archivedAt"] = now
            if self.config.linear_archive_bumps_updated_at:
                issue["updatedAt"] = now
            history.record(self, issue, now, {"trashed": True})
            self.linear_trashed_at[issue["id"]] = self.now_epoch()
            self._touch_linear()
            return issue

    def purge_trashed(self) -> list[dict]:
        """Remove, from every list and index, the issues trashed at least the retention period ago
        (by the clock). Called before every Linear request; returns what it removed."""
        if not self.linear_trashed_at:
            return []
        horizon = self.now_epoch() - self.config.linear_trash_retention_days * DAY
        if min(self.linear_trashed_at.values()) > horizon:
            return []
        with self.lock:
            gone = {i for i, t in self.linear_trashed_at.items() if t <= horizon}
            if not gone:
                return []
            removed = [i for i in self.linear_issues if i["id"] in gone]
            self.linear_issues = [i for i in self.linear_issues if i["id"] not in gone]
            for i in self.linear_issues:
                if i.get("parent") is not None and i["parent"]["id"] in gone:
                    i["parent"] = None
            for issue_id in gone:
                del self.linear_trashed_at[issue_id]
                self.linear_issue_history.pop(issue_id, None)
            for t in self.linear_teams:
                t["issueCount"] = sum(1 for i in self.linear_issues if i["team"] is t)
            self.linear_purged.extend(removed)
            self._index_issues()
            self._touch_linear()
            return removed

    def edit_issue(self, issue_id: str, **fields: Any) -> dict:
        """Set plain fields (title, estimate, priority, ...; ``state_type="completed"`` moves it to
        the team's state of that type); updatedAt = now."""
        with self.lock:
            issue = self.get_issue(issue_id)
            stype = fields.pop("state_type", None)
            unknown = set(fields) - set(issue)
            if unknown:
                raise ValueError(f"unknown issue fields: {sorted(unknown)}")
            before = {f: issue[f] for f in history.TRACKED_FIELDS}
            labels_before = list(issue["labelIds"])
            issue.update(fields)
            now = self._now_linear()
            if stype is not None:
                issue["state"] = next(
                    s for s in self.linear_workflow_states if s["team"] is issue["team"] and s["type"] == stype
                )
                if stype == "started" and not issue.get("startedAt"):
                    issue["startedAt"] = now
                if stype == "completed":
                    issue["completedAt"] = now
                if stype in ("canceled", "duplicate"):
                    issue["canceledAt"] = now
            issue["updatedAt"] = now
            changed = {}
            for f, suffix in history.TRACKED_FIELDS.items():
                changed.update(history.changes(suffix, before[f], issue[f]))
            added = [x for x in issue["labelIds"] if x not in labels_before]
            removed = [x for x in labels_before if x not in issue["labelIds"]]
            changed.update(
                {"addedLabelIds": added} if added else {}, **({"removedLabelIds": removed} if removed else {})
            )
            history.record(self, issue, now, changed)
            self._touch_linear()
            return issue

    def _record_history(self, issue: dict, before: dict, at: str) -> None:
        """One history record for the changes of the issue fields in ``before`` (field -> old value)."""
        changed: dict = {}
        for f, old in before.items():
            changed.update(history.changes(history.TRACKED_FIELDS[f], old, issue[f]))
        history.record(self, issue, at, changed)

    def _index_issues(self) -> None:
        self._issue_by_key = {}
        for i in self.linear_issues:
            self._issue_by_key[i["id"]] = i
            self._issue_by_key[i["identifier"]] = i
            for p in i["previousIdentifiers"]:
                self._issue_by_key.setdefault(p, i)

    # ---------------------------------------------------------------- summaries
    def summary(self) -> dict:
        return {
            "clockify_users": len(self.clockify_users),
            "clockify_projects": len(self.clockify_projects),
            "clockify_tasks": sum(len(v) for v in self.clockify_tasks.values()),
            "clockify_time_entries": len(self.clockify_time_entries),
            "linear_teams": len(self.linear_teams),
            "linear_issues": len(self.linear_issues),
            "linear_cycles": len(self.linear_cycles),
        }


# --------------------------------------------------------------------------------------------
# generator
# --------------------------------------------------------------------------------------------
def _rng(cfg: SandboxConfig, section: str) -> random.Random:
    return random.Random(f"sandbox:{cfg.seed}:{section}")


def _team_defs(n: int) -> list[tuple[str, str]]:
    out = list(TEAM_DEFS[:n])
    used = {k for k, _ in out}
    i = 0
    while len(out) < n:
        a, b = divmod(i, 26)
        key = "T" + chr(65 + a % 26) + chr(65 + b)
        i += 1
        if key not in used:
            used.add(key)
            out.append((key, f"Team {key}"))
    return out


def _people(cfg: SandboxConfig, rng: random.Random) -> list[dict]:
    combos = [(f, l) for l in LAST_NAMES for f in FIRST_NAMES]
    rng.shuffle(combos)
    people = []
    for i in range(cfg.users):
        f, l = combos[i % len(combos)]
        suffix = "" if i < len(combos) else str(i // len(combos) + 1)
        people.append(
            {
                "first": f,
                "last": l + suffix,
                "name": f"{f} {l}{suffix}",
                "email": f"{f.lower()}.{(l + suffix).lower()}@example.com",
            }
        )
    # In e-mail order, which is how GET /users sorts by default: creation order and list order agree.
    people.sort(key=lambda p: p["email"])
    n = len(people)
    for i, p in enumerate(people):
        p["tz"] = TIMEZONES[i % len(TIMEZONES)]
        # people[0] owns the API key; with 3+ people the last one is a LIMITED account (time tracked
        # for them, no login) and the one before was deactivated in this workspace two thirds into
        # the period (account still ACTIVE, membership INACTIVE): both have time entries.
        p["account_status"] = "LIMITED" if n >= 3 and i == n - 1 else "ACTIVE"
        p["membership_status"] = "INACTIVE" if n >= 3 and i == n - 2 else "ACTIVE"
        p["works_until_day"] = (cfg.days * 2) // 3 if p["membership_status"] == "INACTIVE" else None
    return people


def generate_workspace(cfg: SandboxConfig) -> Workspace:
    """Build the dataset for ``cfg`` (deterministic). The cyclic GC is paused meanwhile: the
    generator allocates hundreds of thousands of acyclic dicts and the GC passes would
    otherwise dominate the run time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _generate(cfg)
    finally:
        if was_enabled:
            gc.enable()


def _generate(cfg: SandboxConfig) -> Workspace:
    ws = Workspace(cfg)
    anchor = cfg.anchor_date
    start_date = cfg.start_date
    p0 = int(
        (
            _dt.datetime(start_date.year, start_date.month, start_date.day, tzinfo=UTC)
            - _dt.datetime(1970, 1, 1, tzinfo=UTC)
        ).total_seconds()
    )
    end_ts = p0 + cfg.days * DAY - 1  # anchor 23:59:59 UTC
    ids = _Ids(_rng(cfg, "ids"))
    ws.id_factory = ids
    people = _people(cfg, _rng(cfg, "people"))
    _gen_linear(ws, cfg, people, ids, p0, end_ts)
    # Issues generated as trashed went to the trash 1-25 days before the clock's start (real time by
    # default): visible now, purged once the clock passes their 30 days.
    trash_rng, t0 = _rng(cfg, "trash"), ws.now_epoch()
    for i in ws.linear_issues:
        if i["trashed"]:
            ws.linear_trashed_at[i["id"]] = t0 - trash_rng.randrange(1, 26) * DAY
    _gen_clockify(ws, cfg, people, ids, p0, end_ts)
    _gen_labels_projects_needs(ws, cfg)  # after everything else: its own random stream, nothing above moves
    capacity.generate(ws, cfg)  # its own random stream too
    history.generate(ws, cfg.seed)
    # drop the generator's private helper keys: the lists hold exactly the APIs' shapes
    for i in ws.linear_issues:
        for k in ("_updated_epoch", "_created_epoch", "_moved_at", "_first_identifier", "_gen"):
            i.pop(k, None)
    for c in ws.linear_cycles:
        c.pop("_starts", None)
        c.pop("_ends", None)
    ws.project_teams = {p["id"]: p.pop("_teams") for p in ws.linear_projects}
    return ws


# ------------------------------------------------------------------------ Linear
def _gen_linear(ws: Workspace, cfg: SandboxConfig, people: list[dict], ids: _Ids, p0: int, end_ts: int) -> None:
    rng = _rng(cfg, "linear")
    lid = ids.uuid
    L = lambda secs: linear_ts(int(secs * 1000) + rng.randrange(1000))  # noqa: E731
    org_created = p0 - 500 * DAY
    org = {
        "id": lid(),
        "name": "Sandbox Inc",
        "urlKey": "sandbox",
        "createdAt": L(org_created),
        "updatedAt": L(org_created + 30 * DAY),
        "archivedAt": None,
        "userCount": len(people),
        "createdIssueCount": cfg.issues,
        "logoUrl": None,
        "gitBranchFormat": None,
        "allowedAuthServices": [],
        "previousUrlKeys": [],
        "workingDays": [1.0, 2.0, 3.0, 4.0, 5.0],
    }
    ws.linear_organization = org

    # users: the same people as in Clockify, plus a Linear-only guest and an integration bot.
    # One person's email differs in letter case from Clockify (it happens; join case-insensitively).
    users = []
    odd_case = (len(people) // 2) if len(people) > 2 else None
    for i, p in enumerate(people):
        created = org_created + rng.randrange(0, 400) * DAY
        email = p["email"]
        if i == odd_case:
            email = email[0].upper() + email[1:]
        users.append(
            {
                "id": lid(),
                "name": p["name"],
                "displayName": p["first"].lower(),
                "email": email,
                "active": True,
                "admin": i == 0,
                "guest": False,
                "app": False,
                "owner": i == 0,
                "isMe": i == 0,
                "createdAt": L(created),
                "updatedAt": L(created + rng.randrange(1, 90) * DAY),
                "archivedAt": None,
                "timezone": p["tz"],
                "avatarUrl": None,
                "initials": p["first"][0] + p["last"][0],
                "url": f"https://linear.app/sandbox/profiles/{p['first'].lower()}",
                "avatarBackgroundColor": rng.choice(COLORS),
                "description": None,
                "lastSeen": None,
            }
        )
    for name, email, app in (
        ("Guest Designer", "guest.designer@agency.example", False),
        ("GitHub", "github-bot@linear.example", True),
    ):
        users.append(
            {
                "id": lid(),
                "name": name,
                "displayName": name.split()[0].lower(),
                "email": email,
                "active": name != "Guest Designer",
                "admin": False,
                "guest": not app,
                "app": app,
                "owner": False,
                "isMe": False,
                "createdAt": L(org_created + 10 * DAY),
                "updatedAt": L(org_created + 20 * DAY),
                "archivedAt": None,
                "timezone": "UTC",
                "avatarUrl": None,
                "initials": name[:2].upper(),
                "url": f"https://linear.app/sandbox/profiles/{name.split()[0].lower()}",
                "avatarBackgroundColor": "#999999",
                "description": None,
                "lastSeen": None,
            }
        )
    ws.linear_users = users
    people_users = users[: len(people)]

    # teams, states, cycles
    teams = []
    states = []
    cycles = []
    cycle_start0 = p0 - ((p0 // DAY + 3) % 7) * DAY - 28 * DAY  # a Monday, 4 weeks before the period
    for ti, (key, name) in enumerate(_team_defs(cfg.teams)):
        created = org_created + ti * 3 * DAY
        team = {
            "id": lid(),
            "key": key,
            "name": name,
            "displayName": name,
            "description": f"The {name} team",
            "timezone": "Europe/Berlin",
            "cyclesEnabled": True,
            "cycleDuration": 2.0,
            "cycleStartDay": 1.0,
            "cycleCooldownTime": 0.0,
            "private": False,
            "color": COLORS[ti % len(COLORS)],
            "icon": None,
            "createdAt": L(created),
            "updatedAt": L(created + 60 * DAY),
            "archivedAt": None,
            "issueEstimationType": "fibonacci",
            "defaultIssueEstimate": 1.0,
            "triageEnabled": True,
            "autoArchivePeriod": 6.0,
            "upcomingCycleCount": 2.0,
            "inviteHash": "%016x" % rng.getrandbits(64),
            "issueCount": 0,
        }
        teams.append(team)
        for pos, (sname, stype, color) in enumerate(STATE_DEFS):
            states.append(
                {
                    "id": lid(),
                    "name": sname,
                    "type": stype,
                    "color": color,
                    "position": float(pos),
                    "description": None,
                    "team": team,
                    "createdAt": L(created),
                    "updatedAt": L(created),
                    "archivedAt": None,
                }
            )
        n = 1
        cs = cycle_start0
        while cs <= end_ts + 14 * DAY:
            ce = cs + 14 * DAY
            past, active = ce <= end_ts, cs <= end_ts < ce
            cycles.append(
                {
                    "id": lid(),
                    "number": float(n),
                    "name": None,
                    "description": None,
                    "startsAt": linear_ts(cs * 1000),
                    "endsAt": linear_ts(ce * 1000),
                    "completedAt": linear_ts(ce * 1000) if past else None,
                    "createdAt": L(cs - 14 * DAY),
                    "updatedAt": L(min(ce, end_ts)),
                    "archivedAt": None,
                    "autoArchivedAt": None,
                    "team": team,
                    "isActive": active,
                    "isPast": past,
                    "isFuture": cs > end_ts,
                    "isNext": cs > end_ts and cs - 14 * DAY <= end_ts,
                    "isPrevious": past and ce > end_ts - 14 * DAY,
                    "progress": 1.0 if past else (0.0 if cs > end_ts else round((end_ts - cs) / (14 * DAY), 3)),
                    "scopeHistory": [],
                    "completedScopeHistory": [],
                    "inProgressScopeHistory": [],
                    "issueCountHistory": [],
                    "completedIssueCountHistory": [],
                    "_starts": cs,
                    "_ends": ce,
                }
            )
            n += 1
            cs = ce
    ws.linear_teams = teams
    ws.linear_workflow_states = states
    team_states = {(s["team"]["id"], s["type"]): s for s in states if s["name"] != "In Review"}
    team_review = {s["team"]["id"]: s for s in states if s["name"] == "In Review"}
    team_cycles: dict[str, list[dict]] = {}
    for c in cycles:
        team_cycles.setdefault(c["team"]["id"], []).append(c)

    # members: everyone belongs to one home team (round robin), some to a second one
    members: dict[str, list[dict]] = {t["id"]: [] for t in teams}
    home_team: list[dict] = []
    for i, u in enumerate(people_users):
        t = teams[i % len(teams)]
        home_team.append(t)
        members[t["id"]].append(u)
        if len(teams) > 1 and rng.random() < 0.25:
            other = teams[(i + 1 + rng.randrange(len(teams) - 1)) % len(teams)]
            members[other["id"]].append(u)
    ws._team_members = members  # type: ignore[attr-defined]
    ws._home_team = {people_users[i]["id"]: home_team[i]["id"] for i in range(len(people_users))}  # type: ignore[attr-defined]

    # projects (Linear)
    statuses = {
        st: {
            "id": lid(),
            "name": st.capitalize(),
            "type": st,
            "color": COLORS[i],
            "position": float(i),
            "description": None,
            "indefinite": st == "backlog",
            "createdAt": L(org_created),
            "updatedAt": L(org_created),
            "archivedAt": None,
        }
        for i, st in enumerate(["backlog", "planned", "started", "paused", "completed", "canceled"])
    }
    projects = []
    n_projects = max(2, cfg.teams * 2)
    for pi in range(n_projects):
        t1 = teams[pi % len(teams)]
        pteams = [t1] + ([teams[(pi + 1) % len(teams)]] if len(teams) > 1 and rng.random() < 0.3 else [])
        created = p0 - rng.randrange(0, 150) * DAY
        st = rng.choice(["started", "started", "completed", "planned", "backlog", "paused", "canceled"])
        name = f"{rng.choice(VERBS)} {rng.choice(OBJECTS)}".capitalize() + f" ({t1['key']})"
        projects.append(
            {
                "id": lid(),
                "name": name,
                "description": "",
                "slugId": "%012x" % rng.getrandbits(48),
                "icon": None,
                "color": rng.choice(COLORS),
                "state": st,
                "status": statuses[st],
                "priority": rng.randrange(5),
                "priorityLabel": "",
                "progress": round(rng.random(), 2),
                "scope": float(rng.randrange(5, 80)),
                "sortOrder": float(pi),
                "prioritySortOrder": float(pi),
                "createdAt": L(created),
                "updatedAt": L(min(end_ts, created + rng.randrange(1, 200) * DAY)),
                "startedAt": L(created + DAY) if st in ("started", "completed", "paused") else None,
                "completedAt": L(min(end_ts, created + 60 * DAY)) if st == "completed" else None,
                "canceledAt": L(min(end_ts, created + 30 * DAY)) if st == "canceled" else None,
                "archivedAt": None,
                "autoArchivedAt": None,
                "trashed": None,
                "startDate": None,
                "targetDate": None,
                "lead": rng.choice(members[t1["id"]]) if members[t1["id"]] else None,
                "url": "",
                "content": None,
                "labelIds": [],
                "health": None,
                "frequencyResolution": "weekly",
                "slackNewIssue": False,
                "slackIssueComments": False,
                "slackIssueStatuses": False,
                "_teams": pteams,
            }
        )
        projects[-1]["priorityLabel"] = PRIORITY_LABELS[projects[-1]["priority"]]
        projects[-1]["url"] = f"https://linear.app/sandbox/project/{slugify(name)}-{projects[-1]['slugId']}"
    ws.linear_projects = projects
    team_projects: dict[str, list[dict]] = {t["id"]: [] for t in teams}
    for p in projects:
        for t in p["_teams"]:
            team_projects[t["id"]].append(p)

    # customers: a few, named like some Clockify clients
    cust_statuses = {"Active": lid(), "Churned": lid()}
    customers = []
    for ci in range(min(max(cfg.clients, 2), 6)):
        name = CLIENT_NAMES[ci % len(CLIENT_NAMES)]
        created = p0 - rng.randrange(30, 300) * DAY
        st = "Churned" if ci == 3 else "Active"
        customers.append(
            {
                "id": lid(),
                "name": name,
                "slugId": slugify(name),
                "domains": [slugify(name).replace("-", "") + ".example"],
                "externalIds": [],
                "logoUrl": None,
                "revenue": rng.randrange(10, 500) * 1000,
                "size": float(rng.randrange(10, 5000)),
                "approximateNeedCount": float(rng.randrange(0, 20)),
                "mainSourceId": None,
                "slackChannelId": None,
                "createdAt": L(created),
                "updatedAt": L(min(end_ts, created + rng.randrange(1, 200) * DAY)),
                "archivedAt": None,
                "owner": rng.choice(people_users),
                "status": {
                    "id": cust_statuses[st],
                    "name": st,
                    "displayName": st,
                    "color": "#4cb782",
                    "position": 0.0,
                    "description": None,
                    "type": None,
                    "createdAt": L(org_created),
                    "updatedAt": L(org_created),
                    "archivedAt": None,
                },
                "tier": None,
                "url": f"https://linear.app/sandbox/customer/{slugify(name)}",
                "needs": [],
            }
        )
    ws.linear_customers = customers

    # issues
    n_issues = cfg.issues
    team_weights = [3.0 if i == 0 else 1.5 if i == 1 else 1.0 for i in range(len(teams))]
    issues = []
    events = []  # (time, order, kind, issue)
    horizon_start = p0 - 150 * DAY
    span = end_ts - horizon_start
    for n in range(n_issues):
        team = rng.choices(teams, team_weights)[0]
        # creation times: denser within the data period
        if rng.random() < 0.7:
            created = p0 + rng.randrange(max(1, end_ts - p0))
        else:
            created = horizon_start + rng.randrange(max(1, p0 - horizon_start))
        created = min(created, end_ts - 3600)
        age_days = (end_ts - created) / DAY
        # pick the state type, older issues are more often finished
        if rng.random() < min(0.85, age_days / 40.0):
            stype = rng.choices(["completed", "canceled", "duplicate"], [82, 13, 5])[0]
        else:
            stype = rng.choices(["triage", "backlog", "unstarted", "started"], [8, 30, 25, 37])[0]
        issues.append({"_team0": team, "_created": created, "_stype": stype})
    # make sure every state type is present at least once per dataset
    if n_issues >= len(STATE_TYPES):
        present = {i["_stype"] for i in issues}
        slots = iter(rng.sample(range(n_issues), n_issues))
        for st in STATE_TYPES:
            if st not in present:
                while True:
                    k = next(slots)
                    cur = issues[k]["_stype"]
                    if sum(1 for i in issues if i["_stype"] == cur) > 1:
                        issues[k]["_stype"] = st
                        break
    # moves: ~3% of issues change team once (needs >= 2 teams)
    moved = set()
    if len(teams) > 1 and n_issues >= 10:
        n_moved = max(2, round(n_issues * 0.03))
        moved = set(rng.sample(range(n_issues), n_moved))

    title_rng = _rng(cfg, "titles")
    for k, it in enumerate(issues):
        created = it["_created"]
        stype = it["_stype"]
        room = max(3600, end_ts - created)
        started = completed = canceled = archived = triaged = None
        if stype in ("started", "completed") or (stype == "canceled" and rng.random() < 0.4):
            started = created + rng.randrange(0, max(1, min(room // 2, 20 * DAY)))
        if stype == "completed":
            base = started or created
            completed = min(end_ts, base + rng.randrange(3600, max(3601, min(end_ts - base, 15 * DAY))))
        if stype in ("canceled", "duplicate"):
            base = started or created
            canceled = min(end_ts, base + rng.randrange(600, max(601, min(end_ts - base, 30 * DAY))))
        if stype != "triage" and rng.random() < 0.4:
            triaged = min(end_ts, created + rng.randrange(60, 2 * DAY))  # never after the data's last second
        terminal = completed or canceled
        if terminal and end_ts - terminal > 30 * DAY and rng.random() < 0.35:
            archived = terminal + rng.randrange(30 * DAY, max(30 * DAY + 1, min(end_ts - terminal, 60 * DAY)))
        elif stype in ("backlog", "triage") and rng.random() < 0.03:
            archived = created + rng.randrange(1, room)
        last = max(x for x in (created, started, completed, canceled, archived, triaged) if x is not None)
        if rng.random() < 0.3 and not archived:
            last = last + rng.randrange(0, max(1, end_ts - last))  # a later comment/label edit
        updated = min(end_ts, last + rng.randrange(0, 3 * 3600))
        it.update(
            _started=started,
            _completed=completed,
            _canceled=canceled,
            _archived=archived,
            _triaged=triaged,
            _updated=max(updated, created),
        )
        team = it["_team0"]
        if k in moved:
            others = [t for t in teams if t is not team]
            newt = rng.choice(others)
            move_at = created + rng.randrange(60, max(61, int((it["_updated"] - created) * 0.8) or 61))
            move_at = min(move_at, it["_updated"])
            it["_team"] = newt
            it["_moved_at"] = move_at
            events.append((move_at, 1, "move", k))
        else:
            it["_team"] = team
        events.append((created, 0, "create", k))
        verb, obj, qual = title_rng.choice(VERBS), title_rng.choice(OBJECTS), title_rng.choice(QUALIFIERS)
        it["_title"] = f"{verb} {obj}{qual}"

    # numbering in time order (creation and moves each take the next number of the team)
    counters = {t["id"]: 0 for t in teams}
    events.sort(key=lambda e: (e[0], e[1], e[3]))
    for _t, _o, kind, k in events:
        it = issues[k]
        if kind == "create":
            t = it["_team0"]
            counters[t["id"]] += 1
            it["_ident0"] = f"{t['key']}-{counters[t['id']]}"
            it["_number"] = counters[t["id"]]
        else:
            t = it["_team"]
            counters[t["id"]] += 1
            it["_prev"] = [it["_ident0"]]
            it["_number"] = counters[t["id"]]
    ws._team_counters = counters

    final = []
    for k, it in enumerate(issues):
        team = it["_team"]
        stype = it["_stype"]
        state = team_states[(team["id"], stype)]
        if stype == "started" and rng.random() < 0.35:
            state = team_review[team["id"]]
        ident = f"{team['key']}-{it['_number']}" if "_prev" in it else it["_ident0"]
        cyc = None
        when = it["_started"] or (it["_created"] if stype == "unstarted" and rng.random() < 0.5 else None)
        if when is not None and stype not in ("triage", "backlog"):
            for c in team_cycles[team["id"]]:
                if c["_starts"] <= when < c["_ends"]:
                    cyc = c
                    break
        mem = members[team["id"]] or people_users
        assignee = None
        if stype not in ("triage", "backlog") or rng.random() < 0.3:
            assignee = rng.choice(mem) if rng.random() < 0.92 else None
        creator = rng.choice(mem)
        tp = team_projects[team["id"]]
        project = rng.choice(tp) if tp and rng.random() < 0.45 else None
        estimate = float(rng.choices([1, 2, 3, 5, 8], [20, 30, 25, 15, 10])[0]) if rng.random() < 0.85 else None
        priority = rng.choices([0, 1, 2, 3, 4], [25, 5, 20, 35, 15])[0]
        title = it["_title"]
        slug = slugify(title)
        archived = it["_archived"]
        trashed = bool(archived) and rng.random() < 0.1
        issue = {
            "id": lid(),
            "identifier": ident,
            "number": float(it["_number"]),
            "title": title,
            "description": None
            if rng.random() < 0.3
            else f"Steps:\n1. Open the {title.split(' ', 1)[-1]}\n2. Observe the problem",
            "estimate": estimate,
            "priority": float(priority),
            "priorityLabel": PRIORITY_LABELS[priority],
            "team": team,
            "state": state,
            "cycle": cyc,
            "project": project,
            "assignee": assignee,
            "creator": creator,
            "parent": None,
            "createdAt": L(it["_created"]),
            "updatedAt": None,
            "startedAt": L(it["_started"]) if it["_started"] else None,
            "completedAt": L(it["_completed"]) if it["_completed"] else None,
            "canceledAt": L(it["_canceled"]) if it["_canceled"] else None,
            "archivedAt": L(archived) if archived else None,
            "autoArchivedAt": None,
            "autoClosedAt": None,
            "triagedAt": L(it["_triaged"]) if it["_triaged"] else None,
            "startedTriageAt": L(it["_created"]) if stype == "triage" or it["_triaged"] else None,
            "addedToTeamAt": L(it.get("_moved_at") or it["_created"]),
            "addedToCycleAt": (L(max(it["_created"], cyc["_starts"])) if cyc else None),
            "addedToProjectAt": L(it["_created"]) if project else None,
            "dueDate": None,
            "trashed": trashed,
            "previousIdentifiers": list(it.get("_prev", [])),
            "labelIds": [],
            "boardOrder": 0.0,
            "sortOrder": float(-k),
            "prioritySortOrder": float(priority),
            "subIssueSortOrder": None,
            "customerTicketCount": 0,
            "url": f"https://linear.app/sandbox/issue/{ident}/{slug}",
            "branchName": f"{(assignee or creator)['displayName']}/{ident.lower()}-{slug}",
            "snoozedUntilAt": None,
            "slaBreachesAt": None,
            "slaStartedAt": None,
            "_updated_epoch": it["_updated"],
            "_created_epoch": it["_created"],
            "_moved_at": it.get("_moved_at"),
            "_first_identifier": it["_ident0"],
            "_gen": it,  # the generator's own view (epochs, first team), for the history
        }
        # updatedAt must be >= every other timestamp we set
        issue["updatedAt"] = max(
            L(it["_updated"]),
            issue["createdAt"],
            *(issue[f] for f in ("startedAt", "completedAt", "canceledAt", "archivedAt", "triagedAt") if issue[f]),
        )
        final.append(issue)
    for t in teams:
        t["issueCount"] = sum(1 for i in final if i["team"] is t)
    ws.linear_cycles = cycles
    ws.linear_issues = final
    ws._index_issues()
    # strip private helper keys from cycles/projects/issues after they served the generator?
    # They are kept (prefixed with "_") because the Clockify generator uses them; the GraphQL
    # layer never exposes keys that are not schema fields.


# ------------------------------------------------------------------------ labels, project dates, customer needs
LABEL_GROUPS = {"Type": ["Bug", "Feature", "Chore"]}  # a group label (isGroup) and its children
WORKSPACE_LABELS = ["Customer request", "Tech debt", "Security"]


def _gen_labels_projects_needs(ws: Workspace, cfg: SandboxConfig) -> None:
    """Issue labels (workspace labels, one group with children, one team label per team; an issue carries
    0-3 of them in `labelIds`), projects' start and target dates, and customer needs (Customer -> Issue,
    some to a project only), shaped as Linear's schema (IssueLabel, Project, CustomerNeed). Drawn from
    their own random stream so the rest of the data is the same as without them."""
    rng = _rng(cfg, "labels")

    def uid() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    created = ws.linear_organization.get("createdAt") if ws.linear_organization else None
    created = created or "2023-01-02T09:00:00.000Z"

    def label(name: str, team: dict | None = None, parent: dict | None = None, group: bool = False) -> dict:
        item = {
            "id": uid(),
            "name": name,
            "description": None,
            "color": rng.choice(COLORS),
            "isGroup": group,
            "parent": parent,
            "team": team,
            "createdAt": created,
            "updatedAt": created,
            "archivedAt": None,
            "lastAppliedAt": None,
            "retiredAt": None,
        }
        ws.linear_labels.append(item)
        return item

    applicable = [label(n) for n in WORKSPACE_LABELS]
    for group, children in LABEL_GROUPS.items():
        parent = label(group, group=True)
        applicable += [label(c, parent=parent) for c in children]
    team_labels = {t["id"]: label(f"{t['key']} platform", team=t) for t in ws.linear_teams}
    for issue in ws.linear_issues:
        pool = applicable + [team_labels[issue["team"]["id"]]]
        k = rng.choices((0, 1, 2, 3), (3, 5, 3, 1))[0]
        issue["labelIds"] = [x["id"] for x in rng.sample(pool, k)]
    for project in ws.linear_projects:
        start = _dt.date.fromisoformat(project["createdAt"][:10]) + _dt.timedelta(days=rng.randrange(0, 10))
        project["startDate"] = start.isoformat()
        project["targetDate"] = (
            (start + _dt.timedelta(days=rng.randrange(30, 180))).isoformat() if rng.random() < 0.8 else None
        )
    if not ws.linear_customers:
        return
    for issue in rng.sample(ws.linear_issues, min(len(ws.linear_issues), max(1, len(ws.linear_issues) // 6))):
        # one or two customers asked for it (two needs of one customer on one issue happen too)
        for customer in rng.sample(ws.linear_customers, min(len(ws.linear_customers), rng.choice((1, 1, 2)))):
            ws.linear_customer_needs.append(_need(uid(), customer, issue, issue.get("project"), rng))
    for project in ws.linear_projects[:2]:  # a need on a project only: no issue, so no hours of its own
        ws.linear_customer_needs.append(_need(uid(), ws.linear_customers[0], None, project, rng))


def _need(need_id: str, customer: dict, issue: dict | None, project: dict | None, rng: random.Random) -> dict:
    when = (issue or project)["createdAt"]
    return {
        "id": need_id,
        "customer": customer,
        "issue": issue,
        "project": project,
        "priority": float(rng.choice((0, 0, 1))),  # 1 = important
        "body": None,
        "content": None,
        "createdAt": when,
        "updatedAt": when,
        "archivedAt": None,
        "attachment": None,
        "creator": None,
        "originalIssue": None,
        "projectAttachment": None,
        "url": None,
    }


# ------------------------------------------------------------------------ Clockify
def _gen_clockify(ws: Workspace, cfg: SandboxConfig, people: list[dict], ids: _Ids, p0: int, end_ts: int) -> None:
    rng = _rng(cfg, "clockify")
    oid = ids.oid
    created0 = p0 - 400 * DAY
    wsid = oid(created0)
    ws.clockify_workspaces = [
        {
            "id": wsid,
            "name": "Sandbox Workspace",
            "hourlyRate": {"amount": 0, "currency": cfg.clockify_currency},  # set by _gen_rates
            "memberships": [],
            "imageUrl": "",
            "featureSubscriptionType": "FREE" if cfg.clockify_plan == "FREE" else "PRO",
            "workspaceSettings": {
                "timeRoundingInReports": False,
                "onlyAdminsSeeBillableRates": True,
                "onlyAdminsCreateProject": True,
                "onlyAdminsSeeDashboard": False,
                "defaultBillableProjects": True,
                "lockTimeEntries": None,
                "round": {"round": "Round to nearest", "minutes": "15"},
                "projectFavorites": True,
                "canSeeTimeSheet": False,
                "canSeeTracker": True,
                "projectPickerSpecialFilter": False,
                "forceProjects": False,
                "forceTasks": False,
                "forceTags": False,
                "forceDescription": False,
                "onlyAdminsSeeAllTimeEntries": not cfg.clockify_member_sees_all_time,
                "onlyAdminsSeePublicProjectsEntries": False,
                "trackTimeDownToSecond": True,
                "projectGroupingLabel": "client",
                "adminOnlyPages": [],
                "automaticLock": None,
                "onlyAdminsCreateTag": False,
                "onlyAdminsCreateTask": False,
                "timeTrackingMode": "DEFAULT",
                "isProjectPublicByDefault": True,
            },
            "currencies": [{"id": oid(created0), "code": cfg.clockify_currency, "isDefault": True}],
        }
    ]
    users = []
    for i, p in enumerate(people):
        users.append(
            {
                "id": oid(created0 + i * 3600),
                "email": p["email"],
                "name": p["name"],
                "memberships": [],
                "profilePicture": "https://img.clockify.me/no-user-image.png",
                "activeWorkspace": wsid,
                "defaultWorkspace": wsid,
                "status": p["account_status"],
                "customFields": [],
                "settings": {
                    "weekStart": "MONDAY",
                    # the key owner's profile zone is configurable; their entries stay where they were
                    "timeZone": cfg.owner_timezone if i == 0 else p["tz"],
                    "timeFormat": "HOUR24",
                    "dateFormat": "YYYY-MM-DD",
                    "sendNewsletter": False,
                    "weeklyUpdates": False,
                    "longRunning": False,
                    "scheduledReports": False,
                    "approval": False,
                    "pto": False,
                    "alerts": False,
                    "reminders": False,
                    "timeTrackingManual": False,
                    "summaryReportSettings": {"group": "PROJECT", "subgroup": "TIME_ENTRY"},
                    "isCompactViewOn": False,
                    "dashboardSelection": "ME",
                    "dashboardViewType": "PROJECT",
                    "dashboardPinToTop": False,
                    "projectListCollapse": 50,
                    "collapseAllProjectLists": False,
                    "groupSimilarEntriesDisabled": False,
                    "myStartOfDay": "09:00",
                    "lang": "EN",
                    "theme": "DEFAULT",
                },
            }
        )
    ws.clockify_users = users
    ws.clockify_membership_status = {u["id"]: p["membership_status"] for u, p in zip(users, people)}

    clients = []
    for ci in range(cfg.clients):
        name = CLIENT_NAMES[ci] if ci < len(CLIENT_NAMES) else f"Client {ci + 1}"
        clients.append(
            {
                "id": oid(created0 + DAY + ci * 600),
                "name": name,
                "workspaceId": wsid,
                "archived": cfg.clients >= 4 and ci == cfg.clients - 1,
                "address": "",
                "note": "",
                "email": None,
                "currencyId": None,
                "ccEmails": None,
            }
        )
    ws.clockify_clients = clients
    active_clients = [c for c in clients if not c["archived"]] or clients

    teams = ws.linear_teams
    projects = []
    project_team: dict[str, dict] = {}
    archived_project = None
    for pi in range(cfg.projects):
        name = PROJECT_NAMES[pi] if pi < len(PROJECT_NAMES) else f"Project {pi + 1}"
        internal = name == "Internal"
        client = None
        if not internal and active_clients and rng.random() < 0.7:
            client = active_clients[pi % len(active_clients)]
        if not internal and pi == cfg.projects - 1 and cfg.clients >= 4:
            client = clients[-1]  # the archived client's project ...
        archived = cfg.projects >= 5 and pi == cfg.projects - 1  # ... is archived as well
        billable = client is not None
        pr = {
            "id": oid(created0 + 2 * DAY + pi * 600),
            "name": name,
            "hourlyRate": {"amount": 0 if not billable else 12000, "currency": cfg.clockify_currency},
            "costRate": None,
            "clientId": client["id"] if client else "",
            "clientName": client["name"] if client else "",
            "workspaceId": wsid,
            "billable": billable,
            "memberships": [],
            "color": COLORS[pi % len(COLORS)],
            "estimate": {"estimate": "PT0S", "type": "AUTO"},
            "archived": archived,
            "duration": "PT0S",
            "note": "",
            "template": False,
            "public": True,
            "budgetEstimate": None,
            "timeEstimate": None,
        }
        projects.append(pr)
        project_team[pr["id"]] = teams[pi % len(teams)]
        if archived:
            archived_project = pr
    ws.clockify_projects = projects

    tags = []
    for ti in range(cfg.tags):
        name = TAG_NAMES[ti] if ti < len(TAG_NAMES) else f"Tag {ti + 1}"
        tags.append(
            {
                "id": oid(created0 + 3 * DAY + ti * 600),
                "name": name,
                "workspaceId": wsid,
                "archived": cfg.tags >= 5 and ti == cfg.tags - 1,
            }
        )
    ws.clockify_tags = tags
    live_tag_ids = [t["id"] for t in tags if not t["archived"]]

    # tasks: plain ones plus some named like Linear issues (TimeTracker style "ENG-42: Title")
    issues = ws.linear_issues
    team_issues: dict[str, list[dict]] = {t["id"]: [] for t in teams}
    for i in issues:
        team_issues[i["team"]["id"]].append(i)
    moved_issues = [i for i in issues if i["previousIdentifiers"]]
    tasks: dict[str, list[dict]] = {}
    issue_tasks: dict[str, list[tuple[dict, dict]]] = {}
    plain_tasks: dict[str, dict[str, dict]] = {}
    n_issue_tasks = max(2, min(40, cfg.issues // max(1, cfg.projects) // 6))
    old_ident_task_done = False
    for pr in projects:
        lst = []
        names = rng.sample(PLAIN_TASKS, rng.randrange(4, 8))
        plain_tasks[pr["id"]] = {}
        for tn in names:
            t = {
                "id": oid(created0 + 4 * DAY + len(lst)),
                "name": tn,
                "projectId": pr["id"],
                "assigneeIds": [],
                "assigneeId": None,
                "userGroupIds": [],
                "estimate": rng.choice(["PT0S", "PT4H", "PT8H", "PT16H"]),
                "status": "ACTIVE",
                "duration": "PT0S",
                "billable": pr["billable"],
                "hourlyRate": None,
                "costRate": None,
            }
            lst.append(t)
            plain_tasks[pr["id"]][tn] = t
        pool = [
            i
            for i in team_issues[project_team[pr["id"]]["id"]]
            if i["state"]["type"] in ("started", "completed", "unstarted")
        ]
        chosen = rng.sample(pool, min(n_issue_tasks, len(pool)))
        if not old_ident_task_done and moved_issues:
            chosen.append(moved_issues[0])  # a task still named with the issue's previous identifier
        issue_tasks[pr["id"]] = []
        for iss in chosen:
            ident = iss["identifier"]
            if iss["previousIdentifiers"] and (not old_ident_task_done or rng.random() < 0.5):
                ident = iss["previousIdentifiers"][0]
                old_ident_task_done = True
            assignees = [u["id"] for u in users if rng.random() < 2.0 / max(2, len(users))][:2]
            t = {
                "id": oid(to_epoch(iss["createdAt"])),
                "name": f"{ident}: {iss['title']}",
                "projectId": pr["id"],
                "assigneeIds": assignees,
                "assigneeId": None,
                "userGroupIds": [],
                "estimate": "PT%dH" % int((iss["estimate"] or 1) * 2),
                "status": "DONE" if iss["state"]["type"] == "completed" else "ACTIVE",
                "duration": "PT0S",
                "billable": pr["billable"],
                "hourlyRate": None,
                "costRate": None,
            }
            lst.append(t)
            issue_tasks[pr["id"]].append((t, iss))
        tasks[pr["id"]] = lst
    ws.clockify_tasks = tasks

    _gen_time_entries(
        ws,
        cfg,
        people,
        users,
        projects,
        project_team,
        archived_project,
        plain_tasks,
        issue_tasks,
        live_tag_ids,
        p0,
        end_ts,
        rng,
        oid,
        wsid,
    )
    _gen_rates(ws, cfg)


# Billable rates in cents of the workspace's currency, on every level Clockify has them (sandbox/README.md
# "Rates"): the workspace, some workspace members, most billable projects, some project members, one task.
# Drawn from their own random stream, so the rest of the data does not move.
WORKSPACE_RATE = 9000


def _gen_rates(ws: Workspace, cfg: SandboxConfig) -> None:
    rng = _rng(cfg, "clockify_rates")
    currency = cfg.clockify_currency
    wsid = ws.workspace_id

    def rate(amount: Optional[int]) -> Optional[dict]:
        return {"amount": amount, "currency": currency} if amount is not None else None

    ws.clockify_workspaces[0]["hourlyRate"] = rate(WORKSPACE_RATE)
    ws.clockify_member_rates = {
        u["id"]: (10000 + 500 * i if i % 3 == 1 else None) for i, u in enumerate(ws.clockify_users)
    }
    ws.clockify_workspaces[0]["memberships"] = [
        {
            "userId": u["id"],
            "hourlyRate": rate(ws.clockify_member_rates[u["id"]]),
            "costRate": None,
            "targetId": wsid,
            "membershipType": "WORKSPACE",
            "membershipStatus": ws.clockify_membership_status.get(u["id"], "ACTIVE"),
        }
        for u in ws.clockify_users
    ]
    users = ws.clockify_users
    billable = [p for p in ws.clockify_projects if p["billable"]]
    for n, pr in enumerate(billable):
        if n % 3 == 2:
            pr["hourlyRate"] = None  # no project rate: member or workspace rates apply
        logged = Counter(e["userId"] for e in ws.clockify_time_entries if e["projectId"] == pr["id"])
        if n % 2 == 0 and logged:
            # one of the people who log time there (else the rate would price nothing)
            member_id = max(sorted(logged), key=lambda uid: (logged[uid], rng.random()))
            member = next(u for u in users if u["id"] == member_id)
            pr["memberships"] = [
                {
                    "userId": member["id"],
                    "hourlyRate": rate(15000 + 1000 * n),
                    "costRate": None,
                    "targetId": pr["id"],
                    "membershipType": "PROJECT",
                    "membershipStatus": "ACTIVE",
                }
            ]
    if billable:
        task = ws.clockify_tasks[billable[0]["id"]][0]
        task["hourlyRate"] = rate(20000)


def entry_rate(ws: Workspace, entry: dict) -> int:
    """The billable rate (cents) Clockify prices an entry at: the most specific level that has one, task >
    project member > project > workspace member > workspace; a rate of 0 or none is "not set" there."""
    lk = ws.cached(("rates", ws.entries_version), lambda: _rate_lookups(ws))
    user, project, task = entry.get("userId"), entry.get("projectId"), entry.get("taskId")
    for amount in (
        lk["tasks"].get(task),
        lk["project_members"].get((project, user)),
        lk["projects"].get(project),
        lk["members"].get(user),
        lk["workspace"],
    ):
        if amount:
            return amount
    return 0


def _rate_lookups(ws: Workspace) -> dict:
    def amount(r: Optional[dict]) -> Optional[int]:
        return (r or {}).get("amount") or None

    return {
        "tasks": {t["id"]: amount(t.get("hourlyRate")) for ts in ws.clockify_tasks.values() for t in ts},
        "project_members": {
            (p["id"], m["userId"]): amount(m.get("hourlyRate"))
            for p in ws.clockify_projects
            for m in p.get("memberships") or []
        },
        "projects": {p["id"]: amount(p.get("hourlyRate")) for p in ws.clockify_projects},
        "members": dict(getattr(ws, "clockify_member_rates", {})),
        "workspace": amount(ws.clockify_workspaces[0].get("hourlyRate")),
    }


def _gen_time_entries(
    ws,
    cfg,
    people,
    users,
    projects,
    project_team,
    archived_project,
    plain_tasks,
    issue_tasks,
    live_tag_ids,
    p0,
    end_ts,
    rng,
    oid,
    wsid,
) -> None:
    issues = ws.linear_issues
    teams = ws.linear_teams
    n_days = cfg.days
    # issues being worked on per (day, team): from start (or creation) to completion (or now)
    active: dict[tuple[int, str], list[dict]] = {}
    old_issues = []  # last updated before the data period: mentioned anyway (follow-ups, support)
    for iss in issues:
        if iss["_updated_epoch"] < p0:
            if iss["state"]["type"] in ("completed", "started"):
                old_issues.append(iss)
            continue
        st = iss["state"]["type"]
        if st in ("triage", "duplicate"):
            continue
        lo = iss["startedAt"] or iss["createdAt"]
        lo_e = max(p0, int(to_epoch(lo)))
        hi_iso = iss["completedAt"] or iss["canceledAt"]
        hi_e = int(to_epoch(hi_iso)) if hi_iso else (end_ts if st in ("started", "unstarted") else lo_e + 5 * DAY)
        hi_e = min(end_ts, hi_e)
        tid = iss["team"]["id"]
        for d in range((lo_e - p0) // DAY, (hi_e - p0) // DAY + 1):
            active.setdefault((d, tid), []).append(iss)
    all_active_by_day: dict[int, list[dict]] = {}
    for (d, _tid), lst in active.items():
        all_active_by_day.setdefault(d, []).extend(lst)

    home = ws._home_team
    linear_by_email = {u["email"].lower(): u for u in ws.linear_users}
    team_projects: dict[str, list[dict]] = {}
    for pr in projects:
        if pr is archived_project:
            continue
        team_projects.setdefault(project_team[pr["id"]]["id"], []).append(pr)
    live_projects = [p for p in projects if p is not archived_project]
    internal = next(
        (p for p in projects if p["name"] == "Internal"), live_projects[0] if live_projects else projects[0]
    )
    support = next((p for p in projects if p["name"] == "Customer Support"), None)
    mu = cfg.entries_per_user_per_day
    entries: list[dict] = []
    append = entries.append
    random_ = rng.random

    def choice(seq):  # faster than Random.choice, still deterministic
        return seq[int(random_() * len(seq))]

    def randrange(a, b=None):
        if b is None:
            a, b = 0, a
        return a + int(random_() * (b - a))

    lock_before = end_ts - 60 * DAY
    n_tags = len(live_tag_ids)
    n_running = 0 if mu <= 0 else max(1, min(5, len(users) // 6 + 1))
    # a LIMITED account cannot start a timer and a deactivated member no longer works here
    can_run = [i for i, p in enumerate(people) if p["account_status"] == "ACTIVE" and not p["works_until_day"]]
    running_users = set(rng.sample(can_run, min(n_running, len(can_run))))
    start_ordinal = cfg.start_date.toordinal()
    offsets: dict[tuple[str, int], int] = {}

    def utc_offset(tz: str, d: int) -> int:
        """Seconds east of UTC in zone ``tz`` at noon of local day ``d`` (DST-correct: transitions
        happen at night, so the noon offset holds for the whole working day)."""
        off = offsets.get((tz, d))
        if off is None:
            day = _dt.date.fromordinal(start_ordinal + d)
            noon = _dt.datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo(tz))
            off = offsets[(tz, d)] = int(noon.utcoffset().total_seconds())
        return off

    def ident_of(iss: dict, when: int) -> str:
        prev = iss["previousIdentifiers"]
        if prev and ((iss["_moved_at"] and when < iss["_moved_at"]) or random_() < 0.25):
            return prev[-1]
        return iss["identifier"]

    for ui, (p, u) in enumerate(zip(people, users)):
        if mu <= 0:
            break
        lu = linear_by_email.get(p["email"].lower())
        team_id = home.get(lu["id"]) if lu else teams[0]["id"]
        my_projects = team_projects.get(team_id) or live_projects or projects
        vac_start = randrange(0, max(1, n_days))
        vac_len = randrange(0, 10) if n_days > 30 else 0
        until = p["works_until_day"]
        # local calendar days, one either side of the period, so every UTC day of it is complete
        for d in range(-1, n_days + 1):
            if until is not None and d >= until:
                break
            day0 = p0 + d * DAY  # local midnight of day d, as if the zone were UTC
            offset = utc_offset(p["tz"], d)
            wd = (day0 // DAY + 3) % 7  # 0 = Monday (local)
            is_anchor_day = d == n_days - 1
            force = is_anchor_day and ui in running_users
            if not force:
                if wd >= 5 and random_() > 0.04:
                    continue
                if vac_start <= d < vac_start + vac_len or random_() < 0.04:
                    continue
            n = max(1, int(mu * (0.5 + random_()) + 0.5)) if mu > 0 else 0
            if wd >= 5:
                n = max(1, n // 3)
            # local working day starting 08:00-10:00, converted to UTC
            t = day0 + 8 * 3600 + randrange(0, 7200) - offset
            budget = 6 * 3600 + randrange(0, 3 * 3600)
            avg = budget / max(1, n)
            for j in range(n):
                dur = int(avg * (0.4 + 1.2 * random_()))
                dur = max(900, min(4 * 3600, dur))
                if random_() < 0.4:  # typed in by hand: round quarter hours
                    dur = max(900, dur // 900 * 900)
                    t = t // 900 * 900
                if t > end_ts:
                    break
                start = t
                # -------------------------------------------------- what was worked on
                r = random_()
                project = None
                task = None
                desc = ""
                tid_pool = active.get((d, team_id)) or all_active_by_day.get(d)
                if r < 0.45 and (tid_pool or old_issues):
                    if old_issues and (random_() < 0.05 or not tid_pool):
                        iss = choice(old_issues)
                    else:
                        iss = choice(tid_pool)
                    ident = ident_of(iss, start)
                    title = iss["title"]
                    f = random_()
                    if f < 0.28:
                        desc = f"{ident} {title.lower()}"
                    elif f < 0.50:
                        desc = f"[{ident}] {title}"
                    elif f < 0.62:
                        desc = ident.lower() if random_() < 0.6 else f"{ident.lower()} {title.split(' ')[0].lower()}"
                    elif f < 0.72:
                        desc = f"{ident}: {title}"
                    elif f < 0.82 and tid_pool and len(tid_pool) > 1:
                        other = choice(tid_pool)
                        if other is iss:
                            other = tid_pool[0] if tid_pool[0] is not iss else tid_pool[-1]
                        desc = f"{ident} and {ident_of(other, start)} pairing"
                    else:
                        desc = choice(("Review ", "PR review for ", "Deploy ", "Testing ")) + ident
                    tps = team_projects.get(iss["team"]["id"]) or my_projects
                    project = choice(tps) if random_() < 0.93 else None
                    if project is not None and random_() < 0.35:
                        task = plain_tasks[project["id"]].get(
                            choice(("Development", "Code review", "Testing", "Deployment"))
                        )
                elif r < 0.55:
                    pr = choice(my_projects)
                    its = issue_tasks.get(pr["id"])
                    if its:
                        task, iss = choice(its)
                        project = pr
                        desc = choice(GENERIC_TASK_DESCRIPTIONS)
                        if random_() < 0.2:
                            desc = iss["title"].lower()
                    else:
                        project = pr
                        desc = choice(NO_ID_DESCRIPTIONS)
                elif r < 0.65:
                    f = random_()
                    if f < 0.35 and tid_pool:
                        desc = choice(UNKNOWN_THEN_KNOWN).format(id=ident_of(choice(tid_pool), start))
                    else:
                        desc = choice(UNKNOWN_ID_DESCRIPTIONS).format(key=teams[randrange(len(teams))]["key"])
                    project = choice(my_projects) if random_() < 0.85 else None
                else:
                    desc = choice(NO_ID_DESCRIPTIONS)
                    rr = random_()
                    if rr < 0.15:
                        project = None
                    elif rr < 0.55 or support is None:
                        project = internal
                    else:
                        project = support
                    if project is not None and random_() < 0.5:
                        key = (
                            desc
                            if desc in plain_tasks[project["id"]]
                            else (
                                "Meetings"
                                if "standup" in desc.lower()
                                or "sync" in desc.lower()
                                or "planning" in desc.lower()
                                or "retro" in desc.lower()
                                else desc
                            )
                        )
                        task = plain_tasks[project["id"]].get(key)
                # the archived project only appears in the first half of the period
                if archived_project is not None and d < n_days // 2 and random_() < 0.03:
                    project, task = archived_project, None
                tag_ids = []
                if live_tag_ids and random_() >= 0.6:
                    tag_ids.append(live_tag_ids[int(random_() * n_tags)])
                    if random_() >= 0.75:
                        second = live_tag_ids[int(random_() * n_tags)]
                        if second != tag_ids[0]:
                            tag_ids.append(second)
                billable = bool(project is not None and project["billable"] and random_() < 0.9)
                end = start + dur + (int(random_() * 60) if random_() < 0.6 else 0)
                append(
                    {
                        "id": oid(start),
                        "description": desc,
                        "tagIds": tag_ids,
                        "userId": u["id"],
                        "billable": billable,
                        "taskId": task["id"] if task is not None else None,
                        "projectId": project["id"] if project is not None else None,
                        "workspaceId": wsid,
                        "timeInterval": {
                            "start": clockify_ts(start),
                            "end": clockify_ts(end),
                            "duration": iso_duration(end - start),
                        },
                        "customFieldValues": [],
                        "type": "REGULAR",
                        "kioskId": None,
                        "isLocked": start < lock_before,
                    }
                )
                gap = int(random_() * 1200) if random_() < 0.7 else 0
                if j == n // 2 - 1:
                    gap += 1800 + int(random_() * 1800)  # lunch
                t = end + gap
            # occasional late session (e.g. an incident) that crosses midnight UTC
            if random_() < 0.01 and d < n_days - 1:
                s = day0 + 23 * 3600 + randrange(0, 1800)
                e = s + randrange(45 * 60, 2 * 3600)
                append(
                    {
                        "id": oid(s),
                        "description": "INC-" + str(100 + randrange(900)) + " on-call incident",
                        "tagIds": [],
                        "userId": u["id"],
                        "billable": False,
                        "taskId": None,
                        "projectId": internal["id"],
                        "workspaceId": wsid,
                        "timeInterval": {
                            "start": clockify_ts(s),
                            "end": clockify_ts(e),
                            "duration": iso_duration(e - s),
                        },
                        "customFieldValues": [],
                        "type": "REGULAR",
                        "kioskId": None,
                        "isLocked": s < lock_before,
                    }
                )

    # every other Wednesday an all-hands at 16:00 UTC, logged by everyone for whom that is daytime:
    # entries with equal start times (the detailed report's DATE order does not separate them)
    for d in range(n_days):
        day0 = p0 + d * DAY
        if (day0 // DAY + 3) % 7 != 2 or (day0 // DAY // 7) % 2:
            continue
        s = day0 + 16 * 3600
        for ui, (p, u) in enumerate(zip(people, users)):
            if mu <= 0 or (p["works_until_day"] is not None and d >= p["works_until_day"]):
                continue
            local_hour = ((s + utc_offset(p["tz"], d)) % DAY) // 3600
            if not 7 <= local_hour < 19 or random_() < 0.15:
                continue
            append(
                {
                    "id": oid(s),
                    "description": "All-hands",
                    "tagIds": [],
                    "userId": u["id"],
                    "billable": False,
                    "taskId": None,
                    "projectId": internal["id"],
                    "workspaceId": wsid,
                    "timeInterval": {
                        "start": clockify_ts(s),
                        "end": clockify_ts(s + 3600),
                        "duration": iso_duration(3600),
                    },
                    "customFieldValues": [],
                    "type": "REGULAR",
                    "kioskId": None,
                    "isLocked": s < lock_before,
                }
            )

    # keep what starts within the period (UTC)
    first_start, last_start = clockify_ts(p0), clockify_ts(end_ts)
    entries = [e for e in entries if first_start <= e["timeInterval"]["start"] <= last_start]
    # running timers: the last entry of the anchor day of a few users has no end yet
    anchor_start = clockify_ts(end_ts - DAY + 1)
    last_by_user: dict[str, dict] = {}
    for e in entries:
        if e["timeInterval"]["start"] >= anchor_start:
            cur = last_by_user.get(e["userId"])
            if cur is None or e["timeInterval"]["start"] > cur["timeInterval"]["start"]:
                last_by_user[e["userId"]] = e
    for ui in sorted(running_users):
        e = last_by_user.get(users[ui]["id"])
        if e is not None:
            e["timeInterval"] = {"start": e["timeInterval"]["start"], "end": None, "duration": None}
    ws.clockify_time_entries = entries
    ws._entry_by_id = {e["id"]: e for e in entries}
    ws._touch_entries()
