"""Leases: at most one worker runs a (connector, stream) at a time, across processes and hosts.

A lease row per stream holds the ``owner``, an ``expires_at`` and a ``fence`` counter that rises
each time the lease changes hands. ``acquire`` takes the row lock (``SELECT … FOR UPDATE``; on
SQLite the ``BEGIN IMMEDIATE`` of every transaction serialises writers) and succeeds when the
lease is free, expired or already ours. Every page commit calls ``check_fence`` inside its own
transaction: it locks the row, refuses with ``LeaseLost`` if the fence moved (someone else took
the lease while we were paused) and extends the expiry. So a worker that lost its lease can
never commit, even if it wakes up in the middle of a page.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from mapping.errors import LeaseLost
from mapping.records import utcnow
from store.models import SyncLease


def worker_id() -> str:
    """A name for this worker, unique per process: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class Lease:
    connector: str
    stream: str
    owner: str
    fence: int
    ttl: timedelta


def _locked_row(conn: Connection, connector: str, stream: str) -> SyncLease | None:
    row = conn.execute(
        select(SyncLease.owner, SyncLease.fence, SyncLease.expires_at)
        .where(SyncLease.connector == connector, SyncLease.stream == stream)
        .with_for_update()
    ).first()
    return row  # type: ignore[return-value]


def acquire(
    engine: Engine, connector: str, stream: str, owner: str, ttl: timedelta, *, now: datetime | None = None
) -> Lease | None:
    """Take the stream's lease for ``owner`` and return it, or None if another worker holds it."""
    now = now or utcnow()
    for _attempt in range(2):
        try:
            with engine.begin() as conn:
                row = _locked_row(conn, connector, stream)
                if row is None:
                    conn.execute(
                        insert(SyncLease).values(
                            connector=connector, stream=stream, owner=owner, fence=1, expires_at=now + ttl
                        )
                    )
                    return Lease(connector, stream, owner, 1, ttl)
                held = row.owner is not None and row.expires_at is not None and row.expires_at > now
                if held and row.owner != owner:
                    return None
                fence = row.fence + 1
                conn.execute(
                    update(SyncLease)
                    .where(SyncLease.connector == connector, SyncLease.stream == stream)
                    .values(owner=owner, fence=fence, expires_at=now + ttl)
                )
                return Lease(connector, stream, owner, fence, ttl)
        except IntegrityError:
            continue  # two workers inserted the first row at once: read it again
    return None


def check_fence(conn: Connection, lease: Lease, now: datetime | None = None) -> None:
    """Inside a page's transaction: refuse (LeaseLost) unless we still hold the lease; extend it."""
    row = _locked_row(conn, lease.connector, lease.stream)
    if row is None or row.fence != lease.fence or row.owner != lease.owner:
        raise LeaseLost(
            "lease lost: another worker took over this stream; this page is not committed",
            connector=lease.connector,
            stream=lease.stream,
        )
    conn.execute(
        update(SyncLease)
        .where(SyncLease.connector == lease.connector, SyncLease.stream == lease.stream)
        .values(expires_at=(now or utcnow()) + lease.ttl)
    )


def release(engine: Engine, lease: Lease) -> None:
    """Give the lease up (only if it is still ours); the fence stays, the next taker raises it."""
    with engine.begin() as conn:
        conn.execute(
            update(SyncLease)
            .where(
                SyncLease.connector == lease.connector,
                SyncLease.stream == lease.stream,
                SyncLease.fence == lease.fence,
            )
            .values(owner=None, expires_at=None)
        )
