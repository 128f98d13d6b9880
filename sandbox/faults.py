"""Fault injection: make the next requests to an API fail in the ways real networks and APIs do.

Kinds (``FaultInjector.KINDS``):

- ``"429"``: HTTP 429 with a ``Retry-After: <retry_after>`` header (default 1 s; pass
  ``retry_after=None`` to omit the header, as Clockify documents none).
- ``"500"``, ``"502"``, ``"503"``: that status with a JSON error body in the API's own shape.
- ``"slow"``: sleep ``delay`` seconds (default 2.0), then answer normally.
- ``"truncated"``: the real answer, cut. ``mode="incomplete"`` (default): headers announce the
  full ``Content-Length`` but only half the body is sent before the connection is closed (the
  client sees an incomplete read). ``mode="cut"``: a 200 whose ``Content-Length`` matches a body
  cut in half (the client sees invalid JSON).
- ``"reset"``: the connection is closed abruptly (TCP RST) without an answer.
- ``"ratelimited_400"`` / ``"ratelimited_429"``: Linear's RATELIMITED answers (HTTP 400 or 429,
  ``errors[0].extensions.code == "RATELIMITED"``). Linear only.

``add(api, kind, times=1, after=0, **params)`` queues a rule: after letting ``after`` matching
requests through, the next ``times`` requests answer the fault. ``random(api, kind, rate)`` makes
each request fail with probability ``rate`` from a seeded RNG (deterministic sequence).
``path_contains="..."`` limits a rule to request paths containing that text.
Rules are checked in the order they were added; the first one that fires wins.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any, Optional

APIS = ("clockify", "clockify_reports", "linear")
KINDS = ("429", "500", "502", "503", "slow", "truncated", "reset", "ratelimited_400", "ratelimited_429")
_DEFAULT = object()


@dataclass
class Fault:
    """A fault that fired for one request."""

    kind: str
    api: str
    retry_after: Optional[float] = None
    delay: float = 0.0
    mode: str = "incomplete"


@dataclass
class _Rule:
    api: str
    kind: str
    times: Optional[int]  # None = unlimited (random rules)
    after: int
    params: dict
    rate: Optional[float] = None
    rng: Optional[random.Random] = None
    path_contains: Optional[str] = None
    fired: int = 0

    def make(self) -> Fault:
        kind = self.kind
        ra = self.params.get("retry_after", _DEFAULT)
        if ra is _DEFAULT:
            ra = 1 if kind in ("429", "ratelimited_429") else None
        return Fault(
            kind=kind,
            api=self.api,
            retry_after=ra,
            delay=float(self.params.get("delay", 2.0)),
            mode=self.params.get("mode", "incomplete"),
        )


class FaultInjector:
    KINDS = KINDS
    APIS = APIS

    def __init__(self, seed: int = 0):
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._seed = seed
        self._n_random = 0
        self.history: list[tuple[str, str, str]] = []  # (api, kind, path) of every fired fault

    @staticmethod
    def _check(api: str, kind: str, params: dict) -> None:
        if api not in APIS:
            raise ValueError(f"unknown api {api!r}; expected one of {APIS}")
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {KINDS}")
        if kind.startswith("ratelimited_") and api != "linear":
            raise ValueError(f"{kind!r} is Linear's rate-limit answer; use '429' for Clockify")
        unknown = set(params) - {"retry_after", "delay", "mode"}
        if unknown:
            raise ValueError(f"unknown fault parameters {sorted(unknown)}")
        if "mode" in params and params["mode"] not in ("incomplete", "cut"):
            raise ValueError("truncated mode must be 'incomplete' or 'cut'")

    def add(
        self, api: str, kind: str, times: int = 1, after: int = 0, path_contains: Optional[str] = None, **params: Any
    ) -> None:
        """The next ``times`` requests to ``api`` (after ``after`` matching ones went through) fail."""
        kind = str(kind)
        self._check(api, kind, params)
        if times < 1 or after < 0:
            raise ValueError("times must be >= 1 and after >= 0")
        with self._lock:
            self._rules.append(_Rule(api, kind, times, after, params, path_contains=path_contains))

    def random(
        self,
        api: str,
        kind: str,
        rate: float,
        seed: Optional[int] = None,
        path_contains: Optional[str] = None,
        **params: Any,
    ) -> None:
        """Each request to ``api`` fails with probability ``rate`` (seeded, deterministic)."""
        kind = str(kind)
        self._check(api, kind, params)
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        with self._lock:
            self._n_random += 1
            s = seed if seed is not None else f"faults:{self._seed}:{self._n_random}:{api}:{kind}"
            self._rules.append(
                _Rule(api, kind, None, 0, params, rate=rate, rng=random.Random(s), path_contains=path_contains)
            )

    def clear(self, api: Optional[str] = None) -> None:
        with self._lock:
            self._rules = [r for r in self._rules if api is not None and r.api != api]

    def pending(self) -> list[dict]:
        with self._lock:
            return [
                {"api": r.api, "kind": r.kind, "times": r.times, "after": r.after, "rate": r.rate} for r in self._rules
            ]

    def take(self, api: str, path: str = "") -> Optional[Fault]:
        """Called by the server once per request: the fault to answer, if any."""
        with self._lock:
            if not self._rules:
                return None
            for r in list(self._rules):
                if r.api != api or (r.path_contains and r.path_contains not in path):
                    continue
                if r.rate is not None:
                    if r.rng.random() < r.rate:
                        r.fired += 1
                        self.history.append((api, r.kind, path))
                        return r.make()
                    continue
                if r.after > 0:
                    r.after -= 1
                    continue
                r.times -= 1
                r.fired += 1
                if r.times <= 0:
                    self._rules.remove(r)
                self.history.append((api, r.kind, path))
                return r.make()
            return None
