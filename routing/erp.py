"""Create each dispatched order's sales document in the ERP, when configured.

With ``routing.erp_connector`` set, dispatching an order also queues it (topic
``erp.sales_order``, partition = the ERP connector); ``ErpOrderHandler`` turns it into a
``SalesDoc`` and calls the connector's ``create_sales_order``, which finds the document already
made for the same ``ref`` (``channel/external_id``) instead of creating a second one. The
document names the location the order was routed to (its first part's, when split), which an
ERP connector turns into its own warehouse. The ERP's document id is kept in the audit log.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import partial

from sqlalchemy import Engine, insert, select

from core.clock import utcnow
from core.ports import SalesDoc, SalesDocLine, SalesOrderSink
from delivery.outcomes import Delivered, Outcome, Retry
from store.db import retry_on_lock_conflict
from store.models import AuditLog, DispatchInstruction, Location, OrderLine, SalesOrder
from store.outbox import Message

TOPIC = "erp.sales_order"


def sales_doc(engine: Engine, order_id: int, unseal: Callable[[str], str] | None) -> SalesDoc:
    """The ERP's view of an order: its lines in our SKUs and base units, at the order's prices."""
    with engine.connect() as conn:
        o = conn.execute(select(SalesOrder.__table__).where(SalesOrder.id == order_id)).one()
        lines = conn.execute(
            select(OrderLine.sku, OrderLine.qty, OrderLine.unit_price)
            .where(OrderLine.order_id == order_id)
            .order_by(OrderLine.line_no)
        ).all()
        location = conn.execute(
            select(Location.code)
            .join(DispatchInstruction, DispatchInstruction.location_id == Location.id)
            .where(DispatchInstruction.order_id == order_id)
            .order_by(DispatchInstruction.part_no, DispatchInstruction.id)
            .limit(1)
        ).scalar()
    ship_to = json.loads(unseal(o.ship_to_sealed)) if o.ship_to_sealed and unseal else {}
    return SalesDoc(
        f"{o.channel}/{o.external_id}",
        o.customer_ref,
        o.currency,
        tuple(SalesDocLine(ln.sku, ln.qty, str(ln.unit_price)) for ln in lines),
        ship_to,
        location,
    )


class ErpOrderHandler:
    """Outbox handler for ``erp.sales_order``."""

    def __init__(
        self, engine: Engine, sinks: Mapping[str, SalesOrderSink], unseal: Callable[[str], str] | None
    ) -> None:
        self.engine, self.sinks, self.unseal = engine, sinks, unseal

    def __call__(self, messages: list[Message]) -> list[Outcome]:
        sink = self.sinks.get(messages[0].partition)
        if sink is None:
            return [Retry(f"connector {messages[0].partition!r} cannot create sales orders")] * len(messages)
        outcomes: list[Outcome] = []
        for m in messages:
            doc = sales_doc(self.engine, m.payload["order_id"], self.unseal)
            erp_id = sink.create_sales_order(doc)
            retry_on_lock_conflict(partial(self._record, sink.name, doc.ref, erp_id))
            outcomes.append(Delivered())
        return outcomes

    def _record(self, sink: str, ref: str, erp_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(AuditLog).values(
                    at=utcnow(),
                    actor=sink,
                    action="erp_sales_order",
                    target_type="order",
                    target=ref,
                    details={"erp_id": erp_id},
                )
            )
