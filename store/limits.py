"""What a column can hold, read from the SQLAlchemy models: text length, integer range, digits.

The store's two backends disagree about values that do not fit: MariaDB refuses a string longer
than its ``VARCHAR`` (and so the whole transaction's page), SQLite keeps it; MariaDB refuses an
integer beyond ``BIGINT``, SQLite's driver raises ``OverflowError``; MariaDB rounds a decimal to
the column's scale, SQLite keeps a float. :func:`column_limit` derives a column's limits from its
type, so a value can be checked *before* the write, the same way on both, and
:meth:`ColumnLimit.problem` says what is wrong in words a person can act on:

>>> from store.models import OrderLine
>>> column_limit(OrderLine.description).problem("x" * 300)
('too_long', '300 characters, more than the 255 order_line.description holds')

Decimals are rounded to the column's scale by the code that writes them (money keeps four
places, rounded once); :meth:`ColumnLimit.rounded` is that rounding, and the check is on the
rounded value: the digits before the point must fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, Numeric, SmallInteger, String
from sqlalchemy.orm import InstrumentedAttribute

#: signed ranges of the MySQL/MariaDB integer types (SQLite holds 64 bits in every INTEGER)
_RANGES = {BigInteger: 63, SmallInteger: 15, Integer: 31}  # subclasses before Integer


@dataclass(frozen=True)
class ColumnLimit:
    """The limits of one column; ``None`` where the type sets none."""

    column: str
    max_length: int | None = None
    whole: bool = False
    minimum: int | None = None
    maximum: int | None = None
    precision: int | None = None
    scale: int | None = None

    def rounded(self, value: Decimal) -> Decimal:
        """``value`` at the column's scale (half to even), as the writer stores it."""
        if self.scale is None or not value.is_finite() or value.adjusted() > (self.precision or 0):
            return value  # too big to matter: the check refuses it
        return value.quantize(Decimal(1).scaleb(-self.scale))

    def problem(self, value: Any) -> tuple[str, str] | None:
        """``(code, what is wrong)`` when ``value`` does not fit the column, else None."""
        if value is None or isinstance(value, bool):
            return None
        if isinstance(value, str):
            return self._text_problem(value)
        if isinstance(value, int | Decimal):
            return self._number_problem(value)
        return None

    def _text_problem(self, value: str) -> tuple[str, str] | None:
        if self.max_length is not None and len(value) > self.max_length:
            return "too_long", f"{len(value)} characters, more than the {self.max_length} {self.column} holds"
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError as exc:
                return (
                    "invalid_text",
                    f"holds {value[exc.start]!r}, which is not valid text (a lone surrogate)",
                )
        return None

    def _number_problem(self, value: int | Decimal) -> tuple[str, str] | None:
        shown = _shorten(value)
        if isinstance(value, Decimal) and not value.is_finite():
            return "out_of_range", f"{shown} is not a finite number"
        if self.whole:
            # a huge exponent is compared, never turned into an int
            if isinstance(value, Decimal) and value.adjusted() <= 40 and value != value.to_integral_value():
                return "not_whole", f"{shown} is not a whole number; {self.column} holds whole numbers"
            if (
                self.minimum is not None
                and self.maximum is not None
                and not self.minimum <= value <= self.maximum
            ):
                return (
                    "out_of_range",
                    f"{shown} is out of range for {self.column} ({self.minimum} to {self.maximum})",
                )
            return None
        if self.precision is not None and self.scale is not None:
            digits = self.precision - self.scale
            number = self.rounded(Decimal(value))
            if number.adjusted() >= digits:
                return "out_of_range", (
                    f"{shown} is out of range for {self.column} "
                    f"(DECIMAL({self.precision},{self.scale}): at most {digits} digits before the point)"
                )
        return None


def _shorten(value: int | Decimal) -> str:
    text = str(value)
    return text if len(text) <= 30 else f"{text[:12]}…({len(text)} digits)"


def column_limit(column: Column[Any] | InstrumentedAttribute[Any]) -> ColumnLimit:
    """The limits of a model column (``OrderLine.description``) or a table column."""
    col = column.expression if isinstance(column, InstrumentedAttribute) else column
    name = f"{col.table.name}.{col.name}"
    kind = col.type
    if isinstance(kind, String):
        return ColumnLimit(name, max_length=kind.length)
    for integer, bits in _RANGES.items():
        if isinstance(kind, integer):
            return ColumnLimit(name, whole=True, minimum=-(2**bits), maximum=2**bits - 1)
    if isinstance(kind, Numeric) and kind.precision is not None:
        return ColumnLimit(name, precision=kind.precision, scale=kind.scale or 0)
    return ColumnLimit(name)
