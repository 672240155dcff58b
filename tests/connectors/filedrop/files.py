"""Writing the files distributors send: CSV in the encodings Chinese Excel produces, and .xlsx."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl

HEADER = ["物料编码", "仓库", "数量", "备注"]
COLUMNS = {"物料编码": "sku", "仓库": "location", "数量": "qty"}


def write_csv(
    path: Path, rows: Sequence[Sequence[Any]], encoding: str = "utf-8-sig", age_s: float = 0
) -> Path:
    """A CSV file with ``rows`` (the first is the header), in ``encoding``."""
    text = io.StringIO(newline="")
    csv.writer(text).writerows(rows)
    path.write_bytes(text.getvalue().encode(encoding))
    return aged(path, age_s)


def write_xlsx(path: Path, rows: Sequence[Sequence[Any]], sheet: str = "库存", age_s: float = 0) -> Path:
    """An Excel workbook whose first sheet holds ``rows``."""
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    for row in rows:
        ws.append(list(row))
    book.save(path)
    return aged(path, age_s)


def aged(path: Path, age_s: float) -> Path:
    """Set the file's modification time ``age_s`` seconds back (files are read oldest first)."""
    if age_s:
        stamp = path.stat().st_mtime - age_s
        os.utime(path, (stamp, stamp))
    return path


def report(path: Path) -> list[list[str]]:
    """The rows of an error report (without its header), as Excel would show them."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        header, *rows = list(csv.reader(f))
    assert header == ["row", "column", "value", "problem"]
    return rows
