"""Quarantine: records that could not be used, kept with the reason so a person can act.

Within a page's transaction, ``quarantine_records`` upserts one row per (connector, stream,
record key): a record seen again bumps ``seen_count`` and refreshes reason and payload instead
of adding a row; ``resolve_records`` closes open rows whose record has now landed; ``discard``
marks records a person decided need no action. The records a person lists and reads are read
by ``sync.queries``.
Payloads are stored as received (connector payloads carry no credentials; the HTTP layer keeps
headers and tokens out of them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from core.clock import utcnow
from core.errors import RecordError
from core.excerpt import shorten
from core.redact import redact_text
from store.batching import execute_in
from store.models import Quarantine
from store.upsert import NEW, increment, upsert

MAX_REASON = 2000


@dataclass(frozen=True)
class Refused:
    """One refused record: its key, the raw payload and why."""

    key: str
    payload: dict[str, Any]
    error: RecordError


def stored_key(key: str) -> str:
    """A record's key as quarantine keeps it: 191 characters at most, broken text escaped."""
    if not key.isascii():
        key = key.encode("utf-8", "backslashreplace").decode()  # a lone surrogate cannot be stored
    return key[:191]


def quarantine_records(conn: Connection, connector: str, stream: str, refused: Sequence[Refused]) -> None:
    """Record each refused record once per key (bumping ``seen_count`` when seen again)."""
    now = utcnow()
    latest = {r.key: r for r in refused}  # one row per key even if a page repeats it
    rows = [
        {
            "connector": connector,
            "stream": stream,
            "record_key": stored_key(key),
            "reason_code": r.error.code,
            "reason": shorten(redact_text(str(r.error)), MAX_REASON),
            "payload": r.payload,
            "status": "open",
            "seen_count": 1,
            "first_seen": now,
            "last_seen": now,
        }
        for key, r in latest.items()
    ]
    upsert(
        conn,
        Quarantine,
        rows,
        key=["connector", "stream", "record_key"],
        update={
            "reason_code": NEW,
            "reason": NEW,
            "payload": NEW,
            "status": NEW,
            "last_seen": NEW,
            "seen_count": increment(Quarantine.seen_count),
        },
    )


def resolve_records(conn: Connection, connector: str, stream: str, keys: Sequence[str]) -> None:
    """Mark open quarantine rows of these keys resolved: the record has landed since."""
    if not keys:
        return
    any_open = conn.execute(
        select(Quarantine.id)
        .where(Quarantine.connector == connector, Quarantine.stream == stream, Quarantine.status == "open")
        .limit(1)
    ).first()
    if any_open is None:
        return  # the usual case: nothing to resolve, no need to send the page's keys
    now = utcnow()
    execute_in(
        conn,
        lambda part: (
            update(Quarantine)
            .where(
                Quarantine.connector == connector,
                Quarantine.stream == stream,
                Quarantine.status == "open",
                Quarantine.record_key.in_(part),
            )
            .values(status="resolved", last_seen=now)
        ),
        [stored_key(k) for k in keys],
    )


def discard(conn: Connection, ids: Sequence[int]) -> int:
    """Mark records as discarded (a person decided they need no action); returns how many."""
    result = conn.execute(
        update(Quarantine)
        .where(Quarantine.id.in_(ids), Quarantine.status == "open")
        .values(status="discarded")
    )
    return int(result.rowcount)
