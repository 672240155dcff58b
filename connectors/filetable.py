"""Reading one dropped stock list, CSV or Excel, row by row in memory that does not grow with it.

:class:`FileTable` reads a file twice, each time as a stream of rows: :meth:`FileTable.check`
reads it through once, finds the encoding and the header's columns, checks each row (an empty
required cell, a non-numeric ``numeric`` cell) and writes the problems to a report as they come;
it raises :class:`UnreadableFile` when the file as a whole cannot be imported (undecodable, a
broken workbook, a broken CSV line, a required column missing) — before any record was handed
out, so such a file yields nothing. :meth:`FileTable.records` then yields the records (each
non-blank row after the header: cells as text keyed by record key, plus ``_file`` and ``_row``
as the spreadsheet numbers it), optionally only those after a row, which is how an interrupted
import goes on where it stopped. Neither holds more than one row.

CSV files are read through an incremental decoder (UTF-8 with or without BOM, else GB18030 with
``encoding: auto``; UTF-16 when it starts with its BOM); Excel workbooks with openpyxl's
read-only mode, which parses the sheet as it goes.

>>> table = FileTable(Path("south.csv"), settings)
>>> info = table.check(Path("done/south.errors.csv"))      # UnreadableFile, or encoding and counts
>>> for record in table.records(info.encoding, after_row=5000): ...
"""

from __future__ import annotations

import codecs
import csv
import re
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol
from xml.etree.ElementTree import ParseError

from charset_normalizer import from_bytes

from connectors.dropreport import Problem, ReportWriter

_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_GUESS_BYTES = 64 * 1024  # enough to tell what an undecodable file looks like


class TableSettings(Protocol):
    """What reading a table needs of the file connector's settings."""

    @property
    def columns(self) -> Mapping[str, str]: ...
    @property
    def required(self) -> Sequence[str]: ...
    @property
    def numeric(self) -> Sequence[str]: ...
    @property
    def encoding(self) -> str: ...
    @property
    def delimiter(self) -> str: ...
    @property
    def sheet(self) -> str | int: ...
    @property
    def header_row(self) -> int: ...


class UnreadableFile(Exception):
    """The file as a whole cannot be imported; ``column`` names a missing header when that is why."""

    def __init__(self, message: str, column: str = "") -> None:
        super().__init__(message)
        self.column = column


@dataclass(frozen=True)
class TableInfo:
    """What :meth:`FileTable.check` found: the codec of a CSV (None for Excel) and the counts."""

    encoding: str | None
    records: int
    bad_rows: int


def cell_text(value: Any) -> str | None:
    """A cell as the text the sheet shows (None when blank): ``12.0`` -> ``"12"``."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, float):
        value = f"{value:.15g}"
    elif isinstance(value, date):  # a datetime too
        value = value.isoformat()
    return None if value is None else (str(value).strip() or None)


def _header_key(cell: Any) -> str:
    return re.sub(r"[\s\ufeff]+", "", str(cell or "")).casefold()


def find_columns(headers: Sequence[Any], settings: TableSettings) -> tuple[dict[str, int], dict[str, str]]:
    """Column index and header text of each record key found; ``UnreadableFile`` if a required one is not."""
    keys = [_header_key(cell) for cell in headers]
    index: dict[str, int] = {}
    for header, key in settings.columns.items():
        if key not in index and _header_key(header) in keys:
            index[key] = keys.index(_header_key(header))
    for key in settings.required:
        if key not in index:
            names = " or ".join(h for h, k in settings.columns.items() if k == key)
            raise UnreadableFile(f"missing column {names} (for {key}) in row {settings.header_row}", names)
    return index, {key: str(headers[i]).strip() for key, i in index.items()}


def check_row(cells: dict[str, Any], row: int, headers: dict[str, str], cfg: TableSettings) -> list[Problem]:
    """What is wrong with a row (numeric cells are normalised in place: ``"1,200"`` -> ``"1200"``)."""
    problems = [
        Problem(row, headers[k], "", "required value is empty") for k in cfg.required if cells[k] is None
    ]
    for key in cfg.numeric:
        value = cells.get(key)
        number = re.sub(r"[,\s]", "", value or "")
        if value is not None and _NUMBER.fullmatch(number):
            cells[key] = number
        elif value is not None:
            problems.append(Problem(row, headers[key], value, "not a number"))
    return problems


class FileTable:
    """One CSV or Excel file read as records (see the module docstring)."""

    def __init__(self, path: Path, settings: TableSettings, name: str | None = None) -> None:
        self.path = path
        self.settings = settings
        self.name = name or path.name  # the name in the folder (``path`` may be where a link leads)
        self.excel = path.suffix.lower() in (".xlsx", ".xlsm")
        if path.suffix.lower() == ".xls":
            raise UnreadableFile("old Excel .xls files cannot be read: save the sheet as .xlsx or .csv")

    def check(self, report_path: Path) -> TableInfo:
        """Read the file through once: its encoding and counts; problems go to ``report_path``."""
        report = ReportWriter(report_path)
        try:
            for codec in [None] if self.excel else self._codecs():
                try:
                    return self._check(codec, report)
                except UnicodeDecodeError:
                    report.discard()
            raise self._undecodable()
        except BaseException:
            report.discard()
            raise
        finally:
            report.close()

    def _check(self, codec: str | None, report: ReportWriter) -> TableInfo:
        records = bad_rows = 0
        for _, problems in self._records(codec, 0):
            records += 1
            bad_rows += bool(problems)
            for problem in problems:
                report.add(problem)
        return TableInfo(codec, records, bad_rows)

    def records(self, codec: str | None, after_row: int = 0) -> Iterator[dict[str, Any]]:
        """The records of rows numbered after ``after_row``, read as they are asked for."""
        for record, _ in self._records(codec, after_row):
            yield record

    def _records(self, codec: str | None, after_row: int) -> Iterator[tuple[dict[str, Any], list[Problem]]]:
        cfg, header = self.settings, None
        for number, row in self._rows(codec):
            if number == cfg.header_row:
                header = find_columns(row, cfg)
            if number <= max(cfg.header_row, after_row) or header is None:
                continue
            index, texts = header
            cells = {key: cell_text(row[i]) if i < len(row) else None for key, i in index.items()}
            if any(value is not None for value in cells.values()):
                problems = check_row(cells, number, texts, cfg)
                yield cells | {"_file": self.name, "_row": number}, problems
        if header is None:
            raise UnreadableFile(f"the file has no header row (row {cfg.header_row})")

    def _rows(self, codec: str | None) -> Iterator[tuple[int, Sequence[Any]]]:
        if codec is None:
            return _xlsx_rows(self.path, self.settings.sheet)
        return _csv_rows(self.path, codec, self.settings.delimiter)

    def _codecs(self) -> list[str]:
        encoding = self.settings.encoding
        if encoding != "auto":
            return [encoding.replace("utf-8", "utf-8-sig")]
        with self.path.open("rb") as f:
            start = f.read(2)
        utf16 = start in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
        return ["utf-16", "utf-8-sig", "gb18030"] if utf16 else ["utf-8-sig", "gb18030"]

    def _undecodable(self) -> UnreadableFile:
        with self.path.open("rb") as f:
            guess = from_bytes(f.read(_GUESS_BYTES)).best()
        looks = f"it looks like {guess.encoding}" if guess is not None else "it looks like binary data"
        encoding = self.settings.encoding
        expected = "UTF-8 nor GB18030" if encoding == "auto" else f"{encoding} (encoding: auto may help)"
        return UnreadableFile(f"the file is neither {expected} ({looks}); save it as CSV UTF-8")


def _csv_rows(path: Path, codec: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    with path.open(encoding=codec, newline="") as text:
        reader = csv.reader(text, delimiter=delimiter)
        try:
            yield from enumerate(reader, start=1)
        except csv.Error as exc:
            raise UnreadableFile(f"not a readable CSV file: {exc} (line {reader.line_num})") from None


def _xlsx_rows(path: Path, sheet: str | int) -> Iterator[tuple[int, tuple[Any, ...]]]:
    import openpyxl  # type: ignore[import-untyped]
    from openpyxl.utils.exceptions import InvalidFileException  # type: ignore[import-untyped]

    broken = (
        zipfile.BadZipFile,
        InvalidFileException,
        KeyError,
        ValueError,
        ParseError,
        EOFError,
        zlib.error,
    )
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            names = book.sheetnames
            if (sheet not in names) if isinstance(sheet, str) else not 0 <= sheet < len(names):
                raise UnreadableFile(f"the workbook has no sheet {sheet!r} (its sheets: {', '.join(names)})")
            rows = book[sheet if isinstance(sheet, str) else names[sheet]].iter_rows(values_only=True)
            yield from enumerate(rows, start=1)
        finally:
            book.close()
    except broken as exc:
        raise UnreadableFile(f"not a readable Excel workbook ({type(exc).__name__}: {exc})") from None
