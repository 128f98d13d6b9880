"""Which slowly changing records a run reads again (issues 15, 16: a daily run within 40 requests).

Member profiles and each project's DONE tasks cost one request per person or project, and change rarely:
a run reads those never read, plus a share of the stalest, so that every one is read again within
REFRESH_DAYS while a daily run asks for about 1/REFRESH_DAYS of them. When each was read is kept by the
caller (ops state) as `{id: ISO timestamp}`.

The rule, for `now` and the times of the last reads:
- never read: read now;
- read on a UTC day REFRESH_DAYS or more before today: read now (the bound, whatever the runs' times);
- then the stalest (oldest read first, ties by id) up to ceil(known / REFRESH_DAYS) reads a UTC day, the
  reads already made today included: a daily run reads a seventh, a second run the same day none more,
  and a run after a gap of some days the overdue ones.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping

REFRESH_DAYS = 7


def _day(stamp: str) -> dt.date:
    return dt.datetime.fromisoformat(stamp).date()


def due(
    ids: Iterable[str], read_at: Mapping[str, str], now: dt.datetime, refresh_days: int = REFRESH_DAYS
) -> list[str]:
    """The ids of `ids` to read in this run, in the order of `ids`."""
    wanted = list(dict.fromkeys(ids))
    known = {i: _day(read_at[i]) for i in wanted if i in read_at}
    today = now.date()
    picked = {i for i in wanted if i not in known}
    overdue = {i for i, day in known.items() if (today - day).days >= refresh_days}
    picked |= overdue
    share = math.ceil(len(known) / refresh_days) - sum(day == today for day in known.values()) - len(overdue)
    stalest = sorted((i for i in known if i not in overdue), key=lambda i: (dt.datetime.fromisoformat(read_at[i]), i))
    picked |= set(stalest[: max(0, share)])
    return [i for i in wanted if i in picked]


def after_reads(
    ids: Iterable[str], read_at: Mapping[str, str], read: Iterable[str], now: dt.datetime
) -> dict[str, str]:
    """The read times to keep: `read` now, the others of `ids` as they were (ids no longer wanted are dropped)."""
    read = set(read)
    stamp = now.isoformat()
    return {i: stamp if i in read else read_at[i] for i in dict.fromkeys(ids) if i in read or i in read_at}
