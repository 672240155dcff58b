"""Leases: at most one worker runs a (connector, stream) at a time, across processes and hosts.

A lease row per stream holds the ``owner``, an ``expires_at`` and a ``fence`` counter that rises
each time the lease changes hands. ``acquire`` takes the row lock (``SELECT … FOR UPDATE``; on
SQLite the ``BEGIN IMMEDIATE`` of every transaction serialises writers) and succeeds when the
lease is free, expired, already ours — or held by a process that is provably gone. Every page
commit calls ``check_fence`` inside its own transaction: it locks the row, refuses with
``LeaseLost`` if the fence moved (someone else took the lease while we were paused) and extends
the expiry. So a worker that lost its lease can never commit, even if it wakes up in the middle
of a page. The same leases guard other single-runner work, e.g. a channel's stock planning
(stream ``stock_plan``).

**Takeover after a crash.** Owners are named by ``store.owners.new_owner_id`` (host, pid, the
process's start time and its pid space). A lease whose owner ``store.owners.is_gone`` proves
ended — a process on the same machine and in the same pid namespace that no longer runs, whose
pid now belongs to another process, or that is a zombie — is taken over at once instead of
after its expiry. An owner that cannot be checked (another machine or container) keeps its
lease until ``expires_at``.

**Interrupted runs.** Whenever a lease changes hands, the ``sync_run`` rows of that stream still
``running`` are marked ``interrupted`` (the new holder is the only one who may run it). ``recover``
(the service calls it at start and every minute) does the same without running anything: runs
of provably gone owners, and runs whose owner no longer holds an unexpired lease on their
stream, become ``interrupted``; leases of gone owners are freed; outbox messages they had
claimed are claimable again. ``docs/operations.md`` states the rule for operators.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from core.clock import utcnow
from core.errors import LeaseLost
from core.statuses import RunStatus
from store import outbox
from store.db import retry_on_lock_conflict
from store.models import SyncLease, SyncRun
from store.owners import describe, is_alive, is_gone, new_owner_id

log = structlog.get_logger("erpsync.lease")


def worker_id() -> str:
    """A name for this worker, unique per call: ``host:pid:start:space:random`` (``store.owners``)."""
    return new_owner_id()


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
    """Take the stream's lease for ``owner`` and return it, or None if another live worker holds it."""
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
                    interrupt_runs(conn, connector, stream, now, reason=f"{describe(owner)} took the stream")
                    return Lease(connector, stream, owner, 1, ttl)
                held = row.owner is not None and row.expires_at is not None and row.expires_at > now
                if held and row.owner != owner:
                    if not is_gone(row.owner):
                        return None
                    log.warning(
                        "lease taken over from a process that is gone",
                        connector=connector,
                        stream=stream,
                        previous=describe(row.owner),
                        expires_at=row.expires_at,
                    )
                fence = row.fence + 1
                conn.execute(
                    update(SyncLease)
                    .where(SyncLease.connector == connector, SyncLease.stream == stream)
                    .values(owner=owner, fence=fence, expires_at=now + ttl)
                )
                interrupt_runs(conn, connector, stream, now, reason=_taken(row.owner, owner, held))
                return Lease(connector, stream, owner, fence, ttl)
        except IntegrityError:
            continue  # two workers inserted the first row at once: read it again
    return None


def _taken(previous: str | None, owner: str, held: bool) -> str:
    if previous is None or previous == owner:
        return f"{describe(owner)} took the stream"
    why = "is gone" if held else "let its lease expire"
    return f"process {describe(previous)} {why}; {describe(owner)} took over"


def interrupt_runs(conn: Connection, connector: str, stream: str, now: datetime, *, reason: str) -> int:
    """Mark the stream's runs still ``running`` as ``interrupted``; how many there were."""
    return conn.execute(
        update(SyncRun)
        .where(SyncRun.connector == connector, SyncRun.stream == stream, SyncRun.status == RunStatus.RUNNING)
        .values(status=RunStatus.INTERRUPTED, finished_at=now, error=reason)
    ).rowcount


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


@dataclass(frozen=True)
class Recovered:
    """What ``recover`` cleaned up."""

    leases: int = 0
    runs: int = 0
    claims: int = 0


def recover(engine: Engine, *, now: datetime | None = None, claims: bool = True) -> Recovered:
    """Free what dead owners left behind and mark orphaned runs ``interrupted`` (see the module docstring).

    ``claims=False`` leaves outbox claims alone (they expire within minutes by themselves).
    """
    at = now or utcnow()
    found = retry_on_lock_conflict(lambda: _recover_once(engine, at))
    claimed = outbox.release_claims_of_gone(engine) if claims else 0
    if found.leases or found.runs or claimed:
        log.warning("recovered after a crash", leases=found.leases, runs=found.runs, claims=claimed)
    return Recovered(found.leases, found.runs, claimed)


def _recover_once(engine: Engine, now: datetime) -> Recovered:
    with engine.begin() as conn:
        leases = {
            (r.connector, r.stream): r
            for r in conn.execute(
                select(SyncLease.connector, SyncLease.stream, SyncLease.owner, SyncLease.expires_at)
                .where(SyncLease.owner.is_not(None))
                .with_for_update()
            )
        }
        gone = {key for key, r in leases.items() if is_gone(r.owner)}
        for connector, stream in gone:
            conn.execute(
                update(SyncLease)
                .where(SyncLease.connector == connector, SyncLease.stream == stream)
                .values(owner=None, expires_at=None)
            )
        running = conn.execute(
            select(SyncRun.id, SyncRun.connector, SyncRun.stream, SyncRun.owner).where(
                SyncRun.status == RunStatus.RUNNING
            )
        ).all()
        orphans = [r for r in running if _orphaned(r, leases.get((r.connector, r.stream)), gone, now)]
        for r in orphans:
            conn.execute(
                update(SyncRun)
                .where(SyncRun.id == r.id, SyncRun.status == RunStatus.RUNNING)
                .values(status=RunStatus.INTERRUPTED, finished_at=now, error=_why(r, gone))
            )
    return Recovered(leases=len(gone), runs=len(orphans))


def _orphaned(run: Row[Any], lease: Row[Any] | None, gone: set[tuple[str, str]], now: datetime) -> bool:
    """True for a ``running`` run nobody can be running any more."""
    if is_gone(run.owner) or (run.connector, run.stream) in gone:
        return True
    if lease is None or lease.owner != run.owner:
        return True  # its owner does not hold the stream's lease: it cannot commit a page
    if is_alive(run.owner):
        return False  # a slow page may outlast the expiry; the process is still at it
    return lease.expires_at is None or lease.expires_at <= now


def _why(run: Row[Any], gone: set[tuple[str, str]]) -> str:
    if is_gone(run.owner) or (run.connector, run.stream) in gone:
        return f"process {describe(run.owner)} is gone"
    return f"process {describe(run.owner)} lost its lease (expired or taken over)"


__all__ = [
    "Lease",
    "Recovered",
    "acquire",
    "check_fence",
    "interrupt_runs",
    "recover",
    "release",
    "worker_id",
]
