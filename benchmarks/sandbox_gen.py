"""`python -m benchmarks.sandbox_gen`: how long the sandbox takes to generate the team of 200 (~250k
entries, 20,000 issues) and to answer its first per-user read (which builds the per-user index).

A figure, not a test: tests/test_sandbox.py checks the workspace's shape, never its speed.
"""

from __future__ import annotations

import datetime as dt
import os
import time

from sandbox import SandboxConfig
from sandbox.data import generate_workspace

ANCHOR = dt.date(2024, 6, 30)


def main() -> None:
    cfg = SandboxConfig.team_of_200(anchor=ANCHOR)
    t0 = time.perf_counter()
    ws = generate_workspace(cfg)
    generate = time.perf_counter() - t0
    user = ws.clockify_users[17]["id"]
    t0 = time.perf_counter()
    ws.entries_for_user(user, f"{ANCHOR - dt.timedelta(days=6)}T00:00:00Z", f"{ANCHOR}T23:59:59Z")
    first_read = time.perf_counter() - t0
    print(f"team of 200: {len(ws.clockify_time_entries):,} entries, {len(ws.linear_issues):,} issues")
    print(f"generate_workspace      {generate:6.2f} s")
    print(f"first per-user read     {first_read:6.2f} s  (builds the per-user index)")
    print(f"1-minute load average   {os.getloadavg()[0]:6.2f}")


if __name__ == "__main__":
    main()
