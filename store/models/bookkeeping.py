"""erpsync's own bookkeeping: alerts, outbox, sync cursors, leases, runs, held snapshots, quarantine, audit,
and where recurring work stands (``task_state``).

These tables record what erpsync did and must still do, as opposed to the business facts of
``store.models.catalog`` and ``store.models.orders``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import CODE, MYSQL_TABLE, SKU, Base, id_column
from store.types import JSONText, UTCDateTime


class Alert(Base):
    """A shortage or operational alert; ``open_key`` is set only while open (one open per key)."""

    __tablename__ = "alert"
    __table_args__ = (UniqueConstraint("open_key"), Index(None, "state", "severity"), MYSQL_TABLE)

    id: Mapped[int] = id_column()
    kind: Mapped[str] = mapped_column(String(32))
    sku: Mapped[str | None] = mapped_column(SKU)
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    open_key: Mapped[str | None] = mapped_column(String(191))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONText())
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    muted_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Outbox(Base):
    """A message to deliver (push, dispatch, notification); ``key`` makes enqueueing idempotent."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("key"),
        Index(None, "delivered_at", "next_attempt_at"),
        Index(None, "topic", "partition_key", "delivered_at", "id"),
        MYSQL_TABLE,
    )

    id: Mapped[int] = id_column()
    topic: Mapped[str] = mapped_column(String(64))
    #: messages of one partition (e.g. one channel) are delivered one after another, in id order
    partition_key: Mapped[str] = mapped_column(String(128), default="")
    key: Mapped[str] = mapped_column(String(191))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONText())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SyncCursor(Base):
    """Where the next incremental read of a (connector, stream) starts."""

    __tablename__ = "sync_cursor"
    __table_args__ = (MYSQL_TABLE,)

    connector: Mapped[str] = mapped_column(CODE, primary_key=True)
    stream: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SyncLease(Base):
    """Who may run a (connector, stream) now; ``fence`` rises each time the lease changes hands."""

    __tablename__ = "sync_lease"
    __table_args__ = (MYSQL_TABLE,)

    connector: Mapped[str] = mapped_column(CODE, primary_key=True)
    stream: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(128))
    fence: Mapped[int] = mapped_column(BigInteger, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SnapshotHold(Base):
    """A stock snapshot that would have zeroed too much of its source: not applied, waiting for a person.

    While it exists, channels fed by ``connector`` are not planned; the next snapshot that passes the
    shrink guard (or one run with ``--accept-shrink``) applies and deletes it.
    """

    __tablename__ = "snapshot_hold"
    __table_args__ = (MYSQL_TABLE,)

    connector: Mapped[str] = mapped_column(CODE, primary_key=True)
    stream: Mapped[str] = mapped_column(String(32), primary_key=True)
    run_id: Mapped[int] = mapped_column(BigInteger)
    rows_to_zero: Mapped[int] = mapped_column(Integer)
    rows_held: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TaskState(Base):
    """Where a piece of recurring work stands, so that whichever process runs it next goes on from there.

    ``checkpoint``: what the work has covered (a planner's or evaluator's "changes up to here"),
    reached with the configuration whose fingerprint is ``inputs``; ``last_run_at``: when the
    scheduled work last ran (the service schedules its next run from it). See ``store.task_state``.
    """

    __tablename__ = "task_state"
    __table_args__ = (MYSQL_TABLE,)

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    checkpoint: Mapped[datetime | None] = mapped_column(UTCDateTime())
    inputs: Mapped[str | None] = mapped_column(String(64))
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SyncRun(Base):
    __tablename__ = "sync_run"
    __table_args__ = (Index(None, "connector", "stream", "started_at"), MYSQL_TABLE)

    id: Mapped[int] = id_column()
    connector: Mapped[str] = mapped_column(CODE)
    stream: Mapped[str] = mapped_column(String(32))
    owner: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    pages: Mapped[int] = mapped_column(Integer, default=0)
    records_in: Mapped[int] = mapped_column(Integer, default=0)
    records_changed: Mapped[int] = mapped_column(Integer, default=0)
    records_quarantined: Mapped[int] = mapped_column(Integer, default=0)
    cursor_before: Mapped[str | None] = mapped_column(String(255))
    cursor_after: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)


class Quarantine(Base):
    """A record that could not be used, with the reason; seeing it again bumps ``seen_count``."""

    __tablename__ = "quarantine"
    __table_args__ = (
        UniqueConstraint("connector", "stream", "record_key"),
        Index(None, "status", "reason_code"),
        MYSQL_TABLE,
    )

    id: Mapped[int] = id_column()
    connector: Mapped[str] = mapped_column(CODE)
    stream: Mapped[str] = mapped_column(String(32))
    record_key: Mapped[str] = mapped_column(String(191))
    reason_code: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONText())
    status: Mapped[str] = mapped_column(String(16), default="open")
    seen_count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "target_type", "target"), Index(None, "at"), MYSQL_TABLE)

    id: Mapped[int] = id_column()
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(191))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONText())
