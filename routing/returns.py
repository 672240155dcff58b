"""Returns (退货): opt-in per channel; returned units are restocked at a location or written off.

``record_return`` checks that the order's channel accepts returns (``routing.returns`` in the
config), that each line has that many units shipped and not yet returned, then restocks them
(``stock_movement`` reason ``return`` at the channel's ``restock_to`` location) or, without one,
writes them off (no stock change; the audit log keeps who and why). The order becomes
``partially_returned`` or ``returned``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Engine, insert, select, update

from core.clock import utcnow
from core.errors import ErpsyncError
from core.statuses import OrderStatus
from routing.shipments import ShippedLine
from store import orders as lifecycle
from store import stock
from store.models import AuditLog, Location, OrderLine, SalesOrder


class ReturnRefused(ErpsyncError):
    """The return cannot be recorded as asked (channel not opted in, more than was shipped...)."""


def record_return(
    engine: Engine,
    order_id: int,
    lines: Sequence[ShippedLine],
    *,
    policies: Mapping[str, str | None],
    actor: str,
) -> str:
    """Record returned units; ``policies`` maps a channel to its restock location (None: write off)."""
    with engine.begin() as conn:
        order = conn.execute(
            select(SalesOrder.channel, SalesOrder.external_id, SalesOrder.status)
            .where(SalesOrder.id == order_id)
            .with_for_update()
        ).one()
        name = f"{order.channel}/{order.external_id}"
        if order.channel not in policies:
            raise ReturnRefused(
                f"order {name}: channel {order.channel!r} does not take returns",
                hint="add it under routing.returns in the config",
            )
        restock = policies[order.channel]
        location_id = (
            conn.execute(select(Location.id).where(Location.code == restock)).scalar_one()
            if restock
            else None
        )
        by_no = {
            r.line_no: r
            for r in conn.execute(select(OrderLine.__table__).where(OrderLine.order_id == order_id))
        }
        for ln in lines:
            row = by_no.get(ln.line_no)
            if row is None or ln.qty < 1 or row.qty_returned + ln.qty > row.qty_shipped:
                left = 0 if row is None else row.qty_shipped - row.qty_returned
                raise ReturnRefused(
                    f"order {name} line {ln.line_no}: {ln.qty} returned but only {left} shipped "
                    "and not yet returned"
                )
            conn.execute(
                update(OrderLine)
                .where(OrderLine.id == row.id)
                .values(qty_returned=OrderLine.qty_returned + ln.qty)
            )
            if location_id is not None:
                stock.receive_return(
                    conn, row.sku, location_id, ln.qty, ref_type="order_line", ref=str(row.id)
                )
        conn.execute(
            insert(AuditLog).values(
                at=utcnow(),
                actor=actor,
                action="return",
                target_type="order",
                target=name,
                details={
                    "lines": [{"line_no": ln.line_no, "qty": ln.qty} for ln in lines],
                    "restock_to": restock,
                },
            )
        )
        outstanding = conn.execute(
            select(OrderLine.id).where(OrderLine.order_id == order_id, OrderLine.qty_returned < OrderLine.qty)
        ).first()
        target = OrderStatus.PARTIALLY_RETURNED if outstanding else OrderStatus.RETURNED
        lifecycle.transition(conn, order_id, target)
        return target
