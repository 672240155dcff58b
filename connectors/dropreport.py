"""Reports of what the file drop could not use, as CSV files a person opens in Excel.

A report is ``<name>.errors.csv`` next to where the file was filed (``done/`` for a file with bad
rows, ``failed/`` for one that could not be read), one line per problem: row (as the sheet
numbers it; empty for the file as a whole), column header, value, problem. It is UTF-8 with a
BOM so that Excel shows Chinese text, and is written by :mod:`core.csvsafe`: a cell value
such as ``=HYPERLINK(...)`` from a distributor's file is shown, never run.

:func:`report_entry` reports an entry of the folder (or of the SFTP server) that is skipped
without being read: a link to nothing or out of the folder, a directory, a file erpsync may not
read, a remote name that is not a plain file name. Such an entry is left where it is (a person
decides), reported once in ``failed/`` and logged as a warning then; while it stays, later runs
pass it by with a debug line only.

Errors: ``OSError`` when the report cannot be written.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import structlog

from core.csvsafe import SafeCsvWriter, csv_writer

log = structlog.get_logger(__name__)

REPORT_HEADER = ("row", "column", "value", "problem")


@dataclass(frozen=True)
class Problem:
    """One problem found: the row (None for the whole file), the column header, the cell, why."""

    row: int | None
    column: str
    value: str
    problem: str


class ReportWriter:
    """A report opened on its first problem: a file without problems gets no report."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._file: IO[str] | None = None
        self._writer: SafeCsvWriter | None = None

    def add(self, problem: Problem) -> None:
        """Append ``problem`` (creating the report, or replacing an older one, on the first)."""
        if self._writer is None:
            self._file = self.path.open("w", encoding="utf-8-sig", newline="")
            self._writer = csv_writer(self._file)
            self._writer.writerow(REPORT_HEADER)
        self._writer.writerow([problem.row, problem.column, problem.value, problem.problem])
        self.count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file, self._writer = None, None

    def discard(self) -> None:
        """Close and delete what was written (the file is read again from the start)."""
        self.close()
        self.path.unlink(missing_ok=True)
        self.count = 0


def write_report(path: Path, problems: Iterable[Problem]) -> None:
    """Write ``problems`` as a report at ``path``."""
    report = ReportWriter(path)
    try:
        for problem in problems:
            report.add(problem)
    finally:
        report.close()


def printable(name: str) -> str:
    """``name`` with control characters written as ``\\xNN``, so a report shows what is there."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in name)


def report_entry(folder: Path, label: str, key: str, problem: Problem, **log_fields: object) -> bool:
    """Report a skipped entry once in ``folder``; True when this call wrote the report.

    ``label`` starts the report's name (a plain file name), ``key`` tells entries apart (the name
    as found): the same entry with the same problem gives the same report.
    """
    digest = hashlib.sha256(f"{key}\0{problem.problem}".encode("utf-8", "surrogateescape")).hexdigest()
    stem, suffix = os.path.splitext(label)
    path = folder / f"{stem}.{digest[:12]}{suffix}.errors.csv"
    if path.exists():
        log.debug("entry skipped", entry=printable(key), problem=problem.problem, **log_fields)
        return False
    write_report(path, [problem])
    log.warning(
        "entry skipped", entry=printable(key), problem=problem.problem, report=path.name, **log_fields
    )
    return True
