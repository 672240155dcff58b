"""Per-stream health: the last run, its outcome, the saved cursor, open quarantine, lag and lease.

Four queries whatever the number of streams: the latest run per stream, the cursors, the
open-quarantine counts and the held leases. ``lag`` is the time since the last successful run
finished. A lease is *stale* when its owner is provably gone (``store.owners``) or its expiry
has passed: the next worker takes it over (``sync.lease``); until then the table says whose it
was and when it expires, so a stream that seems stuck says why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from core.clock import utcnow
from core.excerpt import shorten
from core.statuses import RunStatus
from store.models import Quarantine, SyncCursor, SyncLease, SyncRun
from store.owners import describe, is_gone

Key = tuple[str, str]


@dataclass(frozen=True)
class StreamStatus:
    connector: str
    stream: str
    last_started: datetime | None = None
    outcome: str | None = None
    error: str | None = None
    cursor: str | None = None
    records_in: int = 0
    records_changed: int = 0
    quarantined_open: int = 0
    last_success: datetime | None = None
    lease_owner: str | None = None
    lease_expires: datetime | None = None
    #: "held", "stale: owner gone" or "stale: expired" while someone holds the lease, else None
    lease_state: str | None = None

    @property
    def lag(self) -> timedelta | None:
        return None if self.last_success is None else utcnow() - self.last_success

    def cells(self) -> list[str]:
        """The row as text cells for a table."""
        lag = self.lag
        return [
            self.connector,
            self.stream,
            self.last_started.strftime("%Y-%m-%d %H:%M:%S") if self.last_started else "never",
            (self.outcome or "-") + (f": {shorten(self.error, 60)}" if self.error else ""),
            self.cursor or "-",
            str(self.records_in),
            str(self.records_changed),
            str(self.quarantined_open),
            _human(lag) if lag is not None else "-",
            self.lease_text(),
        ]

    def lease_text(self) -> str:
        """``held by host:pid until …``, ``STALE (owner gone): host:pid, expires …`` or ``-``."""
        if self.lease_state is None:
            return "-"
        until = self.lease_expires.strftime("%Y-%m-%d %H:%M:%S") if self.lease_expires else "-"
        if self.lease_state == "held":
            return f"held by {describe(self.lease_owner)} until {until}"
        why = self.lease_state.removeprefix("stale: ")
        return f"STALE ({why}): {describe(self.lease_owner)}, expires {until}"


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def stream_status(engine: Engine, configured: Iterable[Key] = ()) -> list[StreamStatus]:
    """Status of every configured stream and of every stream that has ever run, sorted."""
    with engine.connect() as conn:
        latest = select(func.max(SyncRun.id)).group_by(SyncRun.connector, SyncRun.stream)
        runs = {
            (r.connector, r.stream): r for r in conn.execute(select(SyncRun).where(SyncRun.id.in_(latest)))
        }
        ok = conn.execute(
            select(SyncRun.connector, SyncRun.stream, func.max(SyncRun.finished_at))
            .where(SyncRun.status == RunStatus.OK)
            .group_by(SyncRun.connector, SyncRun.stream)
        ).all()
        last_ok = {(c, s): t for c, s, t in ok}
        cursors = {(c.connector, c.stream): c.value for c in conn.execute(select(SyncCursor))}
        leases = {
            (r.connector, r.stream): r
            for r in conn.execute(select(SyncLease).where(SyncLease.owner.is_not(None)))
        }
        quarantine = {
            (c, s): n
            for c, s, n in conn.execute(
                select(Quarantine.connector, Quarantine.stream, func.count())
                .where(Quarantine.status == "open")
                .group_by(Quarantine.connector, Quarantine.stream)
            )
        }
    keys = sorted(set(configured) | set(runs) | set(cursors) | set(quarantine) | set(leases))
    now, result = utcnow(), []
    for key in keys:
        run, lease = runs.get(key), leases.get(key)
        result.append(
            StreamStatus(
                connector=key[0],
                stream=key[1],
                last_started=run.started_at if run else None,
                outcome=run.status if run else None,
                error=run.error if run else None,
                cursor=cursors.get(key),
                records_in=run.records_in if run else 0,
                records_changed=run.records_changed if run else 0,
                quarantined_open=quarantine.get(key, 0),
                last_success=last_ok.get(key),
                lease_owner=lease.owner if lease else None,
                lease_expires=lease.expires_at if lease else None,
                lease_state=_lease_state(lease, now),
            )
        )
    return result


def _lease_state(lease: Any, now: datetime) -> str | None:
    if lease is None:
        return None
    if is_gone(lease.owner):
        return "stale: owner gone"
    if lease.expires_at is None or lease.expires_at <= now:
        return "stale: expired"
    return "held"
