"""The cursor cap: a saved cursor never moves past the time its run started, plus an allowed skew.

A cursor is the highest change time a read has seen. One record dated next year (a typo, a
clock set wrong) would move it past every record that arrives afterwards, and an incremental read
from there would never see them. So before a page's cursor is saved, a timestamp later than the
run's start plus ``skew`` is replaced by that limit: the record itself is applied, and the reads
that follow start at the limit (inclusive, so nothing after it is skipped) until real time has
caught up with the record. The engine raises the ``cursor_ahead`` alert meanwhile.

Which cursors are times, and how the capped value is written:

- ISO 8601 text — ``2026-05-01``, ``2026-05-01T10:00:00``, ``2026-05-01 10:00:00.123``, with or
  without an offset (``Z``, ``+08:00``, ``+0800``). A value without an offset is read in ``zone``
  (default UTC; set it to the source's clock, e.g. ``Asia/Shanghai`` for a database that stores
  local time). The capped value keeps the original's shape: same separator, precision and offset.
- Unix times, only when the stream says so (``epoch: seconds`` or ``milliseconds``): a number is
  otherwise an id or a sequence and is never capped.
- Anything else (tokens, ids, a file drop's ``seq:sha``) is saved as it is.

>>> from datetime import UTC, datetime
>>> start = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
>>> cap_cursor("2027-01-01 00:00:00", start, CursorClock()).value
'2026-05-01 08:05:00'
>>> cap_cursor("2026-05-01T08:01:00Z", start, CursorClock()).ahead is None
True
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

DEFAULT_SKEW = timedelta(minutes=5)

_ISO = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:(?P<sep>[T ])(?P<hm>\d{2}:\d{2})(?P<sec>:\d{2})?(?P<frac>[.,]\d+)?"
    r"(?P<zone>Z|[+-]\d{2}(?::?\d{2})?)?)?"
)
_NUMBER = re.compile(r"\d+(?:\.(\d+))?")


@dataclass(frozen=True)
class CursorClock:
    """How a stream's cursor relates to time: allowed skew, zone of naive values, Unix-time unit."""

    skew: timedelta = DEFAULT_SKEW
    zone: str = "UTC"
    epoch: Literal["seconds", "milliseconds"] | None = None


@dataclass(frozen=True)
class Capped:
    """The cursor to save; ``ahead`` is how far the original stood past the run's start (None: kept)."""

    value: str
    ahead: timedelta | None = None
    original: str = ""


def cap_cursor(value: str, started: datetime, clock: CursorClock) -> Capped:
    """``value``, or the run's start plus ``clock.skew`` in ``value``'s own format if it is later."""
    limit = started + clock.skew
    text = value.strip()
    iso = _ISO.fullmatch(text)
    if iso is not None:
        return _cap_iso(value, iso, started, limit, ZoneInfo(clock.zone))
    number = _NUMBER.fullmatch(text)
    if number is not None and clock.epoch is not None:
        scale = 1000 if clock.epoch == "milliseconds" else 1
        try:
            moment = datetime.fromtimestamp(float(text) / scale, UTC)
        except (OverflowError, OSError, ValueError):
            return Capped(value)  # beyond what a date can be: not a time after all
        if moment <= limit:
            return Capped(value)
        digits = len(number.group(1) or "")
        # as many decimals as the original, rounded down: the cap must not pass the limit
        units = math.floor(limit.timestamp() * scale * 10**digits)
        capped = f"{units // 10**digits}.{units % 10**digits:0{digits}d}" if digits else str(units)
        return Capped(capped, moment - started, value)
    return Capped(value)


def _zone(text: str | None, naive: tzinfo) -> tzinfo:
    if text is None:
        return naive
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0)))


def _cap_iso(value: str, iso: re.Match[str], started: datetime, limit: datetime, naive: tzinfo) -> Capped:
    zone = _zone(iso.group("zone"), naive)
    frac = (iso.group("frac") or ".")[1:]
    try:
        moment = datetime.fromisoformat(iso.group("date")).replace(tzinfo=zone)
        if iso.group("hm"):
            hour, minute = iso.group("hm").split(":")
            second = int(iso.group("sec")[1:]) if iso.group("sec") else 0
            micro = int((frac + "000000")[:6]) if frac else 0
            moment = moment.replace(hour=int(hour), minute=int(minute), second=second, microsecond=micro)
    except ValueError:
        return Capped(value)  # 2026-13-45: not a date, so not a time to cap
    if moment <= limit:
        return Capped(value)
    return Capped(_written_like(iso, limit.astimezone(zone)), moment - started, value)


def _written_like(iso: re.Match[str], local: datetime) -> str:
    """``local`` in the shape of the matched original: separator, precision and offset."""
    if not iso.group("hm"):
        return local.date().isoformat()
    text = f"{local:%Y-%m-%d}{iso.group('sep')}{local:%H:%M}"
    if iso.group("sec"):
        text += f":{local:%S}"
    frac = (iso.group("frac") or ".")[1:]
    if frac:  # as many digits as the original (truncated: a cap must not pass its limit)
        text += iso.group("frac")[0] + f"{local.microsecond:06d}{'0' * len(frac)}"[: len(frac)]
    return text + (iso.group("zone") or "")


def move_back(value: str, lag: timedelta) -> str:
    """An ISO 8601 cursor moved back by ``lag``, written in its own shape; other cursors unchanged."""
    iso = _ISO.fullmatch(value.strip())
    if iso is None or not lag:
        return value
    try:
        moment = datetime.fromisoformat(value.strip().replace(",", "."))
    except ValueError:
        return value
    return _written_like(iso, moment - lag)


def describe(capped: Capped, clock: CursorClock) -> str:
    """The alert's words for a capped cursor: what was seen, how far ahead, where the cursor stays."""
    return (
        f"a record is dated {capped.original}, {_human(capped.ahead or timedelta(0))} past the run's start "
        f"(allowed clock skew {_human(clock.skew)}); it was applied, and the cursor stays at {capped.value} "
        f"until then. Check that record or the source's clock (naive times are read as {clock.zone})"
    )


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}".replace(".0", "")
    return f"{seconds}s"
