"""Canonical records: the vocabulary every connector's payload is mapped into.

A connector yields raw dicts; ``mapping`` turns them into these records; ``sync`` lands them in
the store. Quantities are integers in the SKU's base unit (after unit conversion); money is
``Decimal`` with an ISO 4217 currency; datetimes are timezone-aware UTC.

Each record has ``key``: the identity the engine de-duplicates and quarantines by.

>>> StockLevel(sku="A-1", location="WH1", on_hand=5).key
'A-1@WH1'
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("datetime has no timezone; add a tz converter to the field map")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
Sku = Annotated[str, Field(min_length=1, max_length=64)]


class Record(BaseModel):
    """Base of canonical records: frozen, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @property
    def key(self) -> str:
        raise NotImplementedError


class Product(Record):
    sku: Sku
    name: str = Field(min_length=1, max_length=255)
    uom: str = Field(default="pcs", max_length=16)
    barcode: str | None = Field(default=None, max_length=64)
    category: str | None = Field(default=None, max_length=64)
    active: bool = True

    @property
    def key(self) -> str:
        return self.sku


class StockLevel(Record):
    """On-hand quantity of one SKU at one location, as the source reports it."""

    sku: Sku
    location: str = Field(min_length=1, max_length=64)
    on_hand: int
    as_of: UtcDatetime | None = None

    @property
    def key(self) -> str:
        return f"{self.sku}@{self.location}"


class StockMove(Record):
    """A change of on-hand reported by a source (a delta stream); ``move_id`` is the source's id."""

    sku: Sku
    location: str = Field(min_length=1, max_length=64)
    delta: int
    move_id: str = Field(min_length=1, max_length=191)
    at: UtcDatetime | None = None

    @property
    def key(self) -> str:
        return self.move_id


class Address(Record):
    name: str | None = None
    phone: str | None = None
    country: str | None = Field(default=None, max_length=2)
    province: str | None = None
    city: str | None = None
    district: str | None = None
    street: str | None = None
    postal_code: str | None = None


class OrderLine(Record):
    sku: Sku
    qty: int = Field(gt=0)
    unit_price: Decimal = Decimal("0")
    external_line_id: str | None = None
    description: str | None = None


class Order(Record):
    channel: str = Field(min_length=1, max_length=64)
    external_id: str = Field(min_length=1, max_length=128)
    status: str = Field(min_length=1, max_length=32)
    placed_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None
    currency: str = Field(default="CNY", min_length=3, max_length=3)
    total: Decimal | None = None
    customer_ref: str | None = None
    ship_to: Address | None = None
    lines: tuple[OrderLine, ...] = Field(min_length=1)

    @property
    def key(self) -> str:
        return self.external_id


class ShipmentLine(Record):
    sku: Sku
    qty: int = Field(gt=0)


class Shipment(Record):
    """A parcel a warehouse shipped: for a dispatch instruction (by number) or an order."""

    channel: str
    order_external_id: str
    dispatch_number: str | None = None
    carrier: str
    tracking_no: str
    shipped_at: UtcDatetime | None = None
    lines: tuple[ShipmentLine, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.order_external_id}/{self.tracking_no}"


RECORD_TYPES: dict[str, type[Record]] = {
    "products": Product,
    "stock": StockLevel,
    "stock_moves": StockMove,
    "orders": Order,
    "shipments": Shipment,
}


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)
