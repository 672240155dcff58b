"""The shrink guard: a stock snapshot that would wipe out much of its source is held for a person.

When a complete snapshot read has landed (its non-zero changes already applied page by page), the
rows it would set to zero are counted: rows of this source holding stock (``on_hand`` ≠ 0) that
it did not list (with ``missing: zero``) or that it reported as zero. They are measured against
the rows the source holds. The snapshot is **held** — nothing is zeroed — when

- it zeroes more than ``max_shrink`` of them (a share, default 0.2), or
- it listed no record at all while there is something to zero (an empty answer is an outage
  far more often than an empty warehouse; no ``max_shrink`` lets it through).

A held snapshot is recorded (``snapshot_hold``, one per connector and stream), raises the
operational alert ``snapshot_held`` (one open alert per stream) and its run ends ``held``. While
the hold stands, channels fed by the connector are not planned (``sync.push_gate``). The next
snapshot that passes the guard, or a run with ``accept`` (``erpsync sync CONNECTOR STREAM
--accept-shrink``), applies its zeros, deletes the hold and resolves the alert.

>>> Shrink(to_zero=1, holding=4, empty=False).too_much(0.2)
True
>>> Shrink(to_zero=1, holding=10, empty=False).too_much(0.2)
False
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import ColumnElement, Connection, and_, delete, func, or_, select

from alerts.notify import AlertPolicy
from alerts.operational import Condition, clear_condition, raise_condition
from core.statuses import AlertSeverity
from store.models import SnapshotHold
from store.models import StockLevel as StockRow
from store.upsert import NEW, upsert
from sync.push_gate import mark_snapshot_complete
from sync.reconcile import PageContext
from sync.stock_sync import zero_levels

DEFAULT_MAX_SHRINK = 0.2
KIND = "snapshot_held"
log = structlog.get_logger("erpsync.sync")


@dataclass(frozen=True)
class Shrink:
    """What a complete snapshot would zero: ``to_zero`` of the ``holding`` rows its source holds."""

    to_zero: int
    holding: int
    empty: bool

    def too_much(self, max_share: float) -> bool:
        """True when the guard holds it: an empty snapshot with rows to zero, or more than the share."""
        return self.to_zero > 0 and (self.empty or self.to_zero > max_share * self.holding)


@dataclass(frozen=True)
class Snapshot:
    """A complete snapshot read of ``connector``/``stream`` in run ``run_id``."""

    connector: str
    stream: str
    run_id: int
    missing: str = "zero"  # what the stream's config says of rows it no longer lists
    max_shrink: float = DEFAULT_MAX_SHRINK

    @property
    def accept_command(self) -> str:
        return f"erpsync sync {self.connector} {self.stream} --accept-shrink"


@dataclass(frozen=True)
class Finished:
    """What finishing a snapshot did: rows zeroed, or why it is held (None: applied)."""

    changed: int = 0
    held: str | None = None


def _holding(snap: Snapshot) -> ColumnElement[bool]:
    owned = or_(StockRow.source == snap.connector, StockRow.zero_run_id == snap.run_id)
    return and_(StockRow.on_hand != 0, owned)


def _to_zero(snap: Snapshot) -> ColumnElement[bool]:
    unseen = or_(StockRow.seen_run_id.is_(None), StockRow.seen_run_id != snap.run_id)
    reported_zero = StockRow.zero_run_id == snap.run_id
    gone = or_(reported_zero, StockRow.source == snap.connector) if snap.missing == "zero" else reported_zero
    return and_(StockRow.on_hand != 0, unseen, gone)


def measure(conn: Connection, snap: Snapshot, *, empty: bool) -> Shrink:
    """How much the snapshot would zero (two counting queries)."""

    def count(which: ColumnElement[bool]) -> int:
        return int(conn.execute(select(func.count()).select_from(StockRow).where(which)).scalar_one())

    return Shrink(count(_to_zero(snap)), count(_holding(snap)), empty)


def finish_snapshot(
    conn: Connection,
    snap: Snapshot,
    *,
    empty: bool,
    accept: bool,
    policy: AlertPolicy,
    now: datetime,
) -> Finished:
    """Apply the snapshot's zeros, or hold them; keep the hold and its alert in step."""
    shrink = measure(conn, snap, empty=empty)
    if shrink.too_much(snap.max_shrink) and not accept:
        reason = _reason(snap, shrink)
        _hold(conn, snap, shrink, now)
        raise_condition(conn, policy, Condition(KIND, _subject(snap), AlertSeverity.CRITICAL, reason), now)
        log.warning(
            "snapshot held",
            connector=snap.connector,
            stream=snap.stream,
            to_zero=shrink.to_zero,
            rows=shrink.holding,
        )
        return Finished(held=reason)
    changed = zero_levels(conn, PageContext(snap.connector, snap.run_id), _to_zero(snap))
    mark_snapshot_complete(conn, snap.connector, now)
    released = conn.execute(
        delete(SnapshotHold).where(
            SnapshotHold.connector == snap.connector, SnapshotHold.stream == snap.stream
        )
    ).rowcount
    clear_condition(conn, policy, KIND, _subject(snap), now)
    if released:
        log.info(
            "snapshot hold released",
            connector=snap.connector,
            stream=snap.stream,
            zeroed=changed,
            accepted=accept,
        )
    return Finished(changed=changed)


def _subject(snap: Snapshot) -> str:
    return f"{snap.connector}/{snap.stream}"


def _reason(snap: Snapshot, shrink: Shrink) -> str:
    what = (
        f"the snapshot listed no record, and {shrink.holding} row(s) of {snap.connector} hold stock"
        if shrink.empty
        else f"the snapshot would zero {shrink.to_zero} of the {shrink.holding} row(s) "
        f"{snap.connector} holds (more than {snap.max_shrink:.0%})"
    )
    return (
        f"{what}; nothing was zeroed and channels fed by {snap.connector} are not updated. "
        f"If the source is right: {snap.accept_command}"
    )


def _hold(conn: Connection, snap: Snapshot, shrink: Shrink, now: datetime) -> None:
    upsert(
        conn,
        SnapshotHold,
        [
            {
                "connector": snap.connector,
                "stream": snap.stream,
                "run_id": snap.run_id,
                "rows_to_zero": shrink.to_zero,
                "rows_held": shrink.holding,
                "opened_at": now,
                "updated_at": now,
            }
        ],
        key=["connector", "stream"],
        update={"run_id": NEW, "rows_to_zero": NEW, "rows_held": NEW, "updated_at": NEW},
    )
