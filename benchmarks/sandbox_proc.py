"""The sandbox in its own process, so the pipeline's CPU and memory are measured alone.

The child builds the dataset, serves it and answers commands over a pipe: request counts, reset, its own
peak RSS. Nothing in the sandbox needed changing for this (its counters live in the child).
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import time
from typing import Any

from benchmarks.api_clock import sandbox_base_url, sandbox_offset
from sandbox import Sandbox, SandboxConfig
from sandbox.clock import RemoteClock


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _serve(cfg: SandboxConfig, conn) -> None:
    started = time.perf_counter()
    sb = Sandbox(cfg).start()
    summary = sb.workspace.summary()
    conn.send(
        {
            "env": sb.env(),
            "summary": summary,
            # Running timers: the detailed report leaves them out (the sandbox's answer to an open fact).
            "running_time_entries": sum(e["timeInterval"]["end"] is None for e in sb.workspace.clockify_time_entries),
            "build_seconds": time.perf_counter() - started,
            "start_date": cfg.start_date.isoformat(),
            "anchor": cfg.anchor_date.isoformat(),
        }
    )
    try:
        while True:
            command = conn.recv()
            if command == "counts":
                conn.send(sb.request_counts())
            elif command == "reset":
                sb.reset_counts()
                conn.send(True)
            elif command == "rss":
                conn.send(_rss_mib())
            elif command == "stop":
                sb.stop()
                conn.send(None)
                break
    except EOFError:
        pass
    finally:
        sb.stop()


class SandboxProcess:
    """`with SandboxProcess(cfg) as sb: sb.env, sb.counts(), sb.reset()`."""

    def __init__(self, cfg: SandboxConfig):
        self.cfg = cfg
        ctx = mp.get_context("spawn")  # nothing of the parent (pipeline imports) in the child
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(cfg, child), daemon=True, name="bench-sandbox")
        self.info: dict[str, Any] = {}

    def __enter__(self) -> SandboxProcess:
        self._proc.start()
        self.info = self._conn.recv()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self._conn.send("stop")
            self._conn.recv()
        except (OSError, EOFError):
            pass
        self._proc.join(timeout=10)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(timeout=5)

    @property
    def env(self) -> dict[str, str]:
        return self.info["env"]

    def counts(self) -> dict[str, int]:
        self._conn.send("counts")
        return self._conn.recv()

    def reset(self) -> None:
        self._conn.send("reset")
        self._conn.recv()

    def rss_mib(self) -> float:
        self._conn.send("rss")
        return self._conn.recv()

    @property
    def base_url(self) -> str:
        return sandbox_base_url(self.env)

    def clock_offset(self) -> float:
        """Seconds the sandbox's clock runs ahead of the machine's (benchmarks/api_clock.py)."""
        return sandbox_offset(self.base_url)

    def advance(self, seconds: float) -> float:
        """Move the sandbox's clock forward (its budgets refill, a later day begins); the new offset."""
        RemoteClock(self.base_url).advance(seconds)
        return self.clock_offset()
