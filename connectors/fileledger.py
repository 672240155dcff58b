"""The file drop's ledger and cursors: which reads of a file landed, and where a read goes on.

The ledger is a JSON-lines file in the drop folder (``.erpsync-files.jsonl``): a ``read`` line
(fsynced) before a file's first page is handed out, then ``done`` or ``retry`` once the cursor
the engine committed tells how that read ended. Reads are numbered (``seq``) in the order their
pages are handed out, and pages land in that order.

A page's cursor says how far the import got, as text that only grows:

- ``<seq>:<sha256>`` — read ``seq`` of the file with that checksum landed whole;
- ``<seq>.<row>:<sha256>`` — it landed up to spreadsheet row ``row`` (a file of many pages;
  ``.`` sorts before ``:``, so the whole-file cursor of a read comes after its partial ones).

:meth:`Ledger.settle` compares the unsettled reads with the committed cursor: reads before it
are ``done``, the one it stops inside is to be continued after its row (:class:`Resume`, the
read stays open), later ones never landed (``retry``: read again). A half-written ledger line
(a crash during the append) is dropped.

Errors: ``PermanentError`` for a damaged ledger line (naming the line).
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import PermanentError

LEDGER = ".erpsync-files.jsonl"
_CURSOR = re.compile(r"(\d{10})(?:\.(\d{10}))?:([0-9a-f]{64})")


def page_cursor(seq: int, sha: str, row: int | None = None) -> str:
    """The cursor of a page of read ``seq``: up to ``row``, or (None) the file's last page."""
    return f"{seq:010d}:{sha}" if row is None else f"{seq:010d}.{row:010d}:{sha}"


@dataclass(frozen=True)
class Resume:
    """A read whose file landed up to ``row`` (the rows after it are still to import)."""

    seq: int
    sha256: str
    file: str
    row: int


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

    def settle(self, cursor: str | None) -> Resume | None:
        """Record each unsettled read as ``done`` or ``retry``; the read to go on with, if any."""
        match = _CURSOR.fullmatch(cursor or "")
        covered, row, sha = (int(match[1]), match[2], match[3]) if match else (0, None, None)
        resume = None
        for seq, entry in sorted(self.unsettled.items()):
            if seq == covered and row is not None and entry["sha256"] == sha:
                resume = Resume(seq, sha, str(entry["file"]), int(row))
                continue  # open until its last page lands
            landed = seq < covered or (row is None and (seq == covered or entry["sha256"] == sha))
            self.append("done" if landed else "retry", seq, entry["sha256"], entry["file"])
        self.last_seq = max(self.last_seq, covered)
        return resume
