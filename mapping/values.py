"""Pure value conversions behind the named converters: numbers, text, yes/no, dates.

Each function takes one raw value and gives the converted value, ``None`` for ``None`` and (for
the typed ones) for blank text, or raises ``ValueError`` saying what is wrong with the value.
:mod:`mapping.converters` names them for field maps and adds their options.

>>> to_int("12.00"), fen_to_yuan(1234)
(12, Decimal('12.34'))
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from zoneinfo import ZoneInfo

__all__ = [
    "fen_to_yuan",
    "is_blank",
    "text_only",
    "to_bool",
    "to_date",
    "to_datetime",
    "to_decimal",
    "to_int",
    "to_number",
    "to_str",
    "whole",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_DIGITS = 40  # "1e999999999" is a number too, but not one worth building
_TRUE = frozenset({"true", "1", "yes", "y", "t", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "f", "off"})


def is_blank(value: Any) -> bool:
    """Return whether ``value`` is ``None`` or blank text."""
    return value is None or (isinstance(value, str) and not value.strip())


def to_number(value: Any) -> int | Decimal:
    """Return an int or a finite Decimal for a number or numeric text."""
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError("not a number") from None
    else:
        raise ValueError(f"expected a number, got {type(value).__name__}")
    if not number.is_finite():
        raise ValueError("not a finite number")
    return number


def whole(number: int | Decimal) -> int:
    """Return ``number`` as an int; ``ValueError`` when it has a fractional part."""
    if isinstance(number, int):
        return number
    if number.adjusted() > _MAX_DIGITS:
        raise ValueError(f"more than {_MAX_DIGITS} digits")
    if number != number.to_integral_value():
        raise ValueError("not a whole number")
    return int(number)


def to_int(value: Any) -> int | None:
    """Return ``value`` as an int; fractional values are an error, not rounded."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass  # blank, "12.0", "1e3" or junk: the slow path tells them apart
    if is_blank(value):
        return None
    return whole(to_number(value))


def to_decimal(value: Any) -> Decimal | None:
    """Return ``value`` as a finite Decimal."""
    if is_blank(value):
        return None
    number = to_number(value)
    return Decimal(number) if isinstance(number, int) else number


def to_str(value: Any) -> str | None:
    """Return the text of a scalar (numbers, booleans, text)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        return str(value)
    raise ValueError(f"expected a scalar, got {type(value).__name__}")


def text_only(method: Callable[[str], str]) -> Callable[[Any], Any]:
    """Return ``method`` applied to text only; other values are an error, ``None`` passes."""

    def convert(value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError(f"expected text, got {type(value).__name__}; put 'str' before it")
        return method(value)

    return convert


def to_bool(value: Any) -> bool | None:
    """Return ``value`` as a bool from a bool, 0/1 or a yes/no word."""
    if isinstance(value, bool):
        return value
    if is_blank(value):
        return None
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError("not a yes/no value (expected true/false, 1/0, yes/no, y/n, on/off)")


def _from_epoch(value: Any, epoch: Literal["s", "ms"]) -> datetime:
    number = to_number(value)
    if epoch == "ms":
        return _EPOCH + timedelta(milliseconds=int(number) if isinstance(number, int) else float(number))
    return _EPOCH + timedelta(seconds=int(number) if isinstance(number, int) else float(number))


def to_datetime(
    value: Any,
    fmt: str | None = None,
    tz: ZoneInfo | None = None,
    epoch: Literal["s", "ms"] | None = None,
) -> datetime | None:
    """Return a datetime parsed from ISO 8601, ``fmt`` or epoch numbers; ``tz`` fills naive ones."""
    if is_blank(value):
        return None
    if epoch is not None:
        parsed = _from_epoch(value, epoch)
    elif isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.strptime(value.strip(), fmt) if fmt else datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"does not match {fmt!r}" if fmt else "not an ISO 8601 datetime") from None
    elif isinstance(value, int | float):
        raise ValueError("a number, not a datetime; set epoch: s or ms")
    else:
        raise ValueError(f"expected a datetime, got {type(value).__name__}")
    if parsed.tzinfo is None and tz is not None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed


def to_date(value: Any, fmt: str | None = None) -> date | None:
    """Return a date from ISO 8601 (a datetime's date part is taken) or ``fmt``."""
    if is_blank(value):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a date, got {type(value).__name__}")
    text = value.strip()
    try:
        if fmt:
            return datetime.strptime(text, fmt).date()
        return date.fromisoformat(text) if len(text) <= 10 else datetime.fromisoformat(text).date()
    except ValueError:
        raise ValueError(f"does not match {fmt!r}" if fmt else "not an ISO 8601 date") from None


def fen_to_yuan(value: Any) -> Decimal | None:
    """Return whole cents (fen) as Decimal yuan: ``1234`` -> ``Decimal("12.34")``."""
    cents = to_int(value)
    return None if cents is None else Decimal(cents).scaleb(-2)
