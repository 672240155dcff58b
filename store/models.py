"""The central schema: SQLAlchemy 2.0 typed models of everything erpsync keeps.

Conventions: surrogate ``id`` keys (BIGINT), business keys as unique constraints, SKUs and
location codes as plain strings (a binding or a stock row may arrive before its product),
quantities as integers in the SKU's base unit, money as ``DECIMAL(18,4)``, timestamps as UTC
with microseconds (``store.types.UTCDateTime``). Statuses are short strings checked by the code
that writes them, so adding a state is not a schema change.

Alembic migrations in ``store/migrations`` are the only way this schema reaches a database;
a test asserts that autogenerate finds no difference between these models and the migrated
schema on SQLite and on MySQL/MariaDB.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from store.types import JSONText, UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
MYSQL_TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

SKU = String(64)
CODE = String(64)
MONEY = Numeric(18, 4)
# BIGINT on MySQL, INTEGER on SQLite so that it is an alias of the rowid (autoincrement works).
ID = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar = {datetime: UTCDateTime(), dict[str, Any]: JSONText(), Decimal: MONEY}


def _id() -> Mapped[int]:
    return mapped_column(ID, primary_key=True, autoincrement=True)


class Product(Base):
    __tablename__ = "product"
    __table_args__ = (UniqueConstraint("sku"), MYSQL_TABLE)

    id: Mapped[int] = _id()
    sku: Mapped[str] = mapped_column(SKU)
    name: Mapped[str] = mapped_column(String(255))
    uom: Mapped[str] = mapped_column(String(16), default="pcs")
    barcode: Mapped[str | None] = mapped_column(String(64))
    category: Mapped[str | None] = mapped_column(String(64), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SkuBinding(Base):
    """External SKU of one system (connector name) -> our SKU, with the unit factor."""

    __tablename__ = "sku_binding"
    __table_args__ = (UniqueConstraint("system", "external_sku"), Index(None, "sku"), MYSQL_TABLE)

    id: Mapped[int] = _id()
    system: Mapped[str] = mapped_column(CODE)
    external_sku: Mapped[str] = mapped_column(String(128))
    sku: Mapped[str] = mapped_column(SKU)
    uom_factor: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Location(Base):
    """A place holding stock: warehouse, regional agent, distributor or retail shop (a tree)."""

    __tablename__ = "location"
    __table_args__ = (UniqueConstraint("code"), MYSQL_TABLE)

    id: Mapped[int] = _id()
    code: Mapped[str] = mapped_column(CODE)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=100)
    safety_stock: Mapped[int] = mapped_column(Integer, default=0)
    #: the connector authoritative for on-hand here (None: any source, or erpsync keeps the books)
    stock_source: Mapped[str | None] = mapped_column(CODE)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    regions: Mapped[list[LocationRegion]] = relationship(cascade="all, delete-orphan")


class LocationRegion(Base):
    """A region a location serves: ``province/city/district`` path or ``postal:PREFIX``."""

    __tablename__ = "location_region"
    __table_args__ = (UniqueConstraint("location_id", "region"), Index(None, "region"), MYSQL_TABLE)

    id: Mapped[int] = _id()
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="CASCADE"))
    region: Mapped[str] = mapped_column(String(191))
    level: Mapped[int] = mapped_column(Integer)


class StockLevel(Base):
    """On-hand and reserved quantity of one SKU at one location; ``version`` rises on each change."""

    __tablename__ = "stock_level"
    __table_args__ = (
        UniqueConstraint("sku", "location_id"),
        Index(None, "location_id"),
        Index(None, "updated_at"),  # what changed since the last plan / alert evaluation
        MYSQL_TABLE,
    )

    id: Mapped[int] = _id()
    sku: Mapped[str] = mapped_column(SKU)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    on_hand: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved: Mapped[int] = mapped_column(BigInteger, default=0)
    source: Mapped[str | None] = mapped_column(CODE)
    source_as_of: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(BigInteger, default=1)
    #: the last sync run whose snapshot listed this row (rows a complete snapshot missed go to zero)
    seen_run_id: Mapped[int | None] = mapped_column(BigInteger)
    #: a snapshot run that reported this row as zero; applied once that run passes the shrink guard
    zero_run_id: Mapped[int | None] = mapped_column(BigInteger)
    #: when that zero reading was taken (it settles shipped allocations once applied)
    zero_as_of: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StockReport(Base):
    """The first time a connector reported stock at a location: "no data yet" is not zero."""

    __tablename__ = "stock_report"
    __table_args__ = (MYSQL_TABLE,)

    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"), primary_key=True)
    connector: Mapped[str] = mapped_column(CODE, primary_key=True)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StockMovement(Base):
    """Append-only ledger: every change of on_hand or reserved, with its reason and reference."""

    __tablename__ = "stock_movement"
    __table_args__ = (
        Index(None, "sku", "location_id", "id"),
        Index(None, "ref_type", "ref"),
        Index(None, "created_at"),
        UniqueConstraint("source", "external_ref"),
        MYSQL_TABLE,
    )

    id: Mapped[int] = _id()
    sku: Mapped[str] = mapped_column(SKU)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    reason: Mapped[str] = mapped_column(String(16))
    delta_on_hand: Mapped[int] = mapped_column(BigInteger, default=0)
    delta_reserved: Mapped[int] = mapped_column(BigInteger, default=0)
    on_hand_after: Mapped[int] = mapped_column(BigInteger)
    reserved_after: Mapped[int] = mapped_column(BigInteger)
    ref_type: Mapped[str | None] = mapped_column(String(32))
    ref: Mapped[str | None] = mapped_column(String(128))
    source: Mapped[str | None] = mapped_column(CODE)
    #: the source's own id of a stock move (delta streams): applied once, however often it is read
    external_ref: Mapped[str | None] = mapped_column(String(191))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SalesOrder(Base):
    """An order from a channel or a distributor; identity is ``(channel, external_id)``."""

    __tablename__ = "sales_order"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index(None, "status", "updated_at"),
        MYSQL_TABLE,
    )

    id: Mapped[int] = _id()
    channel: Mapped[str] = mapped_column(CODE)
    external_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(24))
    source_status: Mapped[str | None] = mapped_column(String(32))
    hold_reason: Mapped[str | None] = mapped_column(String(255))
    placed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    source_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    total: Mapped[Decimal | None] = mapped_column(MONEY)
    customer_ref: Mapped[str | None] = mapped_column(String(128))
    ship_region: Mapped[str | None] = mapped_column(String(191))
    ship_postal: Mapped[str | None] = mapped_column(String(16))
    #: ship-to fields a person must fill in before the order can be allocated (None: complete)
    ship_to_missing: Mapped[str | None] = mapped_column(String(128))
    #: a change the channel made after dispatch, kept for a person to act on
    change_note: Mapped[str | None] = mapped_column(String(255))
    # Buyer's address and contact, encrypted (personal data): never stored in clear text.
    ship_to_sealed: Mapped[str | None] = mapped_column(Text)
    payload_digest: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    lines: Mapped[list[OrderLine]] = relationship(cascade="all, delete-orphan", order_by="OrderLine.line_no")


class OrderLine(Base):
    __tablename__ = "order_line"
    __table_args__ = (UniqueConstraint("order_id", "line_no"), Index(None, "sku"), MYSQL_TABLE)

    id: Mapped[int] = _id()
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_order.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(Integer)
    external_line_id: Mapped[str | None] = mapped_column(String(128))
    sku: Mapped[str] = mapped_column(SKU)
    description: Mapped[str | None] = mapped_column(String(255))
    qty: Mapped[int] = mapped_column(BigInteger)
    unit_price: Mapped[Decimal] = mapped_column(MONEY)
    qty_shipped: Mapped[int] = mapped_column(BigInteger, default=0)
    qty_returned: Mapped[int] = mapped_column(BigInteger, default=0)


class DispatchInstruction(Base):
    """What one location must ship for one order part; the warehouse acknowledges it."""

    __tablename__ = "dispatch_instruction"
    __table_args__ = (
        UniqueConstraint("number"),
        UniqueConstraint("order_id", "location_id", "part_no"),
        Index(None, "location_id", "status"),
        Index(None, "status", "due_at"),
        MYSQL_TABLE,
    )

    id: Mapped[int] = _id()
    number: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[int] = mapped_column(ForeignKey("sales_order.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    part_no: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(24))
    carrier_hint: Mapped[str | None] = mapped_column(String(64))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    carrier: Mapped[str | None] = mapped_column(String(64))
    tracking_no: Mapped[str | None] = mapped_column(String(64))
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    send_count: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recall_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Shipment(Base):
    """A parcel a location reported for a dispatch instruction: carrier, tracking number, lines."""

    __tablename__ = "shipment"
    __table_args__ = (UniqueConstraint("dispatch_id", "tracking_no"), MYSQL_TABLE)

    id: Mapped[int] = _id()
    dispatch_id: Mapped[int] = mapped_column(ForeignKey("dispatch_instruction.id"))
    carrier: Mapped[str] = mapped_column(String(64))
    tracking_no: Mapped[str] = mapped_column(String(64))
    shipped_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: [{"line_no": n, "qty": q}]: what this parcel holds
    lines: Mapped[dict[str, Any]] = mapped_column(JSONText())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RequestNonce(Base):
    """Nonces of signed requests already accepted (a replay within the time window is refused)."""

    __tablename__ = "request_nonce"
    __table_args__ = (Index(None, "expires_at"), MYSQL_TABLE)

    nonce: Mapped[str] = mapped_column(String(191), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Allocation(Base):
    """Quantity of an order line reserved at a location (reserved -> consumed or released)."""

    __tablename__ = "allocation"
    __table_args__ = (
        # a line may hold several allocations at one location once a parcel ships part of it
        Index(None, "order_line_id", "location_id"),
        Index(None, "location_id", "status"),
        MYSQL_TABLE,
    )

    id: Mapped[int] = _id()
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_line.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    dispatch_id: Mapped[int | None] = mapped_column(ForeignKey("dispatch_instruction.id"), index=True)
    qty: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChannelListing(Base):
    """What erpsync last pushed to (and last read from) a channel for one SKU."""

    __tablename__ = "channel_listing"
    __table_args__ = (UniqueConstraint("channel", "sku"), MYSQL_TABLE)

    id: Mapped[int] = _id()
    channel: Mapped[str] = mapped_column(CODE)
    sku: Mapped[str] = mapped_column(SKU)
    external_ref: Mapped[str | None] = mapped_column(String(128))
    #: the quantity most recently queued for this channel (in our base units) and when
    planned_qty: Mapped[int | None] = mapped_column(BigInteger)
    planned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: what the channel accepted last (in the channel's units) and when
    last_pushed_qty: Mapped[int | None] = mapped_column(BigInteger)
    pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_seen_qty: Mapped[int | None] = mapped_column(BigInteger)
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    push_version: Mapped[int] = mapped_column(BigInteger, default=0)


class Alert(Base):
    """A shortage or operational alert; ``open_key`` is set only while open (one open per key)."""

    __tablename__ = "alert"
    __table_args__ = (UniqueConstraint("open_key"), Index(None, "state", "severity"), MYSQL_TABLE)

    id: Mapped[int] = _id()
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

    id: Mapped[int] = _id()
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


class SyncRun(Base):
    __tablename__ = "sync_run"
    __table_args__ = (Index(None, "connector", "stream", "started_at"), MYSQL_TABLE)

    id: Mapped[int] = _id()
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

    id: Mapped[int] = _id()
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

    id: Mapped[int] = _id()
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(191))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONText())
