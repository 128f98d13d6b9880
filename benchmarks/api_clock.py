"""A later simulated day for the benchmarks: the sandbox's clock and the pipeline's API clock moved together.

A user's daily run happens a day after the backfill: Linear's hourly budgets are full again, and what the
pipeline does once a day (the reconcile walk of every issue id, the member profiles' rotation, the Clockify
changes feed) is due again. A benchmark that ran it minutes after the backfill would measure Linear's refill
and skip the daily reads. So the benchmarks move time forward instead of waiting for it:

- the sandbox's clock (sandbox/clock.py; real mode plus an offset) jumps over its uncounted
  `/_sandbox/clock` path, so its rate-limit buckets and its mutation stamps are a day later;
- the pipeline reads time from its API clock (`Settings.clock`, orchestration/clients/budget.py): the same
  offset is given to it, in-process as `SandboxClock` (history_cost, the runner's history catch-up), or, for
  a `warehouse sync` / `dagster` process, by `benchmarks/later_day/sitecustomize.py` (on PYTHONPATH, with
  BENCH_API_CLOCK_OFFSET_S): that process's `SystemClock` is the machine's time plus the offset. Nothing
  else in the process is shifted (Dagster's event log and dbt keep the machine's time, which the benchmark
  measures by).
"""

from __future__ import annotations

import time

from sandbox.clock import RemoteClock

OFFSET_ENV = "BENCH_API_CLOCK_OFFSET_S"
DAY = 86_400.0
HOUR = 3_600.0


def sandbox_base_url(env: dict[str, str]) -> str:
    """The sandbox's root URL from the pipeline environment it hands out (LINEAR_API_URL = <root>/graphql)."""
    return env["LINEAR_API_URL"].rsplit("/graphql", 1)[0]


def sandbox_offset(base_url: str) -> float:
    """Seconds the sandbox's clock runs ahead of the machine's (0 until something advanced it)."""
    return RemoteClock(base_url).time() - time.time()


class SandboxClock:
    """An API clock (budget.ApiClock) on the sandbox's time: the machine's time plus the sandbox's offset, read
    once (no request per reading); `sleep` and `advance` move the sandbox and this clock forward together, at
    once, so a run that waits for Linear's refill (`--wait`) waits no real time."""

    def __init__(self, base_url: str) -> None:
        self.remote = RemoteClock(base_url)
        self.offset = sandbox_offset(base_url)

    def time(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        if seconds > 0:
            self.remote.advance(seconds)
            self.offset += seconds

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)
