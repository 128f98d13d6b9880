"""Which slowly changing records a run reads again (issues 15, 16: a daily run's Clockify requests).

Member profiles and each project's DONE tasks cost one request per person or project, and the lists that
change rarely (workspaces, clients, tags, holidays, user groups) one each; all change rarely. A run reads
those never read, and spreads the others over a refresh period (CLOCKIFY_REFRESH_DAYS,
CLOCKIFY_RECORD_REFRESH_DAYS), so that each is read again within it while a daily run asks for about
1/period of them. When each was read is kept by the caller (ops state) as `{id: ISO timestamp}`.

The rule, for `now`, the times of the last reads and a period of P days:
- never read: read now;
- read on a UTC day P or more days before today: read now (the bound, whatever the runs' times);
- else read on its own day of the period: the ids, sorted, take the days 0..P-1 of a cycle of P days evenly
  (the id of rank r of n on day r*P//n), and an id is read when today is its day (UTC day number mod P) and
  it was not read today already. So a daily run reads n/P of them (some days none when n < P), a second run
  the same day none more, and a run after a gap of some days the overdue ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

REFRESH_DAYS = 7


def _day(stamp: str) -> dt.date:
    return dt.datetime.fromisoformat(stamp).date()


def due(
    ids: Iterable[str], read_at: Mapping[str, str], now: dt.datetime, refresh_days: int = REFRESH_DAYS
) -> list[str]:
    """The ids of `ids` to read in this run, in the order of `ids`."""
    wanted = list(dict.fromkeys(ids))
    period = max(1, refresh_days)
    today = now.date()
    slot = {i: rank * period // len(wanted) for rank, i in enumerate(sorted(wanted))}
    todays_slot = today.toordinal() % period

    def read_now(i: str) -> bool:
        if i not in read_at:
            return True
        last = _day(read_at[i])
        if last >= today:
            return False
        return (today - last).days >= period or slot[i] == todays_slot

    return [i for i in wanted if read_now(i)]


def after_reads(
    ids: Iterable[str], read_at: Mapping[str, str], read: Iterable[str], now: dt.datetime
) -> dict[str, str]:
    """The read times to keep: `read` now, the others of `ids` as they were (ids no longer wanted are dropped)."""
    read = set(read)
    stamp = now.isoformat()
    return {i: stamp if i in read else read_at[i] for i in dict.fromkeys(ids) if i in read or i in read_at}
