"""Canonical records: the vocabulary every connector's payload is mapped into.

A connector yields raw dicts; ``mapping`` turns them into these records; ``sync`` lands them in
the store. Quantities are integers in the SKU's base unit (after unit conversion); money is
``Decimal`` with an ISO 4217 currency; datetimes are timezone-aware UTC.

A stock quantity as a source reports it (``StockLevel.on_hand``, ``StockMove.delta``) may be a
decimal — 12.5 kg — until the SKU's binding multiplies it by its ``uom_factor`` (1000: kg -> g,
12500); after that it must be a whole number of base units (``mapping.skus.Binder`` refuses it
otherwise, saying how to fix it). Whole values are kept as ``int`` from the start.

Each record has ``key``: the identity the engine de-duplicates and quarantines by. Each stream
kind (``sync.kinds``) carries one record type: ``products`` ``Product``, ``stock`` ``StockLevel``,
``stock_moves`` ``StockMove``, ``orders`` ``Order``, ``shipments`` ``Shipment``, ``listings``
``Listing``, ``returns`` ``Return``.

Keys — SKUs, location codes, order and move ids, dispatch and tracking numbers — follow one rule
(:func:`normalise_key`, the ``KEY`` validator): surrounding whitespace is dropped, so ``"A1 "`` is
``"A1"`` on every backend (MariaDB's PAD SPACE collation would merge them, SQLite would not), and a
key holding a control character (tab, line break, NUL) is refused.

>>> StockLevel(sku="A-1 ", location="WH1", on_hand=5).key
'A-1@WH1'
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("datetime has no timezone; add a tz converter to the field map")
    return value.astimezone(UTC)


def normalise_key(value: str) -> str:
    """Return a key as erpsync stores and compares it: without surrounding whitespace.

    Legacy ERPs keep codes in ``CHAR`` columns padded with spaces, and people paste codes with a
    stray blank: such a key is the same key. ``ValueError`` when one holds a control character.
    """
    key = value.strip()
    bad = next((c for c in key if unicodedata.category(c) in ("Cc", "Cs")), None)
    if bad is not None:
        what = "control character" if unicodedata.category(bad) == "Cc" else "lone surrogate"
        raise ValueError(
            f"contains the {what} U+{ord(bad):04X} "
            "(keys may not hold tabs, line breaks, other control characters or broken text)"
        )
    return key


def _key_input(value: Any) -> Any:
    return normalise_key(value) if isinstance(value, str) else value


#: the key rule for a record field; put it after the Field(...) limits (lengths apply to the result)
KEY = BeforeValidator(_key_input)

_MAX_DIGITS = 40


def _count(value: int | Decimal) -> int | Decimal:
    # a whole quantity is an int at once; a fraction waits for the binding's unit factor (and a
    # huge exponent stays a Decimal, for the schema limits to refuse without building the int)
    if isinstance(value, Decimal) and value.adjusted() <= _MAX_DIGITS and value == value.to_integral_value():
        return int(value)
    return value


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
#: a stock quantity as the source reports it: whole, or a decimal a unit factor makes whole
SourceQty = Annotated[int | Decimal, AfterValidator(_count)]
Sku = Annotated[str, Field(min_length=1, max_length=64), KEY]
LocationCode = Annotated[str, Field(min_length=1, max_length=64), KEY]


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
    location: LocationCode
    on_hand: SourceQty
    as_of: UtcDatetime | None = None

    @property
    def key(self) -> str:
        return f"{self.sku}@{self.location}"


class StockMove(Record):
    """A change of on-hand reported by a source (a delta stream); ``move_id`` is the source's id."""

    sku: Sku
    location: LocationCode
    delta: SourceQty
    move_id: Annotated[str, Field(min_length=1, max_length=191), KEY]
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
    channel: Annotated[str, Field(min_length=1, max_length=64), KEY]
    external_id: Annotated[str, Field(min_length=1, max_length=128), KEY]
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

    channel: Annotated[str, KEY]
    order_external_id: Annotated[str, KEY]
    dispatch_number: Annotated[str, KEY] | None = None
    carrier: str
    tracking_no: Annotated[str, KEY]
    shipped_at: UtcDatetime | None = None
    lines: tuple[ShipmentLine, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.order_external_id}/{self.tracking_no}"


class Listing(Record):
    """A product or variant as a sales channel lists it, and the SKU it sells (a ``listings`` stream)."""

    channel: Annotated[str, Field(min_length=1, max_length=64), KEY]
    external_id: Annotated[str, Field(min_length=1, max_length=128), KEY]
    sku: Sku
    title: str | None = Field(default=None, max_length=255)
    active: bool = True
    updated_at: UtcDatetime | None = None

    @property
    def key(self) -> str:
        return self.external_id


class ReturnLine(Record):
    sku: Sku
    qty: int = Field(gt=0)
    external_line_id: str | None = None


class Return(Record):
    """A refund or return a sales channel reports for one of its orders (a ``returns`` stream).

    ``lines`` are the units coming back; a refund of money alone has none.
    """

    channel: Annotated[str, Field(min_length=1, max_length=64), KEY]
    external_id: Annotated[str, Field(min_length=1, max_length=128), KEY]
    order_external_id: Annotated[str, Field(min_length=1, max_length=128), KEY]
    status: str = Field(min_length=1, max_length=32)
    created_at: UtcDatetime | None = None
    currency: str = Field(default="CNY", min_length=3, max_length=3)
    amount: Decimal | None = None
    reason: str | None = None
    lines: tuple[ReturnLine, ...] = ()

    @property
    def key(self) -> str:
        return self.external_id
