"""Orders and what becomes of them: lines, reservations, dispatch instructions, parcels, request nonces.

An order's status follows ``store.orders``' lifecycle, an instruction's ``routing.dispatch``; the
states are ``core.statuses`` members stored as their strings.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from store.models.base import CODE, MONEY, MYSQL_TABLE, SKU, Base, id_column
from store.types import JSONText, UTCDateTime


class SalesOrder(Base):
    """An order from a channel or a distributor; identity is ``(channel, external_id)``."""

    __tablename__ = "sales_order"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index(None, "status", "updated_at"),
        MYSQL_TABLE,
    )

    id: Mapped[int] = id_column()
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

    id: Mapped[int] = id_column()
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

    id: Mapped[int] = id_column()
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

    id: Mapped[int] = id_column()
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

    id: Mapped[int] = id_column()
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_line.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    dispatch_id: Mapped[int | None] = mapped_column(ForeignKey("dispatch_instruction.id"), index=True)
    qty: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
