"""The file-drop connector: stock lists (CSV, Excel) that distributors drop in a folder.

Each file matching ``pattern`` in ``folder`` is read as raw records for ``stream`` (default
``stock``; its ``kind``, default the stream's name, says what the rows are: ``sync.kinds``), one per
non-blank row, in pages of ``page_size`` rows: cells as text, keyed by ``columns`` (file header
→ record key; headers compare without spaces or BOM, case-insensitively; several headers may
feed one key, the first found wins), plus ``_file``, ``_row`` (as the spreadsheet numbers it)
and ``_sha256`` (the file's). Files are read as streams (:mod:`connectors.filetable`): a file
of 300,000 rows takes the memory of a few pages, not of the file.

.. code-block:: yaml

    kind: file
    folder: /srv/drop/south
    columns: {物料编码: sku, 存货编码: sku, 仓库: location, 数量: qty}
    required: [sku, location, qty]
    numeric: [qty]          # checked; thousands separators dropped: "1,200" -> "1200"
    encoding: auto          # UTF-8 with or without BOM, else GB18030 (a superset of GBK)
    page_size: 5000         # rows per page: one transaction each

A stock field map for it: ``{sku: sku, location: location, on_hand: {path: qty, convert: [decimal]}}``
(a decimal quantity, 12.5 kg, is made whole base units by the SKU binding's ``uom_factor``).

Bad rows are still yielded (the field map quarantines them with its reason); those this connector
can tell (an empty required cell, a non-numeric ``numeric`` cell) are also listed in a report in
``done/`` (``<file>.errors.csv``: row, column header, value, problem; see
:mod:`connectors.dropreport`). A file that cannot be read (undecodable, a broken workbook, a
required column missing) yields nothing and goes to ``failed/`` with a report naming the
problem. Filed names carry the checksum's start.

Entries that are not files to read are skipped, never block the others, and are reported once in
``failed/`` (and logged): a symbolic link to nothing, a link leading out of the folder (links
are resolved and must stay inside it; one that does is read where it leads), a directory or
other non-regular file whose name matches ``pattern``, a file erpsync may not read. They stay
where they are for a person to fix or remove.

Exactly once. A file is its SHA-256: the same bytes, renamed or dropped again, are never imported
twice. The proof of an import is the cursor, the one thing the engine commits with a page
(:mod:`connectors.fileledger`): each page carries the read's number ``seq``, the checksum and,
unless it is the file's last page, the row it ends with. Before a file's first page is handed
out, a ``read`` line is appended (fsynced) to the ledger ``.erpsync-files.jsonl`` in the folder.
The next fetch settles each read against the cursor it is given: pages land in order, so a read
numbered before the cursor's committed (``done``: the file moves to ``done/``), the read the
cursor stops inside goes on after the cursor's row (its earlier pages are not read again), and a
later one never landed (``retry``: the file is read again). Being asked for the next page proves
nothing (the engine reads a page ahead while the previous one lands), so a file moves to
``done/`` at the start of the run after the one that imported it. A crash before a commit means
that page comes again; after it, the cursor is past it; a file whose move failed (open in Excel)
is moved later, unread; a file that vanished half-imported is given up (logged). A run from no
cursor (``--full``) proves nothing and reads unsettled files again (setting the same levels
again).

Errors: ``PermanentError`` for a missing or unwritable folder or a damaged ledger.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Literal

import structlog
from pydantic import Field, model_validator

from connectors.base import Connector, ConnectorSettings, Page, Stream
from connectors.dropreport import Problem, report_entry, write_report
from connectors.fileledger import LEDGER, Ledger, Resume, page_cursor
from connectors.filetable import FileTable, UnreadableFile
from connectors.sftp import SftpSettings, download_new
from core.errors import PermanentError

__all__ = ["LEDGER", "FileDropConnector", "FileDropSettings", "Ledger", "waiting_files"]

log = structlog.get_logger(__name__)


class FileDropSettings(ConnectorSettings):
    folder: Path
    pattern: list[str] = Field(default_factory=lambda: ["*.csv", "*.xlsx"], min_length=1)
    stream: str = "stock"
    kind: str | None = Field(default=None, min_length=1)
    columns: dict[str, str] = Field(min_length=1)
    required: list[str] = Field(default_factory=list)
    numeric: list[str] = Field(default_factory=list)
    primary_key: list[str] = Field(default_factory=lambda: ["sku", "location"], min_length=1)
    encoding: Literal["auto", "utf-8", "gbk", "gb18030"] = "auto"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    sheet: str | int = 0
    header_row: int = Field(default=1, ge=1)
    min_age_s: float = Field(default=10.0, ge=0)
    page_size: int = Field(default=5000, ge=1)
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


@dataclass(frozen=True)
class Waiting:
    """A file to import: its entry in the folder, where it is read from (a link's target), its age."""

    path: Path
    source: Path
    mtime: float


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def filed_name(name: str, sha: str) -> str:
    """The name a file gets in ``done/`` or ``failed/``: the same every time for the same bytes."""
    return f"{Path(name).stem}.{sha[:12]}{Path(name).suffix}"


def move_file(source: Path, target: Path) -> None:
    """Move a file within one file system (atomic: it is in one place or the other)."""
    os.replace(source, target)


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
        kind = self.config.kind or name
        return {name: Stream(name, tuple(self.config.primary_key), cursor_field="_sha256", kind=kind)}

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
            download_new(
                self.config.sftp, self.folder, connector=self.name, stream=stream, report_dir=self.failed_dir
            )
        resume = ledger.settle(cursor)
        pages = self._file_pages(ledger, resume)
        held = next(pages, None)
        while held is not None:
            following = next(pages, None)
            held.last = following is None
            yield held
            held = following

    def _file_pages(self, ledger: Ledger, resume: Resume | None) -> Iterator[Page]:
        hashed = [(w, sha) for w in waiting_files(self.config, self._report_entry) if (sha := self._sha(w))]
        if resume is not None:  # the file the cursor stops inside goes on first, whatever its age
            going_on = resume.sha256
            hashed.sort(key=lambda item: item[1] != going_on)
        this_run: set[str] = set()
        for entry, sha in hashed:
            if resume is not None and sha == resume.sha256:
                this_run.add(sha)
                yield from self._pages(ledger, entry, sha, resume.seq, resume.row)
                resume = None
            elif sha in ledger.done or sha in this_run:  # seen before: filed, never imported twice
                self._file_away(entry.path, self.done_dir, sha)
            else:
                this_run.add(sha)
                yield from self._pages(ledger, entry, sha, None, 0)
        if resume is not None:  # its file is gone: the rows after the cursor cannot be read
            log.warning("file partly imported is gone", connector=self.name, file=resume.file, row=resume.row)
            ledger.append("retry", resume.seq, resume.sha256, resume.file, gone=True)

    def _sha(self, entry: Waiting) -> str | None:
        try:
            return file_sha256(entry.source)
        except OSError as exc:  # not readable after all, or removed meanwhile
            if entry.path.exists():
                self._report_entry(entry.path, f"cannot be read ({exc.strerror or exc})")
            return None

    def _pages(
        self, ledger: Ledger, entry: Waiting, sha: str, seq: int | None, after_row: int
    ) -> Iterator[Page]:
        """The pages of one file from ``after_row`` on; a new read (``seq`` None) is ledgered first."""
        path = entry.path
        try:
            table = FileTable(entry.source, self.config, name=path.name)
            info = table.check(self.done_dir / f"{filed_name(path.name, sha)}.errors.csv")
        except UnreadableFile as exc:
            log.warning("file cannot be read", connector=self.name, file=path.name, problem=str(exc))
            if self._file_away(path, self.failed_dir, sha):
                report = self.failed_dir / f"{filed_name(path.name, sha)}.errors.csv"
                write_report(report, [Problem(None, exc.column, "", str(exc))])
            return
        if seq is None:
            seq = ledger.last_seq + 1
            ledger.append("read", seq, sha, path.name, rows=info.records)
        meta: dict[str, Any] = {"file": path.name, "sha256": sha, "encoding": info.encoding}
        meta["bad_rows"] = info.bad_rows
        records = table.records(info.encoding, after_row)
        page = list(islice(records, self.config.page_size))
        while True:
            following = list(islice(records, self.config.page_size))
            end = None if not following else page[-1]["_row"]
            yield Page([r | {"_sha256": sha} for r in page], cursor=page_cursor(seq, sha, end), meta=meta)
            if not following:
                return
            page = following

    def _file_away(self, path: Path, folder: Path, sha: str) -> bool:
        """Move a file into ``done/`` or ``failed/``; one that cannot move now stays for a later run."""
        try:
            move_file(path, folder / filed_name(path.name, sha))
        except OSError as exc:
            log.warning("file left for the next run", connector=self.name, file=path.name, error=str(exc))
            return False
        return True

    def _report_entry(self, path: Path, problem: str) -> None:
        entry = Problem(None, "", path.name, problem)
        report_entry(self.failed_dir, path.name, path.name, entry, connector=self.name)


def waiting_files(
    settings: FileDropSettings, skip: Callable[[Path, str], None] | None = None
) -> list[Waiting]:
    """The files to import, oldest first (then by name); files still being written wait.

    ``skip(path, problem)`` is told of each entry matching ``pattern`` that cannot be imported.
    """
    now, found, root = time.time(), [], settings.folder.resolve()
    for path in settings.folder.iterdir():
        name = path.name.lower()
        if name.startswith((".", "~$")) or path.name in (settings.done_folder, settings.failed_folder):
            continue  # the ledger, hidden files, Excel's lock files, where files are filed
        if not any(fnmatch.fnmatch(name, pattern.lower()) for pattern in settings.pattern):
            continue
        source, problem = _source(path, root)
        if problem is not None and skip is not None:
            skip(path, problem)
        elif source is not None and now - source.stat().st_mtime >= settings.min_age_s:
            found.append(Waiting(path, source, source.stat().st_mtime))
    return sorted(found, key=lambda w: (w.mtime, w.path.name))


def _source(path: Path, root: Path) -> tuple[Path | None, str | None]:
    """Where the entry ``path`` is read from (a link: where it leads, inside ``root``), else why not.

    (None, None): the entry vanished while being looked at.
    """
    link = path.is_symlink()
    try:
        target = path.resolve(strict=True)
        mode = target.stat().st_mode
    except FileNotFoundError:
        return None, "a symbolic link to nothing (its target is missing)" if link else None
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of links
        return None, f"a symbolic link that cannot be followed ({exc})" if link else f"cannot be read ({exc})"
    if not target.is_relative_to(root):
        return None, "a symbolic link leading out of the drop folder (links must stay inside it)"
    if not stat.S_ISREG(mode):
        return None, "a directory, not a file" if stat.S_ISDIR(mode) else "not a regular file"
    if not os.access(target, os.R_OK):
        return None, "cannot be read (permission denied)"
    return target, None
