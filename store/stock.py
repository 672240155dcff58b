"""Stock changes outside the sync path: reservations, shipments, returns and adjustments.

Every function works inside the caller's transaction and writes a ``stock_movement`` ledger row
for each change, so ``on_hand`` and ``reserved`` always equal the sums of the ledger's deltas.

Reservations never oversell: ``reserve`` is one conditional ``UPDATE … SET reserved = reserved +
q WHERE on_hand - reserved - safety_stock >= q``. The database applies it atomically under the
row lock it takes, so however many workers race for the last units, the sum reserved never
exceeds ``on_hand − safety_stock`` (MySQL/MariaDB row lock; SQLite's ``BEGIN IMMEDIATE``).

Shipments and the ERP (why nothing is counted twice): at a location whose on-hand comes from a
source system (``location.stock_source``), a shipment does not change ``on_hand`` itself — the
source will. The allocation is marked ``shipped`` and its units **stay reserved** until a stock
reading of that source taken at or after the shipment arrives (``settle_shipped``); that reading
already excludes the units, so only then is the reservation released. Readings older than the
shipment leave it reserved. At a location erpsync keeps the books for (no ``stock_source``), the
shipment takes the units off ``on_hand`` and ``reserved`` at once.

>>> with engine.begin() as conn:                                      # doctest: +SKIP
...     allocation = allocate(conn, order_line_id=7, sku="TEA-001", location_id=1, qty=2)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, select, update

from core.clock import utcnow
from store.batching import select_in
from store.models import Allocation, Location, StockLevel, StockMovement
from store.upsert import increment, upsert

RESERVED, SHIPPED, CONSUMED, RELEASED = "reserved", "shipped", "consumed", "released"


@dataclass(frozen=True)
class Level:
    on_hand: int
    reserved: int


def _level(conn: Connection, sku: str, location_id: int) -> Level:
    row = conn.execute(
        select(StockLevel.on_hand, StockLevel.reserved).where(
            StockLevel.sku == sku, StockLevel.location_id == location_id
        )
    ).one()
    return Level(row.on_hand, row.reserved)


def _apply(
    conn: Connection,
    sku: str,
    location_id: int,
    *,
    reason: str,
    ref_type: str,
    ref: str,
    d_on_hand: int = 0,
    d_reserved: int = 0,
    condition: Any = None,
) -> bool:
    """Change one level row by the deltas and ledger it; False (nothing done) when ``condition`` fails."""
    if condition is None:  # unconditional changes may meet a SKU new at this location
        upsert(
            conn,
            StockLevel,
            [
                {
                    "sku": sku,
                    "location_id": location_id,
                    "on_hand": 0,
                    "reserved": 0,
                    "version": 0,
                    "updated_at": utcnow(),
                }
            ],
            key=["sku", "location_id"],
            update={"version": StockLevel.version},
        )
    where = and_(StockLevel.sku == sku, StockLevel.location_id == location_id)
    if condition is not None:
        where = and_(where, condition)
    changed = conn.execute(
        update(StockLevel)
        .where(where)
        .values(
            on_hand=StockLevel.on_hand + d_on_hand,
            reserved=StockLevel.reserved + d_reserved,
            version=increment(StockLevel.version),
            updated_at=utcnow(),
        )
    ).rowcount
    if not changed:
        return False
    after = _level(conn, sku, location_id)
    conn.execute(
        insert(StockMovement).values(
            sku=sku,
            location_id=location_id,
            reason=reason,
            delta_on_hand=d_on_hand,
            delta_reserved=d_reserved,
            on_hand_after=after.on_hand,
            reserved_after=after.reserved,
            ref_type=ref_type,
            ref=ref,
            source="erpsync",
            created_at=utcnow(),
        )
    )
    return True


def reserve(conn: Connection, sku: str, location_id: int, qty: int, *, ref_type: str, ref: str) -> bool:
    """Reserve ``qty`` if ``on_hand − reserved − safety_stock`` allows it; False (nothing done) if not."""
    safety = select(Location.safety_stock).where(Location.id == location_id).scalar_subquery()
    free = StockLevel.on_hand - StockLevel.reserved - safety
    if qty <= 0:
        return False
    return _apply(
        conn,
        sku,
        location_id,
        reason="reserve",
        ref_type=ref_type,
        ref=ref,
        d_reserved=qty,
        condition=free >= qty,
    )


def release(
    conn: Connection,
    sku: str,
    location_id: int,
    qty: int,
    *,
    ref_type: str,
    ref: str,
    reason: str = "release",
) -> None:
    """Give reserved units back (a cancellation, or a shipment the source now reflects)."""
    _apply(conn, sku, location_id, reason=reason, ref_type=ref_type, ref=ref, d_reserved=-qty)


def consume(conn: Connection, sku: str, location_id: int, qty: int, *, ref_type: str, ref: str) -> None:
    """A shipment from a location erpsync keeps the books for: units leave on-hand and reserved."""
    _apply(
        conn, sku, location_id, reason="dispatch", ref_type=ref_type, ref=ref, d_on_hand=-qty, d_reserved=-qty
    )


def receive_return(
    conn: Connection, sku: str, location_id: int, qty: int, *, ref_type: str, ref: str
) -> None:
    """Returned units restocked at a location."""
    _apply(conn, sku, location_id, reason="return", ref_type=ref_type, ref=ref, d_on_hand=qty)


def adjust(conn: Connection, sku: str, location_id: int, delta: int, *, ref: str) -> None:
    """A manual correction of on-hand (a count, a write-off), recorded with who/why in ``ref``."""
    _apply(conn, sku, location_id, reason="adjust", ref_type="adjust", ref=ref, d_on_hand=delta)


def allocate(conn: Connection, order_line_id: int, sku: str, location_id: int, qty: int) -> int | None:
    """Reserve an order line's units at a location; the new allocation's id, or None if short."""
    if not reserve(conn, sku, location_id, qty, ref_type="order_line", ref=str(order_line_id)):
        return None
    now = utcnow()
    result = conn.execute(
        insert(Allocation).values(
            order_line_id=order_line_id,
            location_id=location_id,
            qty=qty,
            status=RESERVED,
            created_at=now,
            updated_at=now,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _allocation(conn: Connection, allocation_id: int, sku_of_line: Any) -> Any:
    return conn.execute(
        select(
            Allocation.id,
            Allocation.location_id,
            Allocation.qty,
            Allocation.status,
            sku_of_line,
            Location.stock_source,
        )
        .join(Location, Location.id == Allocation.location_id)
        .where(Allocation.id == allocation_id)
        .with_for_update()
    ).one()


def _line_sku() -> Any:
    from store.models import OrderLine

    return (
        select(OrderLine.sku).where(OrderLine.id == Allocation.order_line_id).scalar_subquery().label("sku")
    )


def cancel_allocation(conn: Connection, allocation_id: int) -> None:
    """Release a reserved allocation (order cancelled or re-routed)."""
    a = _allocation(conn, allocation_id, _line_sku())
    if a.status != RESERVED:
        return
    release(conn, a.sku, a.location_id, a.qty, ref_type="allocation", ref=str(a.id))
    conn.execute(update(Allocation).where(Allocation.id == a.id).values(status=RELEASED, updated_at=utcnow()))


def ship_allocation(conn: Connection, allocation_id: int, shipped_at: datetime | None = None) -> None:
    """Record that an allocation's units left the building (see the module docstring)."""
    a = _allocation(conn, allocation_id, _line_sku())
    if a.status != RESERVED:
        return
    when = shipped_at or utcnow()
    if a.stock_source is None:
        consume(conn, a.sku, a.location_id, a.qty, ref_type="allocation", ref=str(a.id))
        status = CONSUMED
    else:
        status = SHIPPED
    conn.execute(
        update(Allocation)
        .where(Allocation.id == a.id)
        .values(status=status, shipped_at=when, updated_at=utcnow())
    )


def settle_shipped(
    conn: Connection, keys: list[tuple[str, int]], as_of: dict[tuple[str, int], datetime]
) -> int:
    """Release shipped allocations that a source reading (taken at ``as_of``) already reflects."""
    if not keys:
        return 0
    from store.models import OrderLine

    rows = select_in(
        conn,
        lambda part: (
            select(
                Allocation.id, Allocation.location_id, Allocation.qty, Allocation.shipped_at, OrderLine.sku
            )
            .join(OrderLine, OrderLine.id == Allocation.order_line_id)
            .where(
                Allocation.status == SHIPPED,
                Allocation.location_id.in_({loc for _, loc in part}),
                OrderLine.sku.in_({sku for sku, _ in part}),
            )
            .with_for_update()
        ),
        sorted(set(keys)),
        per_value=2,
    )
    settled = 0
    # slices select by SKUs and locations apart: an allocation may come back from two of them
    for row in {row.id: row for row in rows}.values():
        taken = as_of.get((row.sku, row.location_id))
        if taken is None or row.shipped_at is None or row.shipped_at > taken:
            continue
        release(
            conn, row.sku, row.location_id, row.qty, ref_type="allocation", ref=str(row.id), reason="dispatch"
        )
        conn.execute(
            update(Allocation).where(Allocation.id == row.id).values(status=CONSUMED, updated_at=utcnow())
        )
        settled += 1
    return settled
