"""Tell the originating channel that (part of) an order shipped, with carrier and tracking number.

``FulfilmentHandler`` is the outbox handler for ``fulfilment.push`` (partition = channel). Each
message is one parcel (see ``routing.shipments.record_shipment``); it is turned into the channel's
``Fulfilment`` — its own order id and line ids, the quantities in the channel's units — and sent
with the message key as idempotency key, so a retry never records a parcel twice.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Engine, select

from core.ports import Fulfilment, FulfilmentChannel, FulfilmentLine
from delivery.outcomes import Delivered, Outcome, Retry
from store.bindings import reverse_bindings
from store.models import SalesOrder
from store.outbox import Message


class FulfilmentHandler:
    """Outbox handler for ``fulfilment.push``."""

    def __init__(self, engine: Engine, channels: Mapping[str, FulfilmentChannel]) -> None:
        self.engine, self.channels = engine, channels

    def __call__(self, messages: list[Message]) -> list[Outcome]:
        channel = self.channels.get(messages[0].partition)
        if channel is None:
            return [
                Retry(
                    f"channel {messages[0].partition!r} cannot receive fulfilments: add "
                    "`fulfilment_push:` to its settings"
                )
            ] * len(messages)
        outcomes: list[Outcome] = []
        for m in messages:
            with self.engine.connect() as conn:
                external_id = conn.execute(
                    select(SalesOrder.external_id).where(SalesOrder.id == m.payload["order_id"])
                ).scalar_one()
                units = reverse_bindings(conn, channel.name, [ln["sku"] for ln in m.payload["lines"]])
            lines = tuple(  # back to the channel's SKU and units (a pack of 6 counts as 1)
                FulfilmentLine(
                    ln.get("external_line_id"), units[ln["sku"]][0], ln["qty"] // units[ln["sku"]][1]
                )
                for ln in m.payload["lines"]
            )
            channel.push_fulfilment(
                Fulfilment(external_id, m.payload["carrier"], m.payload["tracking_no"], lines, ref=m.key)
            )
            outcomes.append(Delivered())
        return outcomes
