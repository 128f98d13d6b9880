"""One clock for the whole sandbox: rate-limit budgets, mutation timestamps (``ws.clock``), the Clockify
changes feed and Linear's trash purge all read it, so a test can let hours of budget (or 30 days of
trash) pass in seconds.

Modes (``SandboxConfig.clock``):

- ``"real"`` (default): the machine's time, plus whatever ``advance()`` added. ``sleep()`` really sleeps.
- ``"simulated"``: starts at ``clock_start`` (default: the day after the data's anchor, 00:00 UTC) and
  runs at real speed from there; ``advance()`` and ``sleep()`` jump forward at once.
- ``"frozen"``: like simulated, but time stands still except for ``advance()`` / ``sleep()``: fully
  deterministic mutation timestamps.

A sandbox in another process is driven over HTTP (not counted as an API request):
``GET /_sandbox/clock`` -> ``{"mode", "now", "epoch"}``; ``POST /_sandbox/clock`` with
``{"advance": seconds}``, ``{"sleep": seconds}`` or ``{"set": "2024-07-01T00:00:00Z"}`` (not in real mode).
:class:`RemoteClock` wraps that with the same methods as :class:`Clock`.
"""

from __future__ import annotations

import datetime as _dt
import json
import threading
import time
import urllib.request
from typing import Optional, Union

UTC = _dt.timezone.utc
MODES = ("real", "simulated", "frozen")


def _epoch(value: Union[str, float, int, _dt.datetime]) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        value = _dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


class Clock:
    """``clock.time()`` epoch seconds, ``clock.now()`` / ``clock()`` an aware UTC datetime."""

    def __init__(self, mode: str = "real", start: Union[None, str, float, _dt.datetime] = None):
        if mode not in MODES:
            raise ValueError(f"clock mode must be one of {MODES}, not {mode!r}")
        if mode != "real" and start is None:
            raise ValueError(f"a {mode} clock needs a start time")
        self.mode = mode
        self._lock = threading.Lock()
        self._offset = 0.0
        self._start = _epoch(start) if start is not None else None
        self._real0 = time.monotonic()

    @classmethod
    def from_config(cls, cfg) -> "Clock":
        if cfg.clock == "real":
            return cls("real")
        start = cfg.clock_start
        if start is None:
            d = cfg.anchor_date + _dt.timedelta(days=1)
            start = _dt.datetime(d.year, d.month, d.day, tzinfo=UTC)
        return cls(cfg.clock, start)

    @property
    def simulated(self) -> bool:
        return self.mode != "real"

    def time(self) -> float:
        with self._lock:
            if self.mode == "real":
                return time.time() + self._offset
            if self.mode == "frozen":
                return self._start + self._offset
            return self._start + self._offset + (time.monotonic() - self._real0)

    def now(self) -> _dt.datetime:
        return _dt.datetime.fromtimestamp(self.time(), UTC)

    __call__ = now  # ``ws.clock()`` returns a datetime, as the old ``ws.clock = utcnow`` did

    def advance(self, seconds: float) -> float:
        """Jump forward (never back); returns the new epoch time."""
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        with self._lock:
            self._offset += float(seconds)
        return self.time()

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time: instantly on a simulated or frozen clock."""
        if seconds <= 0:
            return
        if self.simulated:
            self.advance(seconds)
        else:
            time.sleep(seconds)

    def set(self, when: Union[str, float, _dt.datetime]) -> float:
        """Move a simulated or frozen clock forward to ``when``."""
        if not self.simulated:
            raise ValueError("a real clock cannot be set; use advance()")
        target = _epoch(when)
        now = self.time()
        if target < now:
            raise ValueError("a clock only moves forward")
        return self.advance(target - now)

    def state(self) -> dict:
        t = self.time()
        return {"mode": self.mode, "epoch": t, "now": _iso(t)}


def _iso(epoch: float) -> str:
    return _dt.datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class RemoteClock:
    """The clock of a sandbox in another process, over its uncounted ``/_sandbox/clock`` path."""

    def __init__(self, base_url: str, timeout: float = 10.0):
        self.url = base_url.rstrip("/") + "/_sandbox/clock"
        self.timeout = timeout

    def _call(self, body: Optional[dict] = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url, data=data, method="GET" if body is None else "POST")
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - local sandbox only
            return json.loads(resp.read())

    @property
    def mode(self) -> str:
        return self._call()["mode"]

    def time(self) -> float:
        return float(self._call()["epoch"])

    def now(self) -> _dt.datetime:
        return _dt.datetime.fromtimestamp(self.time(), UTC)

    __call__ = now

    def advance(self, seconds: float) -> float:
        return float(self._call({"advance": seconds})["epoch"])

    def sleep(self, seconds: float) -> None:
        self._call({"sleep": seconds})

    def set(self, when: Union[str, float, _dt.datetime]) -> float:
        text = when if isinstance(when, str) else _iso(_epoch(when))
        return float(self._call({"set": text})["epoch"])
