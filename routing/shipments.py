"""Shipments: a warehouse's parcels for a dispatch instruction — reported, reconciled, told onwards.

``record_shipment`` (in the caller's transaction) records carrier and tracking number for all or
some lines, consumes the reservations (``store.stock.ship_allocation``), moves the order to
``partially_shipped``/``shipped`` and queues the fulfilment for the originating channel (topic
``fulfilment.push``).

A parcel is identified by (instruction, tracking number): reporting it again changes nothing and
answers the order's status, as the first report did. A new parcel is refused (``NotAllowed``,
nothing written) when it holds more of a line than is left to ship on the instruction — the
error names the line, what was ordered and what earlier parcels already shipped — when a
quantity is below 1, or, without lines, when nothing is left to ship (a shipped or recalled
instruction). A line the instruction does not have is ``NotFound``. Warehouses report through
the HTTP API or the CLI (``report_shipment``), or through a ``shipments`` stream of any connector
— a CSV return file in a drop folder, a WMS's API — reconciled by ``sync.shipment_sync``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from core.clock import utcnow
from core.statuses import DispatchStatus, OrderStatus
from routing.dispatch import FULFIL_TOPIC, NotAllowed, NotFound, lock_instruction
from routing.order_messages import fulfilment_key
from store import orders as lifecycle
from store import stock
from store.db import retry_on_lock_conflict
from store.models import Allocation, DispatchInstruction, OrderLine, SalesOrder, Shipment
from store.outbox import enqueue


@dataclass(frozen=True)
class ShippedLine:
    line_no: int
    qty: int


def report_shipment(
    engine: Engine,
    number: str,
    *,
    carrier: str,
    tracking_no: str,
    lines: Sequence[ShippedLine] | None = None,
    shipped_at: datetime | None = None,
    locations: set[str] | None = None,
) -> str:
    """Record a parcel for an instruction (all of it, or ``lines``); returns the order's status.

    Run again when the database picks it as a deadlock victim: the import of a cancellation locks
    the order before its instructions, a report the other way round, and the parcel has left.
    """

    def attempt() -> str:
        with engine.begin() as conn:
            di = lock_instruction(conn, number, locations)
            return record_shipment(
                conn, di, carrier=carrier, tracking_no=tracking_no, lines=lines, shipped_at=shipped_at
            )

    return retry_on_lock_conflict(attempt)


def record_shipment(
    conn: Connection,
    di: Any,
    *,
    carrier: str,
    tracking_no: str,
    lines: Sequence[ShippedLine] | None = None,
    shipped_at: datetime | None = None,
) -> str:
    """``report_shipment`` inside the caller's transaction, for the (locked) instruction row ``di``."""
    when = shipped_at or utcnow()
    order = conn.execute(
        select(SalesOrder.__table__).where(SalesOrder.id == di.order_id).with_for_update()
    ).one()
    known = conn.execute(
        select(Shipment.id).where(Shipment.dispatch_id == di.id, Shipment.tracking_no == tracking_no)
    ).first()
    if known is not None:
        return str(order.status)  # the same parcel reported again
    shipped = _ship_lines(conn, di, lines, when)
    conn.execute(
        insert(Shipment).values(
            dispatch_id=di.id,
            carrier=carrier,
            tracking_no=tracking_no,
            shipped_at=when,
            lines={"lines": shipped},
            created_at=utcnow(),
        )
    )
    status = _after_shipment(conn, di, order, when, carrier=carrier, tracking=tracking_no)
    enqueue(
        conn,
        FULFIL_TOPIC,
        fulfilment_key(order.channel, order.external_id, tracking_no),
        {"order_id": order.id, "carrier": carrier, "tracking_no": tracking_no, "lines": shipped},
        partition=order.channel,
    )
    return status


def open_lines_by_sku(conn: Connection, instruction_id: int) -> dict[str, int]:
    """The line number of each SKU still reserved (left to ship) on an instruction."""
    rows = (
        conn.execute(
            select(OrderLine.sku, OrderLine.line_no)
            .join(Allocation, Allocation.order_line_id == OrderLine.id)
            .where(Allocation.dispatch_id == instruction_id, Allocation.status == stock.RESERVED)
        )
        .tuples()
        .all()
    )
    return dict(rows)


def _parcel_lines(conn: Connection, di: Any, lines: Sequence[ShippedLine] | None) -> list[tuple[Any, int]]:
    """Each reserved allocation row this parcel ships from, with the units; refuses what cannot ship."""
    rows = conn.execute(
        select(
            Allocation.id,
            Allocation.qty,
            Allocation.status,
            Allocation.order_line_id,
            OrderLine.line_no,
            OrderLine.sku,
            OrderLine.external_line_id,
            OrderLine.qty.label("ordered"),
            OrderLine.qty_shipped,
        )
        .join(OrderLine, OrderLine.id == Allocation.order_line_id)
        .where(Allocation.dispatch_id == di.id)
    ).all()
    open_rows = {r.line_no: r for r in rows if r.status == stock.RESERVED}
    if lines is None:
        if not open_rows:
            raise NotAllowed(
                f"dispatch instruction {di.number} is {di.status}: nothing is left to ship on it",
                hint="reporting an earlier parcel's tracking number again is accepted and changes nothing",
            )
        return [(r, r.qty) for _, r in sorted(open_rows.items())]
    on_instruction = {r.line_no: r for r in rows}
    unknown = sorted({ln.line_no for ln in lines} - set(on_instruction))
    if unknown:
        raise NotFound(f"dispatch instruction {di.number} has no line {', '.join(map(str, unknown))}")
    problems = []
    for ln in sorted(lines, key=lambda ln: ln.line_no):
        row, left = on_instruction[ln.line_no], getattr(open_rows.get(ln.line_no), "qty", 0)
        if ln.qty < 1:
            problems.append(f"line {ln.line_no} ({row.sku}): a quantity must be at least 1, not {ln.qty}")
        elif ln.qty > left:
            problems.append(
                f"line {ln.line_no} ({row.sku}): {row.ordered} ordered, {row.qty_shipped} already shipped, "
                f"{left} left to ship on {di.number}; this parcel has {ln.qty}"
            )
    if problems:
        raise NotAllowed(f"parcel refused: {'; '.join(problems)}")
    return [(open_rows[ln.line_no], ln.qty) for ln in sorted(lines, key=lambda ln: ln.line_no)]


def _ship_lines(
    conn: Connection, di: Any, lines: Sequence[ShippedLine] | None, when: datetime
) -> list[dict[str, Any]]:
    shipped = []
    for row, qty in _parcel_lines(conn, di, lines):
        allocation_id = row.id
        if qty < row.qty:  # a partial parcel: split the allocation, ship the part
            conn.execute(update(Allocation).where(Allocation.id == row.id).values(qty=row.qty - qty))
            new = conn.execute(
                insert(Allocation).values(
                    order_line_id=row.order_line_id,
                    location_id=di.location_id,
                    dispatch_id=di.id,
                    qty=qty,
                    status=stock.RESERVED,
                    created_at=when,
                    updated_at=when,
                )
            )
            allocation_id = int(new.inserted_primary_key[0])  # type: ignore[index]
        stock.ship_allocation(conn, allocation_id, shipped_at=when)
        conn.execute(
            update(OrderLine)
            .where(OrderLine.id == row.order_line_id)
            .values(qty_shipped=OrderLine.qty_shipped + qty)
        )
        shipped.append(
            {"line_no": row.line_no, "sku": row.sku, "external_line_id": row.external_line_id, "qty": qty}
        )
    return shipped


def _after_shipment(
    conn: Connection, di: Any, order: Any, when: datetime, *, carrier: str, tracking: str
) -> str:
    left_here = conn.execute(
        select(Allocation.id).where(Allocation.dispatch_id == di.id, Allocation.status == stock.RESERVED)
    ).first()
    conn.execute(
        update(DispatchInstruction)
        .where(DispatchInstruction.id == di.id)
        .values(
            status=DispatchStatus.PARTIALLY_SHIPPED if left_here else DispatchStatus.SHIPPED,
            shipped_at=when,
            carrier=carrier,
            tracking_no=tracking,
            updated_at=utcnow(),
        )
    )
    remaining = conn.execute(
        select(OrderLine.id).where(OrderLine.order_id == order.id, OrderLine.qty_shipped < OrderLine.qty)
    ).first()
    target = OrderStatus.PARTIALLY_SHIPPED if remaining else OrderStatus.SHIPPED
    if target != order.status:
        lifecycle.transition(conn, order.id, target)
    return target
