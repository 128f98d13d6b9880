"""Rate-limit budgets on the sandbox clock: Linear's continuously refilled buckets and Clockify's windows."""

from __future__ import annotations

import collections
import math
import threading
from typing import Callable


class TokenBucket:
    """``capacity`` tokens, refilled continuously at ``capacity / period`` per second (Linear's budgets)."""

    def __init__(self, capacity: float, period_s: float, now: Callable[[], float]):
        self.capacity = float(capacity)
        self.rate = self.capacity / float(period_s)
        self._now = now
        self._tokens = self.capacity
        self._at = now()
        self._lock = threading.Lock()

    def _refill(self, t: float) -> None:
        if t > self._at:
            self._tokens = min(self.capacity, self._tokens + (t - self._at) * self.rate)
            self._at = t

    def remaining(self) -> float:
        with self._lock:
            self._refill(self._now())
            return self._tokens

    def take(self, amount: float, force: bool = False) -> bool:
        """Take ``amount`` tokens if there are that many (a refused request costs nothing); ``force``
        takes them anyway, down to zero (budgets reported but not enforced)."""
        with self._lock:
            self._refill(self._now())
            if amount > self._tokens + 1e-9:
                if not force:
                    return False
                self._tokens = 0.0
                return True
            self._tokens -= amount
            return True

    def reset_epoch(self) -> float:
        """When the bucket is full again (epoch seconds)."""
        with self._lock:
            t = self._now()
            self._refill(t)
            return t + (self.capacity - self._tokens) / self.rate

    def headers(self, prefix: str) -> dict:
        with self._lock:
            t = self._now()
            self._refill(t)
            remaining, reset = self._tokens, t + (self.capacity - self._tokens) / self.rate
        return {
            f"{prefix}-limit": int(self.capacity),
            f"{prefix}-remaining": max(0, int(math.floor(remaining + 1e-9))),
            f"{prefix}-reset": int(reset * 1000),
        }


class SlidingWindow:
    """At most ``limit`` requests per key in any ``window_s`` seconds (Clockify's budgets)."""

    def __init__(self, limit: int, window_s: float, now: Callable[[], float]):
        self.limit, self.window = limit, float(window_s)
        self._now = now
        self._hits: dict[str, collections.deque] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> bool:
        """Count one request for ``key`` if the window allows it; False (not counted) if not."""
        with self._lock:
            t = self._now()
            q = self._hits.setdefault(key, collections.deque())
            while q and q[0] <= t - self.window:
                q.popleft()
            if len(q) >= self.limit:
                return False
            q.append(t)
            return True
