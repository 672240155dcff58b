"""Quarantine: records that could not be used, kept with the reason so a person can act.

Within a page's transaction, ``quarantine_records`` upserts one row per (connector, stream,
record key): a record seen again bumps ``seen_count`` and refreshes reason and payload instead
of adding a row; ``resolve_records`` closes open rows whose record has now landed.
Payloads are stored as received (connector payloads carry no credentials; the HTTP layer keeps
headers and tokens out of them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, update

from mapping.errors import RecordError
from mapping.records import utcnow
from store.models import Quarantine
from store.upsert import NEW, increment, upsert

MAX_REASON = 2000


@dataclass(frozen=True)
class Refused:
    """One refused record: its key, the raw payload and why."""

    key: str
    payload: dict[str, Any]
    error: RecordError


def quarantine_records(conn: Connection, connector: str, stream: str, refused: Sequence[Refused]) -> None:
    """Record each refused record once per key (bumping ``seen_count`` when seen again)."""
    now = utcnow()
    latest = {r.key: r for r in refused}  # one row per key even if a page repeats it
    rows = [
        {
            "connector": connector,
            "stream": stream,
            "record_key": key[:191],
            "reason_code": r.error.code,
            "reason": str(r.error)[:MAX_REASON],
            "payload": r.payload,
            "status": "open",
            "seen_count": 1,
            "first_seen": now,
            "last_seen": now,
        }
        for key, r in latest.items()
    ]
    table = Quarantine.__table__
    upsert(
        conn,
        table,  # type: ignore[arg-type]
        rows,
        key=["connector", "stream", "record_key"],
        update={
            "reason_code": NEW,
            "reason": NEW,
            "payload": NEW,
            "status": NEW,
            "last_seen": NEW,
            "seen_count": increment(table.c.seen_count),  # type: ignore[attr-defined]
        },
    )


def resolve_records(conn: Connection, connector: str, stream: str, keys: Sequence[str]) -> None:
    """Mark open quarantine rows of these keys resolved: the record has landed since."""
    if not keys:
        return
    conn.execute(
        update(Quarantine)
        .where(
            Quarantine.connector == connector,
            Quarantine.stream == stream,
            Quarantine.status == "open",
            Quarantine.record_key.in_([k[:191] for k in keys]),
        )
        .values(status="resolved", last_seen=utcnow())
    )
