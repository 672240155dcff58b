"""Durations (``"30s"``, ``"5m"``, ``"1h30m"``) and cron lines as written in the config file.

A duration is whole numbers with units, largest first, each unit at most once: ``s`` seconds,
``m`` minutes, ``h`` hours, ``d`` days (``"90s"``, ``"1h30m"``, ``"1d"``, ``"0s"``). A bare
number is refused because it is ambiguous (seconds? minutes?). A cron line is the standard five
fields: minute, hour, day of month, month, day of week.

Errors: ``parse_duration`` and ``check_cron`` raise ``ValueError`` with a message meant for the
person editing the file; the config models turn it into a problem with the file and line.

Example::

    >>> parse_duration("1h30m")
    datetime.timedelta(seconds=5400)
    >>> format_duration(timedelta(minutes=5))
    '5m'
    >>> check_cron("0 6 * * 1-5")
    '0 6 * * 1-5'
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer

_DURATION = re.compile(r"(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_EXAMPLES = "'30s', '5m', '1h30m' or '1d'"
CRON_FIELDS = ("minute", "hour", "day of month", "month", "day of week")


def parse_duration(text: str) -> timedelta:
    """Return the ``timedelta`` written as ``text`` (e.g. ``"90s"``, ``"1h30m"``); ValueError if invalid."""
    cleaned = text.strip()
    if not cleaned:
        raise ValueError(f"a duration must not be empty; write {_EXAMPLES}")
    match = _DURATION.fullmatch(cleaned)
    if match is None or not any(match.groupdict().values()):
        raise ValueError(
            f"invalid duration {cleaned!r}: write whole numbers with the units d, h, m, s "
            f"(largest first, e.g. {_EXAMPLES})"
        )
    seconds = sum(int(amount) * _UNIT_SECONDS[unit] for unit, amount in match.groupdict().items() if amount)
    return timedelta(seconds=seconds)


def duration_input(value: object) -> object:
    """Return ``value`` as a ``timedelta`` if it is duration text (a pydantic ``BeforeValidator``)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(f"a duration needs a unit: write {value}s, {value}m, ... (e.g. {_EXAMPLES})")
    raise ValueError(f"a duration must be text such as {_EXAMPLES}")


def format_duration(value: timedelta) -> str:
    """Return the shortest text ``parse_duration`` reads back as ``value`` (``"0s"`` for zero)."""
    seconds = value.total_seconds()
    if seconds < 0 or seconds != int(seconds):
        raise ValueError(f"cannot write {value!r} as a duration: only whole, non-negative seconds")
    rest = int(seconds)
    parts = []
    for unit, size in _UNIT_SECONDS.items():
        amount, rest = divmod(rest, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts) or "0s"


def check_cron(text: str) -> str:
    """Return ``text`` with single spaces if it is a valid five-field cron line; ValueError if not."""
    fields = text.split()
    if len(fields) != len(CRON_FIELDS):
        raise ValueError(
            f"a cron line has {len(CRON_FIELDS)} fields ({', '.join(CRON_FIELDS)}), "
            f"{text!r} has {len(fields)}; e.g. '0 6 * * 1-5' is 06:00 on weekdays"
        )
    normalised = " ".join(fields)
    try:
        # only validates; the scheduler builds its own trigger with the configured time zone
        CronTrigger.from_crontab(normalised, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"invalid cron line {normalised!r}: {exc}") from exc
    return normalised


#: a length of time in the config file, written like "30s", "5m", "1h30m" or "1d"
Duration = Annotated[
    timedelta,
    BeforeValidator(duration_input),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]


class Section(BaseModel):
    """Base of every config model: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
