"""Check canonical records against the columns they land in, before the page's transaction.

One value too big for its column — a 300-character line description, an order-line id over 128,
a province over 191, a price of 1e20, a quantity beyond ``BIGINT`` — made MariaDB refuse the
whole page, every retry the same way, while SQLite stored it. :func:`find_misfits` finds such
records first, the same way on both backends, so the engine quarantines them with a reason
naming the field and the limit and lands the rest::

    lines[2].description: 300 characters, more than the 255 order_line.description holds

The limits are read from the models (``store.limits``); this module only says which field of
which record kind lands in which column — ``CHECKS``, one entry per written field, including
derived ones such as the order's ``ship_region`` (``province/city/district``). Codes:
``too_long``, ``out_of_range``, ``not_whole``, ``invalid_text``. What the check cannot foresee
(a trigger, a constraint) the engine still isolates: see ``sync.isolate``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import RecordError
from mapping.records import Order, Product, Record, Shipment, StockLevel, StockMove
from store.limits import ColumnLimit, column_limit
from store.models import Location, OrderLine, SalesOrder, StockMovement
from store.models import Product as ProductRow
from store.models import Shipment as ShipmentRow
from store.models import StockLevel as StockRow
from sync.order_sync import ship_region

Values = Callable[[Any], Iterator[tuple[str, Any]]]


@dataclass(frozen=True)
class Check:
    """The values ``values`` finds in a record (field name, value) must fit ``limit``.

    ``path`` names the record field: ``"name"``, ``"ship_to.city"``, ``"lines[].qty"``.
    """

    path: str
    values: Values
    limit: ColumnLimit


def field(path: str, column: Any) -> Check:
    """A (dotted) field of the record: ``"name"``, ``"ship_to.postal_code"``."""

    def values(record: Any) -> Iterator[tuple[str, Any]]:
        value = record
        for part in path.split("."):
            value = getattr(value, part, None)
        yield path, value

    return Check(path, values, column_limit(column))


def each(items: str, name: str, column: Any) -> Check:
    """A field of each item of a list: ``each("lines", "qty", ...)`` gives ``lines[0].qty``, ..."""

    def values(record: Any) -> Iterator[tuple[str, Any]]:
        for index, item in enumerate(getattr(record, items)):
            yield f"{items}[{index}].{name}", getattr(item, name)

    return Check(f"{items}[].{name}", values, column_limit(column))


def derived(label: str, compute: Callable[[Any], Any], column: Any) -> Check:
    """A value the writer computes from the record (reported under ``label``)."""

    def values(record: Any) -> Iterator[tuple[str, Any]]:
        yield label, compute(record)

    return Check(label, values, column_limit(column))


_REGION = column_limit(SalesOrder.ship_region)


def _joined_region(order: Order) -> str | None:
    """The stored region when its parts fit one by one (a part too long is reported by name)."""
    region = ship_region(order)
    parts = region.split("/") if region else []
    fits = all(_REGION.problem(part) is None for part in parts)
    return region if len(parts) > 1 and fits else None


CHECKS: dict[type[Record], tuple[Check, ...]] = {
    Product: (
        field("sku", ProductRow.sku),
        field("name", ProductRow.name),
        field("uom", ProductRow.uom),
        field("barcode", ProductRow.barcode),
        field("category", ProductRow.category),
    ),
    StockLevel: (
        field("sku", StockRow.sku),
        field("location", Location.code),
        field("on_hand", StockRow.on_hand),
    ),
    StockMove: (
        field("sku", StockMovement.sku),
        field("location", Location.code),
        field("delta", StockMovement.delta_on_hand),
        field("move_id", StockMovement.external_ref),
    ),
    Order: (
        field("channel", SalesOrder.channel),
        field("external_id", SalesOrder.external_id),
        field("status", SalesOrder.source_status),
        field("currency", SalesOrder.currency),
        field("total", SalesOrder.total),
        field("customer_ref", SalesOrder.customer_ref),
        field("ship_to.province", SalesOrder.ship_region),
        field("ship_to.city", SalesOrder.ship_region),
        field("ship_to.district", SalesOrder.ship_region),
        derived("ship_to (province/city/district)", _joined_region, SalesOrder.ship_region),
        field("ship_to.postal_code", SalesOrder.ship_postal),
        each("lines", "sku", OrderLine.sku),
        each("lines", "external_line_id", OrderLine.external_line_id),
        each("lines", "description", OrderLine.description),
        each("lines", "qty", OrderLine.qty),
        each("lines", "unit_price", OrderLine.unit_price),
    ),
    Shipment: (
        field("carrier", ShipmentRow.carrier),
        field("tracking_no", ShipmentRow.tracking_no),
        each("lines", "sku", OrderLine.sku),
        each("lines", "qty", OrderLine.qty_shipped),
    ),
}


def misfit(record: Record) -> RecordError | None:
    """Why ``record`` does not fit the columns it lands in (every problem, one a clause), or None."""
    problems: list[tuple[str, str, str]] = []
    for check in CHECKS.get(type(record), ()):
        for name, value in check.values(record):
            found = check.limit.problem(value)
            if found is not None:
                problems.append((name, *found))
    if not problems:
        return None
    name, code, _ = problems[0]
    return RecordError("; ".join(f"{n}: {text}" for n, _, text in problems), code=code, field=name)


def find_misfits(records: Mapping[str, Record]) -> list[tuple[str, RecordError]]:
    """The keys of the records that do not fit the schema, with the reason for each."""
    found = []
    for key, record in records.items():
        error = misfit(record)
        if error is not None:
            found.append((key, error))
    return found
