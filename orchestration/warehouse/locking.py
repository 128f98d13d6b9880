"""One writer at a time for the warehouse, across processes: an `flock` on `<warehouse>.lock`.

DuckDB lets one process write a file, and while it writes no other process may even read it; a second
process that opens the file fails at once ("Could not set lock on file"). Raw loads could retry, but dbt
(a subprocess dagster-dbt starts) cannot. So every process that touches the warehouse takes this lock
first:

- writers (raw loads, `dbt build`) take it exclusively, readers (publishing the marts, the CLI summary)
  shared; `connect_with_lock_wait` takes it for the life of the connection, the dbt asset around the build;
- waiting is bounded (default 600 s) and logged; the error names the process holding it;
- the kernel drops an flock when its process dies, so a crashed or SIGKILLed sync never leaves it held;
- within one thread the lock is re-entrant (a read nested in a write of the same code path); the threads of
  one process take it in turn as processes do (a writer thread excludes the others, readers share), since a
  run's steps run in threads (orchestration/executor.py) and two DuckDB instances of one process writing one
  file would meet no OS lock; a forked child starts without it.

Dagster's pool `duckdb` (dagster.yaml) schedules runs launched from the UI, the schedule and backfills so
that one such run uses the warehouse at a time; this lock is what makes every other combination safe
(two `warehouse sync` commands, a CLI sync during a UI run, steps of one run in parallel threads).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


class WarehouseLockTimeout(RuntimeError):
    """Another process kept the warehouse lock longer than we were willing to wait."""


@dataclass
class _Held:
    fd: int
    exclusive: bool  # the flock's mode
    counts: dict[int, int]  # thread ident -> how many times it holds the lock
    writer: int | None = None  # the thread that holds it exclusively


_state = threading.Lock()
_held: dict[str, _Held] = {}


def _reset_after_fork() -> None:
    # The child shares the parent's open file descriptions: closing its copies leaves the parent's lock alone.
    global _state
    _state = threading.Lock()
    for held in _held.values():
        with contextlib.suppress(OSError):
            os.close(held.fd)
    _held.clear()


os.register_at_fork(after_in_child=_reset_after_fork)


def lock_file(db_path: str | Path) -> Path:
    return Path(os.path.abspath(os.fspath(db_path)) + ".lock")


def _holder(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        return ""
    return f" (held by {text})" if text else ""


def _try_acquire(key: str, exclusive: bool, me: int) -> bool | None:
    """True when thread `me` now holds the lock in (at least) the wanted mode; None: no lock possible."""
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    with _state:
        held = _held.get(key)
        if held is not None:
            if held.writer is not None and held.writer != me:
                return False  # another thread of this process writes
            if held.writer == me or not exclusive:
                held.counts[me] = held.counts.get(me, 0) + 1
                return True
            if any(thread != me for thread in held.counts):
                return False  # other threads read: a writer waits for them, as for another process's readers
            if not held.exclusive:
                try:  # upgrade shared -> exclusive
                    fcntl.flock(held.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return False
                held.exclusive = True
            held.writer = me
            held.counts[me] = held.counts.get(me, 0) + 1
            return True
        try:
            fd = os.open(key, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError:
            if exclusive:
                raise
            return None  # a reader in a read-only directory: nobody can write there either
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        if exclusive:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        _held[key] = _Held(fd=fd, exclusive=exclusive, counts={me: 1}, writer=me if exclusive else None)
        return True


def _release(key: str, me: int) -> None:
    with _state:
        held = _held.get(key)
        if held is None or me not in held.counts:
            return
        held.counts[me] -= 1
        if held.counts[me] == 0:
            del held.counts[me]
            if held.writer == me:
                held.writer = None  # the flock stays exclusive until the last holder lets go
        if not held.counts:
            del _held[key]
            os.close(held.fd)  # drops the flock


def acquire(db_path: str | Path, *, shared: bool = False, timeout_seconds: float = 600.0):
    """Take the lock, waiting up to `timeout_seconds`; returns a release function."""
    path = lock_file(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = str(path)
    deadline = time.monotonic() + timeout_seconds
    delay = 0.02
    logged = False
    me = threading.get_ident()  # released for this thread, whichever thread calls the release
    while True:
        got = _try_acquire(key, exclusive=not shared, me=me)
        if got is None:
            return lambda: None
        if got:
            released = False

            def release() -> None:
                nonlocal released
                if not released:
                    released = True
                    _release(key, me)

            return release
        if time.monotonic() >= deadline:
            raise WarehouseLockTimeout(
                f"The warehouse {db_path} stayed locked by another sync{_holder(path)} for "
                f"{timeout_seconds:.0f} s: wait for it to finish (a crashed process releases the lock by itself)."
            )
        if not logged:
            log.info("Waiting for the warehouse lock %s%s", path, _holder(path))
            logged = True
        time.sleep(delay * (1 + random.random()))
        delay = min(delay * 2, 0.5)


@contextmanager
def warehouse_lock(db_path: str | Path, *, shared: bool = False, timeout_seconds: float = 600.0) -> Iterator[None]:
    """Hold the warehouse lock (exclusive unless `shared`) for the duration of the block."""
    release = acquire(db_path, shared=shared, timeout_seconds=timeout_seconds)
    try:
        yield
    finally:
        release()


class LockedConnection:
    """A DuckDB connection that releases the warehouse lock when closed (or used as a context manager)."""

    def __init__(self, connection, release) -> None:
        self._connection = connection
        self._release = release

    def __getattr__(self, name: str):
        return getattr(self._connection, name)

    def close(self) -> None:
        try:
            self._connection.close()
        finally:
            self._release()

    def __enter__(self) -> LockedConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        release = getattr(self, "_release", None)
        if release is not None:
            release()
