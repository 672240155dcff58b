"""Cursor values: ordering them and tracking the highest one a read has seen.

Cursor fields hold numbers (ids, epoch seconds), ISO-8601 timestamps or other text, and arrive
as JSON numbers or strings. :func:`cursor_order` orders like with like: numbers numerically
(``"10"`` after ``"9"``), timestamps by instant (``+08:00`` and ``Z`` compare correctly), other
text as text. :class:`MaxCursor` keeps the highest value seen, as the original string, so it can
be sent back to the API unchanged.

>>> seen = MaxCursor(start="9")
>>> seen.update(["10", None, "8"])
>>> seen.value
'10'
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

CursorKey = tuple[int, Decimal | str]


def cursor_order(value: object) -> CursorKey:
    """A sort key for a cursor value: numbers, then timestamps (by instant), then other text."""
    text = str(value).strip()
    if not isinstance(value, bool):
        try:
            number = Decimal(text)
        except InvalidOperation:
            pass
        else:
            if number.is_finite():
                return 0, number
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return 2, text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return 1, Decimal(moment.timestamp()).quantize(Decimal("0.000001"))


class MaxCursor:
    """The highest cursor value seen so far (None until one is seen); never moves backwards."""

    def __init__(self, start: str | None = None) -> None:
        self.value = start
        self._key = cursor_order(start) if start is not None else None

    def update(self, values: Iterable[object]) -> None:
        """Take each non-empty value into account."""
        for value in values:
            if value is None or value == "":
                continue
            key = cursor_order(value)
            if self._key is None or key > self._key:
                self.value, self._key = str(value), key
