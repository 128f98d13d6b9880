"""Timestamp helpers shared by the generator and the HTTP layer.

Clockify timestamps are ``YYYY-MM-DDTHH:MM:SSZ`` (seconds, UTC); Linear's are
``YYYY-MM-DDTHH:MM:SS.mmmZ`` (milliseconds, UTC). Within the sandbox every stored
timestamp uses exactly one of these two fixed-width formats, so plain string
comparison orders them chronologically (used for bisecting and filtering).
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Optional, Union

UTC = _dt.timezone.utc
EPOCH = _dt.datetime(1970, 1, 1, tzinfo=UTC)

_day_cache: dict[int, str] = {}


def _day_str(day: int) -> str:
    s = _day_cache.get(day)
    if s is None:
        s = (_dt.date(1970, 1, 1) + _dt.timedelta(days=day)).isoformat()
        _day_cache[day] = s
    return s


_tod: list[str] = []


def _time_of_day_table() -> list[str]:
    if not _tod:
        _tod.extend(f"T{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60))
    return _tod


def clockify_ts(epoch: int) -> str:
    """Epoch seconds -> ``2024-03-05T09:30:00Z``."""
    day, rem = divmod(int(epoch), 86400)
    s = _day_cache.get(day)
    if s is None:
        s = _day_str(day)
    return s + (_tod or _time_of_day_table())[rem]


def linear_ts(epoch_ms: int) -> str:
    """Epoch milliseconds -> ``2024-03-05T09:30:00.000Z``."""
    sec, ms = divmod(int(epoch_ms), 1000)
    day, rem = divmod(sec, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    return f"{_day_str(day)}T{h:02d}:{m:02d}:{s:02d}.{ms:03d}Z"


def iso_duration(seconds: int) -> str:
    """Seconds -> ISO-8601 duration as Clockify writes it (``PT1H30M``, ``PT0S``)."""
    seconds = int(seconds)
    if seconds <= 0:
        return "PT0S"
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    out = "PT"
    if h:
        out += f"{h}H"
    if m:
        out += f"{m}M"
    if s:
        out += f"{s}S"
    return out


_DUR_RE = re.compile(
    r"^(?P<sign>[-+])?P(?:(?P<y>\d+(?:\.\d+)?)Y)?(?:(?P<mo>\d+(?:\.\d+)?)M)?(?:(?P<w>\d+(?:\.\d+)?)W)?"
    r"(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<mi>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_iso_duration(text: str) -> Optional[float]:
    """ISO-8601 duration -> seconds (years = 365 d, months = 30 d); None if not a duration."""
    m = _DUR_RE.match(text.strip())
    if not m or text.strip() in ("P", "-P", "+P", "PT"):
        return None
    g = {k: float(v) if v else 0.0 for k, v in m.groupdict().items() if k != "sign"}
    secs = (g["y"] * 365 + g["mo"] * 30 + g["w"] * 7 + g["d"]) * 86400 + g["h"] * 3600 + g["mi"] * 60 + g["s"]
    return -secs if m.group("sign") == "-" else secs


def parse_dt(value: Union[str, _dt.datetime, _dt.date]) -> _dt.datetime:
    """Parse an ISO-8601 timestamp (``Z``, offsets, fractions, date-only) into an aware UTC datetime."""
    if isinstance(value, _dt.datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
    text = str(value).strip()
    if not text:
        raise ValueError("empty timestamp")
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    d = _dt.datetime.fromisoformat(text)
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)


def to_epoch(value: Union[str, _dt.datetime, _dt.date]) -> float:
    return (parse_dt(value) - EPOCH).total_seconds()


def to_clockify_ts(value: Union[str, _dt.datetime, _dt.date]) -> str:
    return clockify_ts(int(to_epoch(value) // 1))


def to_linear_ts(value: Union[str, _dt.datetime, _dt.date]) -> str:
    return linear_ts(int(round(to_epoch(value) * 1000)))


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(UTC)
