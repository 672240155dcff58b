"""The catalogue and the stock: products, SKU bindings, locations, stock levels and their ledger, listings.

``StockLevel`` holds on-hand and reserved per SKU and location; every change of either is a
``StockMovement`` row (append-only). ``ChannelListing`` remembers what was last pushed to, and
read from, a sales channel for one SKU.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from store.models.base import CODE, MYSQL_TABLE, SKU, Base, id_column
from store.types import UTCDateTime


class Product(Base):
    __tablename__ = "product"
    __table_args__ = (UniqueConstraint("sku"), MYSQL_TABLE)

    id: Mapped[int] = id_column()
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

    id: Mapped[int] = id_column()
    system: Mapped[str] = mapped_column(CODE)
    external_sku: Mapped[str] = mapped_column(String(128))
    sku: Mapped[str] = mapped_column(SKU)
    uom_factor: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Location(Base):
    """A place holding stock: warehouse, regional agent, distributor or retail shop (a tree)."""

    __tablename__ = "location"
    __table_args__ = (UniqueConstraint("code"), MYSQL_TABLE)

    id: Mapped[int] = id_column()
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

    id: Mapped[int] = id_column()
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

    id: Mapped[int] = id_column()
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

    id: Mapped[int] = id_column()
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


class ChannelListing(Base):
    """What erpsync last pushed to (and last read from) a channel for one SKU."""

    __tablename__ = "channel_listing"
    __table_args__ = (UniqueConstraint("channel", "sku"), MYSQL_TABLE)

    id: Mapped[int] = id_column()
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
