"""The sync engine's read queries for people: stream status, runs, quarantine, a SKU's push state.

Each function takes a connection (``stream_status``: an engine) and explicit filters and gives
typed rows (frozen dataclasses), lists as a :class:`store.paging.Page` (rows + total). The CLI
(``erpsync status``, ``quarantine``, ``stock explain``), the health report, the HTTP API and
reports format these rows. Nothing here is scoped by location: streams, runs and quarantined
records belong to connectors, not to a warehouse.

- :func:`stream_status`: per stream the last run, its outcome, the saved cursor, open quarantine,
  lag and lease — four queries whatever the number of streams. ``lag`` is the time since the
  last successful run finished. A lease is *stale* when its owner is provably gone
  (``store.owners``) or its expiry has passed: the next worker takes it over (``sync.lease``);
  until then the row says whose it was and when it expires, so a stream that seems stuck says why;
- :func:`list_runs`: recorded runs, newest first;
- :func:`list_quarantine` / :func:`get_quarantined`: quarantined records, with their payloads;
- :func:`push_state`: what was last pushed of a SKU to a channel and what still waits.

Errors: ``ValueError`` for a bad ``limit``/``offset``; database errors are SQLAlchemy's.

>>> with engine.connect() as conn:
...     page = list_quarantine(conn, reason="unmapped_sku", status="open", limit=200)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from core.clock import utcnow
from core.statuses import RunStatus
from store.bindings import reverse_bindings
from store.models import ChannelListing, Outbox, Quarantine, SyncCursor, SyncLease, SyncRun
from store.owners import describe, is_gone
from store.paging import Page, fetch_page
from sync.outbound import TOPIC as PUSH_TOPIC

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

    def lease_text(self) -> str:
        """``held by host:pid until …``, ``STALE (owner gone): host:pid, expires …`` or ``-``."""
        if self.lease_state is None:
            return "-"
        until = self.lease_expires.strftime("%Y-%m-%d %H:%M:%S") if self.lease_expires else "-"
        if self.lease_state == "held":
            return f"held by {describe(self.lease_owner)} until {until}"
        why = self.lease_state.removeprefix("stale: ")
        return f"STALE ({why}): {describe(self.lease_owner)}, expires {until}"


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


@dataclass(frozen=True)
class RunRow:
    """One recorded run of a stream: when, by whom, how it ended and what it read and changed."""

    id: int
    connector: str
    stream: str
    owner: str | None
    status: str
    started_at: datetime
    finished_at: datetime | None
    pages: int
    records_in: int
    records_changed: int
    records_quarantined: int
    cursor_before: str | None
    cursor_after: str | None
    error: str | None


_RUN_COLUMNS = tuple(SyncRun.__table__.columns[name] for name in RunRow.__dataclass_fields__)


def list_runs(
    conn: Connection,
    *,
    connector: str | None = None,
    stream: str | None = None,
    status: str | None = None,
    limit: int | None = 50,
    offset: int = 0,
) -> Page[RunRow]:
    """A page of runs, newest first (only those of ``connector``, ``stream``, in ``status``, when given)."""
    stmt = select(*_RUN_COLUMNS).order_by(SyncRun.id.desc())
    for column, value in ((SyncRun.connector, connector), (SyncRun.stream, stream), (SyncRun.status, status)):
        if value is not None:
            stmt = stmt.where(column == value)
    return fetch_page(conn, stmt, lambda r: RunRow(*r), limit=limit, offset=offset)


@dataclass(frozen=True)
class QuarantinedRecord:
    """A record that could not be used: the reason, and the payload as received."""

    id: int
    connector: str
    stream: str
    record_key: str
    reason_code: str
    reason: str
    payload: dict[str, Any]
    status: str
    seen_count: int
    first_seen: datetime
    last_seen: datetime


_QUARANTINE_COLUMNS = tuple(
    Quarantine.__table__.columns[name] for name in QuarantinedRecord.__dataclass_fields__
)


def list_quarantine(
    conn: Connection,
    *,
    connector: str | None = None,
    stream: str | None = None,
    reason: str | None = None,
    status: str | None = None,
    limit: int | None = 200,
    offset: int = 0,
) -> Page[QuarantinedRecord]:
    """A page of quarantined records, last seen first (``reason``: a reason code)."""
    stmt = select(*_QUARANTINE_COLUMNS).order_by(Quarantine.last_seen.desc(), Quarantine.id.desc())
    for column, value in (
        (Quarantine.connector, connector),
        (Quarantine.stream, stream),
        (Quarantine.reason_code, reason),
        (Quarantine.status, status),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    return fetch_page(conn, stmt, lambda r: QuarantinedRecord(*r), limit=limit, offset=offset)


def get_quarantined(conn: Connection, ids: Sequence[int]) -> list[QuarantinedRecord]:
    """The quarantined records with these ids, by id (an id with no record is just absent)."""
    stmt = select(*_QUARANTINE_COLUMNS).where(Quarantine.id.in_(set(ids))).order_by(Quarantine.id)
    return [QuarantinedRecord(*row) for row in conn.execute(stmt)]


@dataclass(frozen=True)
class WaitingPush:
    """A queued stock push not delivered yet: the quantity in the channel's units, and its attempts."""

    qty: int
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class PushState:
    """Where a SKU's stock push to a channel stands (quantities in the channel's units).

    ``listed`` is False while the channel has no listing for the SKU: it was never planned.
    ``channel_sku`` and ``factor`` come from the channel's SKU binding (none: our SKU, 1).
    """

    channel_sku: str
    factor: int
    listed: bool
    planned_qty: int | None
    last_pushed_qty: int | None
    pushed_at: datetime | None
    waiting: WaitingPush | None


def push_state(conn: Connection, channel: str, sku: str) -> PushState:
    """What was last planned and pushed of ``sku`` to ``channel``, and the newest push still waiting."""
    listing = conn.execute(
        select(ChannelListing.last_pushed_qty, ChannelListing.pushed_at, ChannelListing.planned_qty).where(
            ChannelListing.channel == channel, ChannelListing.sku == sku
        )
    ).first()
    waiting = conn.execute(
        select(Outbox.attempts, Outbox.last_error, Outbox.payload)
        .where(
            Outbox.topic == PUSH_TOPIC,
            Outbox.partition_key == channel,
            Outbox.key.startswith(f"{PUSH_TOPIC}:{channel}:{sku}:", autoescape=True),
            Outbox.delivered_at.is_(None),
            Outbox.failed_at.is_(None),
        )
        .order_by(Outbox.id.desc())
        .limit(1)
    ).first()
    channel_sku, factor = reverse_bindings(conn, channel, [sku])[sku]
    return PushState(
        channel_sku=channel_sku,
        factor=factor,
        listed=listing is not None,
        planned_qty=listing.planned_qty if listing else None,
        last_pushed_qty=listing.last_pushed_qty if listing else None,
        pushed_at=listing.pushed_at if listing else None,
        waiting=WaitingPush(int(waiting.payload["qty"]), waiting.attempts, waiting.last_error)
        if waiting
        else None,
    )
