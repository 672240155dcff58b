"""Reconcile a page of a ``shipments`` stream: each record is a parcel for a dispatch instruction.

A warehouse (a CSV return file in a drop folder, a WMS's API) reports parcels through a stream
of any connector; each record names its instruction by ``dispatch_number``, or else by the order
``(channel, order_external_id)`` when that order has exactly one instruction still to ship.
Lines are matched by SKU. The parcel is then recorded as if reported through the HTTP API
(``routing.shipments.record_shipment``): reservations consumed, order status moved, the channel
told. A parcel already recorded (same instruction and tracking number) changes nothing.

A record that cannot be placed — no such instruction, an order with several instructions to
ship, SKUs the instruction does not have left, a parcel too many — is refused with a
``RecordError`` (``unknown_dispatch`` or ``shipment_refused``) and quarantined; the rest of the
page lands.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from core.errors import RecordError
from core.statuses import DISPATCH_TO_SHIP
from mapping.records import Shipment as ShipmentRecord
from routing.dispatch import NotAllowed, NotFound, lock_instruction
from routing.shipments import ShippedLine, open_lines_by_sku, record_shipment
from store.models import DispatchInstruction, SalesOrder, Shipment
from sync.reconcile import Outcome, PageContext


def reconcile_shipments(conn: Connection, records: Sequence[ShipmentRecord], ctx: PageContext) -> Outcome:
    """A ``shipments`` stream page: each record is a parcel for a dispatch instruction.

    The instruction is the record's ``dispatch_number``, or else the only instruction of the
    order ``(channel, order_external_id)`` still to ship; lines are matched by SKU.
    """
    out = Outcome(refused=[])
    for r in records:
        try:
            di = _instruction_for(conn, r)
            by_sku = open_lines_by_sku(conn, di.id)
            lines = [ShippedLine(by_sku[ln.sku], ln.qty) for ln in r.lines if ln.sku in by_sku] or None
            if r.lines and lines is None:
                raise RecordError(
                    f"instruction {di.number} has none of these SKUs left to ship", code="invalid"
                )
            before = conn.execute(
                select(Shipment.id).where(
                    Shipment.dispatch_id == di.id, Shipment.tracking_no == r.tracking_no
                )
            ).first()
            record_shipment(
                conn, di, carrier=r.carrier, tracking_no=r.tracking_no, lines=lines, shipped_at=r.shipped_at
            )
            out.changed += before is None
        except (NotFound, NotAllowed, RecordError) as exc:
            code = "unknown_dispatch" if isinstance(exc, NotFound) else "shipment_refused"
            error = exc if isinstance(exc, RecordError) else RecordError(str(exc), code=code)
            out.refused.append((r, error))  # type: ignore[union-attr]
    return out


def _instruction_for(conn: Connection, r: ShipmentRecord) -> Any:
    if r.dispatch_number:
        return lock_instruction(conn, r.dispatch_number, None)
    rows = (
        conn.execute(
            select(DispatchInstruction.number)
            .join(SalesOrder, SalesOrder.id == DispatchInstruction.order_id)
            .where(
                SalesOrder.channel == r.channel,
                SalesOrder.external_id == r.order_external_id,
                DispatchInstruction.status.in_(DISPATCH_TO_SHIP),
            )
        )
        .scalars()
        .all()
    )
    if len(rows) != 1:
        raise RecordError(
            f"order {r.channel}/{r.order_external_id} has {len(rows)} instructions to ship; "
            "give the dispatch number",
            code="unknown_dispatch",
            field="dispatch_number",
        )
    return lock_instruction(conn, rows[0], None)
