"""The file-drop connector: stock lists (CSV, Excel) that distributors drop in a folder.

Each file matching ``pattern`` in ``folder`` is one page of raw records for ``stream``, one per
non-blank row: cells as text, keyed by ``columns`` (file header → record key; headers compare
without spaces or BOM, case-insensitively; several headers may feed one key, the first found
wins), plus ``_file``, ``_row`` (as the spreadsheet numbers it) and ``_sha256`` (the file's).

.. code-block:: yaml

    kind: file
    folder: /srv/drop/south
    columns: {物料编码: sku, 存货编码: sku, 仓库: location, 数量: qty}
    required: [sku, location, qty]
    numeric: [qty]          # checked; thousands separators dropped: "1,200" -> "1200"
    encoding: auto          # UTF-8 with or without BOM, else GB18030 (a superset of GBK)

A stock field map for it: ``{sku: sku, location: location, on_hand: {path: qty, convert: [decimal]}}``
(a decimal quantity, 12.5 kg, is made whole base units by the SKU binding's ``uom_factor``).

Bad rows are still yielded (the field map quarantines them with its reason); those this connector
can tell (an empty required cell, a non-numeric ``numeric`` cell) are also listed in a report in
``done/`` (``<file>.errors.csv``: row, column header, value, problem). A file that cannot be read
(undecodable, a broken workbook, a required column missing) yields nothing and goes to
``failed/`` with a report naming the problem. Filed names carry the checksum's start.

Exactly once. A file is its SHA-256: the same bytes, renamed or dropped again, are never imported
twice. The proof of an import is the cursor, the one thing the engine commits with a page: a
file's page carries ``"<seq>:<sha256>"``, ``seq`` numbering reads (zero-padded: the cursor only
moves forward). Before the page is handed out, a ``read`` line is appended (fsynced) to the ledger
``.erpsync-files.jsonl`` in the folder. The next fetch settles each read against the cursor it is
given: pages land in order, so a read numbered up to the cursor's committed (``done``: the file
moves to ``done/``) and a later one never landed (``retry``: the file is read again). Being asked
for the next page proves nothing (the engine reads a page ahead while the previous one lands), so
a file moves to ``done/`` at the start of the run after the one that imported it. A crash before
the commit means a retry; after it, the cursor is past the file; a file whose move failed (open in
Excel) is moved later, unread; a half-written ledger line is dropped. A run from no cursor
(``--full``) proves nothing and reads unsettled files again (setting the same levels again).

Errors: ``PermanentError`` for a missing or unwritable folder or a damaged ledger.
"""

from __future__ import annotations

import codecs
import csv
import fnmatch
import hashlib
import io
import json
import os
import re
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal
from xml.etree.ElementTree import ParseError

import structlog
from charset_normalizer import from_bytes
from pydantic import Field, model_validator

from connectors.base import Connector, ConnectorSettings, Page, Stream
from connectors.sftp import SftpSettings, download_new
from mapping.errors import PermanentError

log = structlog.get_logger(__name__)

LEDGER = ".erpsync-files.jsonl"
_CURSOR = re.compile(r"(\d{10}):([0-9a-f]{64})")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


class FileDropSettings(ConnectorSettings):
    folder: Path
    pattern: list[str] = Field(default_factory=lambda: ["*.csv", "*.xlsx"], min_length=1)
    stream: str = "stock"
    columns: dict[str, str] = Field(min_length=1)
    required: list[str] = Field(default_factory=list)
    numeric: list[str] = Field(default_factory=list)
    primary_key: list[str] = Field(default_factory=lambda: ["sku", "location"], min_length=1)
    encoding: Literal["auto", "utf-8", "gbk", "gb18030"] = "auto"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    sheet: str | int = 0
    header_row: int = Field(default=1, ge=1)
    min_age_s: float = Field(default=10.0, ge=0)
    done_folder: str = "done"
    failed_folder: str = "failed"
    sftp: SftpSettings | None = None

    @model_validator(mode="after")
    def _keys_are_mapped(self) -> FileDropSettings:
        for name in ("required", "numeric", "primary_key"):
            unknown = sorted(set(getattr(self, name)) - set(self.columns.values()))
            if unknown:
                raise ValueError(f"{name} names {', '.join(unknown)}, which no entry of columns maps to")
        return self


class UnreadableFile(Exception):
    """The file as a whole cannot be imported; ``column`` names a missing header when that is why."""

    def __init__(self, message: str, column: str = "") -> None:
        super().__init__(message)
        self.column = column


@dataclass(frozen=True)
class Problem:
    row: int | None
    column: str
    value: str
    problem: str


@dataclass
class Table:
    records: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    encoding: str | None = None


def decode(data: bytes, encoding: str) -> tuple[str, str]:
    """The file's text and the codec that read it; ``UnreadableFile`` when none does."""
    tries = [encoding.replace("utf-8", "utf-8-sig")] if encoding != "auto" else ["utf-8-sig", "gb18030"]
    if encoding == "auto" and data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        tries.insert(0, "utf-16")
    for codec in tries:
        try:
            return data.decode(codec), codec
        except UnicodeDecodeError:
            continue
    guess = from_bytes(data).best()
    looks = f"it looks like {guess.encoding}" if guess is not None else "it looks like binary data"
    expected = "UTF-8 nor GB18030" if encoding == "auto" else f"{encoding} (encoding: auto may help)"
    raise UnreadableFile(f"the file is neither {expected} ({looks}); save it as CSV UTF-8")


def _csv_rows(path: Path, settings: FileDropSettings) -> tuple[list[list[Any]], str]:
    text, codec = decode(path.read_bytes(), settings.encoding)
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=settings.delimiter)), codec
    except csv.Error as exc:
        raise UnreadableFile(f"not a readable CSV file: {exc}") from None


def _xlsx_rows(path: Path, sheet: str | int) -> list[list[Any]]:
    import openpyxl  # type: ignore[import-untyped]
    from openpyxl.utils.exceptions import InvalidFileException  # type: ignore[import-untyped]

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            names = book.sheetnames
            if (sheet not in names) if isinstance(sheet, str) else not 0 <= sheet < len(names):
                raise UnreadableFile(f"the workbook has no sheet {sheet!r} (its sheets: {', '.join(names)})")
            rows = book[sheet if isinstance(sheet, str) else names[sheet]].iter_rows(values_only=True)
            return [list(row) for row in rows]
        finally:
            book.close()
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, ParseError, EOFError) as exc:
        raise UnreadableFile(f"not a readable Excel workbook ({type(exc).__name__}: {exc})") from None


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


def _find_columns(headers: list[Any], settings: FileDropSettings) -> tuple[dict[str, int], dict[str, str]]:
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


def _check_row(
    cells: dict[str, Any], row: int, headers: dict[str, str], cfg: FileDropSettings
) -> list[Problem]:
    """What is wrong with a row (numeric cells are normalised in place)."""
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


def read_table(path: Path, settings: FileDropSettings) -> Table:
    """The file's records (every non-blank row) and the problems found in them."""
    suffix, codec = path.suffix.lower(), None
    if suffix == ".xls":
        raise UnreadableFile("old Excel .xls files cannot be read: save the sheet as .xlsx or .csv")
    if suffix in (".xlsx", ".xlsm"):
        rows = _xlsx_rows(path, settings.sheet)
    else:
        rows, codec = _csv_rows(path, settings)
    if len(rows) < settings.header_row:
        raise UnreadableFile(f"the file has no header row (row {settings.header_row})")
    index, headers = _find_columns(rows[settings.header_row - 1], settings)
    table = Table(encoding=codec)
    for number, row in enumerate(rows[settings.header_row :], start=settings.header_row + 1):
        cells = {key: cell_text(row[i]) if i < len(row) else None for key, i in index.items()}
        if any(value is not None for value in cells.values()):
            table.problems += _check_row(cells, number, headers, settings)
            table.records.append(cells | {"_file": path.name, "_row": number})
    return table


def write_report(path: Path, problems: Sequence[Problem]) -> None:
    """Write ``problems`` as a CSV that Excel opens with Chinese text intact (UTF-8 with BOM)."""
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["row", "column", "value", "problem"])
        for p in problems:  # a leading = + @ would make Excel run the cell as a formula
            value = "'" + p.value if p.value.startswith(("=", "+", "@")) else p.value
            writer.writerow([p.row or "", p.column, value, p.problem])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def filed_name(name: str, sha: str) -> str:
    """The name a file gets in ``done/`` or ``failed/``: the same every time for the same bytes."""
    return f"{Path(name).stem}.{sha[:12]}{Path(name).suffix}"


def move_file(source: Path, target: Path) -> None:
    """Move a file within one file system (atomic: it is in one place or the other)."""
    os.replace(source, target)


class Ledger:
    """The folder's JSON-lines record of reads (``read``) and how they ended (``done``/``retry``)."""

    def __init__(self, path: Path, connector: str) -> None:
        self.path = path
        self.done: set[str] = set()
        self.unsettled: dict[int, dict[str, Any]] = {}
        self.last_seq = 0
        data = path.read_bytes() if path.exists() else b""
        complete, newline, torn = data.rpartition(b"\n")
        if torn:  # a crash in the middle of an append: that read never handed out its page
            with path.open("r+b") as f:
                f.truncate(len(complete) + len(newline))
        for number, line in enumerate(complete.splitlines(), start=1):
            try:
                self._apply(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise PermanentError(
                    f"line {number} of the ledger {path} is damaged ({exc})",
                    connector=connector,
                    hint="repair or delete that line; without it a file may be imported again",
                ) from None

    def _apply(self, entry: dict[str, Any]) -> None:
        seq = int(entry["seq"])
        if entry["event"] == "read":
            self.unsettled[seq] = entry
            self.last_seq = max(self.last_seq, seq)
            return
        self.unsettled.pop(seq, None)
        if entry["event"] == "done":
            self.done.add(str(entry["sha256"]))

    def append(self, event: str, seq: int, sha: str, file: str, **extra: Any) -> None:
        entry = {"event": event, "seq": seq, "sha256": sha, "file": file, "at": time.time(), **extra}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self._apply(entry)

    def settle(self, cursor: str | None) -> None:
        """Record each unsettled read as ``done`` (the saved cursor covers it) or ``retry``."""
        match = _CURSOR.fullmatch(cursor or "")
        covered, covered_sha = (int(match.group(1)), match.group(2)) if match else (0, None)
        for seq, entry in sorted(self.unsettled.items()):
            landed = seq <= covered or entry["sha256"] == covered_sha
            self.append("done" if landed else "retry", seq, entry["sha256"], entry["file"])
        self.last_seq = max(self.last_seq, covered)


class FileDropConnector(Connector):
    """Imports each dropped file once; see the module docstring for how."""

    kind = "file"
    Settings = FileDropSettings

    def __init__(self, name: str, settings: ConnectorSettings) -> None:
        settings = self.config = FileDropSettings.model_validate(settings)
        super().__init__(name, settings)
        self.folder = settings.folder
        self.done_dir = settings.folder / settings.done_folder
        self.failed_dir = settings.folder / settings.failed_folder

    @property
    def streams(self) -> Mapping[str, Stream]:
        name = self.config.stream  # reads advance file by file: the cursor names the last file landed
        return {name: Stream(name, tuple(self.config.primary_key), cursor_field="_sha256")}

    def check(self) -> None:
        if not self.folder.is_dir() or not os.access(self.folder, os.W_OK):
            raise PermanentError(
                f"the drop folder {self.folder} does not exist or is not writable",
                connector=self.name,
                hint="create the folder and let erpsync write to it (files move to done/ and failed/)",
            )

    def fetch(self, stream: str, cursor: str | None) -> Iterator[Page]:
        self.stream(stream)
        try:
            self.check()
            ledger = Ledger(self.folder / LEDGER, self.name)
        except PermanentError as err:
            err.stream = stream
            raise
        self.done_dir.mkdir(exist_ok=True)
        self.failed_dir.mkdir(exist_ok=True)
        if self.config.sftp is not None:  # new files from the server join those already here
            download_new(self.config.sftp, self.folder, connector=self.name, stream=stream)
        ledger.settle(cursor)
        pages = self._file_pages(ledger)
        held = next(pages, None)
        while held is not None:
            following = next(pages, None)
            held.last = following is None
            yield held
            held = following

    def _file_pages(self, ledger: Ledger) -> Iterator[Page]:
        this_run: set[str] = set()
        for path in waiting_files(self.config):
            sha = file_sha256(path)
            if sha in ledger.done or sha in this_run:  # seen before: filed, never imported twice
                self._file_away(path, self.done_dir, sha)
                continue
            try:
                table = read_table(path, self.config)
            except UnreadableFile as exc:
                log.warning("file cannot be read", connector=self.name, file=path.name, problem=str(exc))
                if self._file_away(path, self.failed_dir, sha):
                    report = self.failed_dir / f"{filed_name(path.name, sha)}.errors.csv"
                    write_report(report, [Problem(None, exc.column, "", str(exc))])
                continue
            this_run.add(sha)
            seq = ledger.last_seq + 1
            ledger.append("read", seq, sha, path.name, rows=len(table.records))
            if table.problems:
                write_report(self.done_dir / f"{filed_name(path.name, sha)}.errors.csv", table.problems)
            meta: dict[str, Any] = {"file": path.name, "sha256": sha, "encoding": table.encoding}
            meta["bad_rows"] = len({p.row for p in table.problems})
            records = [record | {"_sha256": sha} for record in table.records]
            yield Page(records, cursor=f"{seq:010d}:{sha}", meta=meta)

    def _file_away(self, path: Path, folder: Path, sha: str) -> bool:
        """Move a file into ``done/`` or ``failed/``; one that cannot move now stays for a later run."""
        try:
            move_file(path, folder / filed_name(path.name, sha))
        except OSError as exc:
            log.warning("file left for the next run", connector=self.name, file=path.name, error=str(exc))
            return False
        return True


def waiting_files(settings: FileDropSettings) -> list[Path]:
    """The files to import, oldest first (then by name); files still being written wait."""
    now, found = time.time(), []
    for path in settings.folder.iterdir():
        name, mtime = path.name.lower(), path.stat().st_mtime
        if name.startswith((".", "~$")) or not path.is_file() or now - mtime < settings.min_age_s:
            continue  # the ledger, hidden files, Excel's lock files, files still being written
        if any(fnmatch.fnmatch(name, pattern.lower()) for pattern in settings.pattern):
            found.append((mtime, path.name, path))
    return [path for _, _, path in sorted(found)]
