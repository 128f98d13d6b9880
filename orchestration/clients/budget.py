"""API budgets: the clients pace themselves from what the services announce, and wait for budget instead of
being refused.

- Linear: 5,000 requests and 250,000 complexity points per hour per user, token buckets refilled
  continuously; every answer announces both (`x-ratelimit-{requests,complexity}-{limit,remaining,reset}`).
  `LinearBudget` projects the buckets forward from the last answer and, given a query's complexity
  (computed before it is sent: linear/complexity.py), waits for the refill when the query would not fit.
- Clockify announces nothing. Paid plans allow 50 requests/s per key; Free-plan workspaces 30 requests per
  hour for the whole workspace, and an excess answers 429 without any reset header. `ClockifyBudget` keeps
  a log of the requests it sent, a sliding window like the service's, for the plan configured
  (CLOCKIFY_PLAN) or learned: three 429s in a row without Retry-After on the paid plan mean the Free
  plan's budget (remembered for a week).

A wait longer than the run may still wait (API_BUDGET_WAIT_SECONDS in total per client; `warehouse sync
--wait`: no limit) raises `BudgetExhausted` before anything is sent: the assets commit what they hold in
whole partitions and report when the budget is back.

What a budget knows outlives the run (`BudgetStore`: a small JSON file beside the warehouse, read and written
under an flock), so a run started minutes after another knows what that one spent, and two processes of one
run share one Free-plan window.

Time is the API clock's (`ApiClock`): the machine's, or in tests and benchmarks the sandbox's simulated clock,
on which hours of budget pass in seconds.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import dagster as dg

from orchestration.clients.errors import BudgetExhausted

logger = dg.get_dagster_logger(__name__)

HOUR = 3600.0


class ApiClock(Protocol):
    """Epoch seconds and a sleep on the same clock (the sandbox's `Clock` and `RemoteClock` are ones)."""

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()


def iso(epoch: float) -> str:
    """`2024-07-01 07:00 UTC` for messages."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


class WaitAllowance:
    """Seconds a client may still spend waiting for budget; None: as long as it takes (`--wait`)."""

    def __init__(self, seconds: float | None) -> None:
        self.limit = seconds
        self.spent = 0.0
        self._lock = threading.Lock()

    def take(self, seconds: float) -> bool:
        with self._lock:
            if self.limit is not None and self.spent + seconds > self.limit:
                return False
            self.spent += seconds
            return True


class BudgetStore:
    """Budget state per key ("clockify:<workspace>", "linear:<url>") in one JSON file, or in memory.

    `with store.state(key) as state:` yields the key's dict under an exclusive flock (a separate
    `.lock` file, so the JSON is replaced atomically and a crash never leaves half a file); changes are
    written back on exit. An unreadable file counts as empty: budget state is a pacing hint, never data.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self._memory: dict[str, dict] = {}
        self._lock = threading.Lock()

    @contextmanager
    def state(self, key: str) -> Iterator[dict]:
        with self._lock:
            if self.path is None:
                yield self._memory.setdefault(key, {})
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(f"{self.path}.lock", "a+") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    everything = self._read()
                    state = everything.setdefault(key, {})
                    before = json.dumps(state, sort_keys=True)
                    yield state
                    if json.dumps(state, sort_keys=True) != before:
                        temporary = f"{self.path}.{os.getpid()}.tmp"
                        with open(temporary, "w") as out:
                            json.dump(everything, out)
                        os.replace(temporary, self.path)
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, dict]:
        try:
            with open(self.path) as f:
                data = json.load(f)
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}


class Budget:
    """What both budgets share: reserve before sending, learn from each answer, wait within the allowance."""

    service = ""

    def __init__(self, *, key: str, clock: ApiClock, allowance: WaitAllowance, store: BudgetStore) -> None:
        self.key = key
        self.clock = clock
        self.allowance = allowance
        self.store = store
        self.waited = 0.0  # seconds this budget waited
        self.waits = 0
        self._lock = threading.Lock()

    def acquire(self, cost: float = 1.0, *, reserve: float = 0.0, patient: bool = True) -> float:
        """Reserve one request of `cost` now, waiting for the budget when it is short; the seconds waited.
        Raises BudgetExhausted (nothing sent) when the wait would outlast the allowance.

        A low-priority read (Linear's issue history) passes `reserve`, a share of each bucket's hourly limit
        it must leave untouched for the reads that matter more (the next sync's issues), and `patient=False`:
        it does not spend the run's allowance waiting, and waits only when the allowance is unlimited
        (`warehouse sync --wait`)."""
        waited = 0.0
        while True:
            now = self.clock.time()
            with self._lock, self.store.state(self.key) as state:
                wait, resume_at = self._reserve(state, now, cost, reserve)
            if wait <= 0:
                return waited
            if not patient and self.allowance.limit is not None:
                raise self._exhausted(now + wait, max(resume_at, now + wait), reserve)
            if not self.allowance.take(wait):
                raise self._exhausted(now + wait, max(resume_at, now + wait))
            logger.info(
                "%s: waiting %.1f s for the %s (back in full at %s)", self.service, wait, self.label(), iso(resume_at)
            )
            self.clock.sleep(wait)
            self.waited += wait
            self.waits += 1
            waited += wait

    def observe(self, response: Any) -> None:
        """Learn from an answer (any status)."""

    def explains(self, response: Any, cost: float = 1.0) -> bool:
        """Whether this refused answer (429, RATELIMITED) is this budget running out, as the budget now
        sees it: the retry then leaves the wait to `acquire` instead of backing off blindly."""
        return False

    def label(self) -> str:
        raise NotImplementedError

    def report(self) -> dict[str, Any]:
        """What the run's metadata says about this budget."""
        return {"budget": self.label(), "waited_s": round(self.waited, 1), "waits": self.waits}

    def _reserve(self, state: dict, now: float, cost: float, reserve: float = 0.0) -> tuple[float, float]:
        """(seconds to wait, when the budget is full again); a wait of 0 means reserved now. `reserve`: the
        share of the budget that must stay available after this request (where the budget has shares)."""
        raise NotImplementedError

    def _exhausted(self, next_at: float, resume_at: float, reserve: float | None = None) -> BudgetExhausted:
        limit = self.allowance.limit
        allowed = f"API_BUDGET_WAIT_SECONDS={limit:g}" if limit is not None else "no limit"
        if reserve is not None:  # a low-priority read, which does not wait
            spent = f"down to the {reserve:.0%} it leaves for the other reads"
            why = "this read does not wait for the budget"
        else:
            spent, why = "spent", f"this run may wait no longer ({allowed})"
        return BudgetExhausted(
            f"{self.service}'s budget ({self.label()}) is {spent}: the next request fits at {iso(next_at)}, the "
            f"budget is back in full at {iso(resume_at)}; {why}: it keeps what it loaded and the next run "
            "resumes (or run `warehouse sync --wait`).",
            service=self.service,
            resume_at=resume_at,
            next_at=next_at,
            budget=self.label(),
        )


# --- Clockify ------------------------------------------------------------------------------------

ClockifyPlan = Literal["paid", "free"]
PAID_REQUESTS_PER_SECOND = 50
FREE_REQUESTS_PER_HOUR = 30
# Sends are logged when they leave; the service counts arrivals. A second of margin on the hourly window
# keeps a request sent exactly one window after the oldest from arriving just before that one expires.
FREE_WINDOW_MARGIN = 1.0
LEARN_AFTER_429S = 3  # in a row, without Retry-After: the Free plan's window, not a burst
LEARNED_FOR = 7 * 24 * HOUR


class ClockifyBudget(Budget):
    """A sliding window of requests sent: `per_second` per second on the paid plan (Clockify allows 50 per
    key), `per_hour` (30) per hour for the workspace on the Free plan, whose log is kept in the store."""

    service = "Clockify"

    def __init__(
        self,
        *,
        workspace_id: str,
        plan: ClockifyPlan = "paid",
        per_second: int = 45,
        per_hour: int = FREE_REQUESTS_PER_HOUR,
        clock: ApiClock = SYSTEM_CLOCK,
        allowance: WaitAllowance | None = None,
        store: BudgetStore | None = None,
    ) -> None:
        super().__init__(
            key=f"clockify:{workspace_id}",
            clock=clock,
            allowance=allowance or WaitAllowance(None),
            store=store or BudgetStore(),
        )
        self.configured: ClockifyPlan = plan
        self.per_second = per_second
        self.per_hour = per_hour
        self._recent: deque[float] = deque(maxlen=max(per_second, per_hour) + 1)  # paid: this client's sends
        self._refusals = 0  # 429s in a row without Retry-After

    def plan(self, state: Mapping[str, Any] | None = None) -> ClockifyPlan:
        if self.configured == "free":
            return "free"
        if state is None:
            with self._lock, self.store.state(self.key) as stored:
                state = dict(stored)
        learned = state.get("learned_free_at")
        if learned is not None and self.clock.time() - float(learned) < LEARNED_FOR:
            return "free"
        return "paid"

    def label(self) -> str:
        if self.plan() == "free":
            learned = "" if self.configured == "free" else ", learned from 429s"
            return f"Free plan: {self.per_hour} requests/hour for the workspace{learned}"
        return f"paid plan: {self.per_second} requests/second"

    def _reserve(self, state: dict, now: float, cost: float, reserve: float = 0.0) -> tuple[float, float]:
        # No reserve here: only Linear's history reads with one.
        if self.plan(state) == "free":
            window, limit = HOUR + FREE_WINDOW_MARGIN, self.per_hour
            sent = [t for t in state.get("sent", []) if t > now - window]
        else:
            window, limit = 1.0, self.per_second
            sent = [t for t in self._recent if t > now - window]
        if len(sent) < limit:
            if self.plan(state) == "free":
                state["sent"] = [*sent, now]
            self._recent.append(now)
            return 0.0, now
        if self.plan(state) == "free":
            state["sent"] = sent
        return sent[-limit] + window - now, sent[-1] + window

    def observe(self, response: Any) -> None:
        if getattr(response, "status_code", None) != 429:
            self._refusals = 0

    def explains(self, response: Any, cost: float = 1.0) -> bool:
        if response is None or response.status_code != 429 or response.headers.get("Retry-After"):
            return False  # an explicit Retry-After is a burst limit's hint, not the plan's window
        now = self.clock.time()
        with self._lock, self.store.state(self.key) as state:
            if self.plan(state) == "paid":
                self._refusals += 1
                if self._refusals < LEARN_AFTER_429S:
                    return False
                state["learned_free_at"] = now
                logger.warning(
                    "Clockify answered %d requests in a row with 429 and no Retry-After: pacing for the Free "
                    "plan's %d requests/hour from now on (set CLOCKIFY_PLAN=free to say so up front)",
                    self._refusals, self.per_hour,
                )  # fmt: skip
            # The workspace's window is full with requests this client does not know of (other clients,
            # the Clockify apps): count it full from now.
            state["sent"] = [now] * self.per_hour
        return True


# --- Linear --------------------------------------------------------------------------------------

LINEAR_BUCKETS = ("requests", "complexity")
LINEAR_MARGIN_SECONDS = 0.05  # the announced remaining is rounded down; refill is exact


class LinearBudget(Budget):
    """Linear's two buckets as the last answer announced them, refilled continuously at limit per hour."""

    service = "Linear"

    def __init__(
        self,
        *,
        api_url: str,
        clock: ApiClock = SYSTEM_CLOCK,
        allowance: WaitAllowance | None = None,
        store: BudgetStore | None = None,
    ) -> None:
        super().__init__(
            key=f"linear:{api_url}",
            clock=clock,
            allowance=allowance or WaitAllowance(None),
            store=store or BudgetStore(),
        )
        self.points = 0.0  # complexity this client spent (as the answers' x-complexity say)
        self._short = ""  # the bucket that last made a request wait

    def label(self) -> str:
        with self.store.state(self.key) as state:
            limits = {name: int(state[name]["limit"]) for name in LINEAR_BUCKETS if name in state}
        return (
            f"{limits.get('requests', 5000):,} requests and {limits.get('complexity', 250000):,} complexity "
            "points per hour"
        )

    @staticmethod
    def _available(bucket: Mapping[str, float], now: float) -> float:
        rate = bucket["limit"] / HOUR
        return min(bucket["limit"], bucket["remaining"] + max(0.0, now - bucket["at"]) * rate)

    def _reserve(self, state: dict, now: float, cost: float, reserve: float = 0.0) -> tuple[float, float]:
        waits, full_at = [], now
        needs = {"requests": 1.0, "complexity": cost}
        for name, need in needs.items():
            bucket = state.get(name)
            if not bucket:  # nothing announced yet: the first answer will say
                continue
            rate = bucket["limit"] / HOUR
            available = self._available(bucket, now)
            # What must be there: the request and the reserve it has to leave (never more than the bucket).
            need = min(need + reserve * bucket["limit"], bucket["limit"])
            if available + 1e-9 < need:
                waits.append((need - available) / rate + LINEAR_MARGIN_SECONDS)
            full_at = max(full_at, now + (bucket["limit"] - available) / rate)
        if waits:
            return max(waits), full_at
        for name, need in needs.items():
            if name in state:
                state[name] = {**state[name], "remaining": self._available(state[name], now) - need, "at": now}
        return 0.0, now

    def observe(self, response: Any) -> None:
        headers = getattr(response, "headers", None) or {}
        announced = {}
        for name in LINEAR_BUCKETS:
            limit, remaining = headers.get(f"x-ratelimit-{name}-limit"), headers.get(f"x-ratelimit-{name}-remaining")
            with contextlib.suppress(TypeError, ValueError):
                if limit is not None and remaining is not None and float(limit) > 0:
                    announced[name] = {"limit": float(limit), "remaining": float(remaining)}
        charged = headers.get("x-complexity")
        with contextlib.suppress(TypeError, ValueError):
            if charged is not None and 200 <= response.status_code < 300:
                self.points += float(charged)
        if not announced:
            return
        now = self.clock.time()
        with self._lock, self.store.state(self.key) as state:
            for name, bucket in announced.items():
                state[name] = {**bucket, "at": now}

    def explains(self, response: Any, cost: float = 1.0) -> bool:
        # After `observe` took the refusal's headers: does the next request have to wait for a bucket?
        now = self.clock.time()
        with self._lock, self.store.state(self.key) as state:
            probe = {name: dict(bucket) for name, bucket in state.items() if name in LINEAR_BUCKETS}
            wait, _ = self._reserve(probe, now, cost)
        return wait > 0

    def report(self) -> dict[str, Any]:
        return {**super().report(), "complexity_points": math.ceil(self.points)}
