"""Dispatch instructions after they are created: delivery, acknowledgement, SLA, recall, shipment.

- **Delivery**: the outbox handler ``InstructionHandler`` builds each instruction's document at
  send time (the buyer's address is decrypted only then, never stored in clear in the queue) and
  hands it to ``routing.delivery.DispatchSender`` (signed webhook, CSV drop, e-mail).
- **Acknowledgement**: ``acknowledge`` (HTTP endpoint or ``erpsync dispatch ack``), idempotent; a
  warehouse may only acknowledge its own locations' instructions (``Forbidden``).
- **SLA**: ``resend_overdue`` re-sends an instruction not acknowledged by its due time and marks
  it escalated (the alerts pick escalations up). A re-send still queued when the acknowledgement
  comes in is not sent: the handler checks the instruction's state right before each delivery.
- **Recall**: an order cancelled after dispatch gets a recall message; when the warehouse
  acknowledges the recall, the reservations are released and the order is cancelled. A parcel
  reported before that acknowledgement wins: the order is shipped, a recall still queued is not
  sent, and a late acknowledgement of it changes nothing (docs/orders.md).
- **Shipment**: see ``routing.shipments``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, or_, select, update

from core.clock import utcnow
from core.errors import ErpsyncError
from core.statuses import (
    DISPATCH_RECALLABLE,
    DISPATCH_RECALLING,
    DISPATCH_TO_SHIP,
    DISPATCH_UNACKNOWLEDGED,
    DispatchStatus,
    OrderStatus,
)
from delivery.outcomes import Delivered, Outcome, Retry
from routing.delivery import DispatchSender
from store import orders as lifecycle
from store import stock
from store.db import retry_on_lock_conflict
from store.models import (
    Allocation,
    DispatchInstruction,
    Location,
    OrderLine,
    Outbox,
    Product,
    SalesOrder,
)
from store.outbox import Message, enqueue, message_key

SEND_TOPIC = "dispatch.send"
FULFIL_TOPIC = "fulfilment.push"
log = structlog.get_logger("erpsync.dispatch")


class NotFound(ErpsyncError):
    """No dispatch instruction with that number."""


class Forbidden(ErpsyncError):
    """The caller may not act on this location's instructions."""


class NotAllowed(ErpsyncError):
    """The instruction's state refuses the change (a re-send of a shipped one, a parcel too many)."""


def lock_instruction(conn: Connection, number: str, locations: set[str] | None) -> Any:
    """The instruction row ``number`` (locked); ``NotFound``, or ``Forbidden`` outside ``locations``."""
    query = (
        select(DispatchInstruction.__table__, Location.code.label("location_code"))
        .join(Location, Location.id == DispatchInstruction.location_id)
        .where(DispatchInstruction.number == number)
    )
    row = conn.execute(query.with_for_update()).first()
    if row is None:
        raise NotFound(f"no dispatch instruction {number}", hint="see `erpsync dispatch list`")
    if locations is not None and row.location_code not in locations:
        raise Forbidden(f"dispatch instruction {number} belongs to another location")
    return row


def instruction_document(
    conn: Connection, instruction_id: int, kind: str, unseal: Callable[[str], str] | None
) -> dict[str, Any]:
    """The instruction as its location receives it (see ``routing.delivery``)."""
    di = conn.execute(
        select(DispatchInstruction.__table__).where(DispatchInstruction.id == instruction_id)
    ).one()
    order = conn.execute(select(SalesOrder.__table__).where(SalesOrder.id == di.order_id)).one()
    loc = conn.execute(select(Location.code, Location.name).where(Location.id == di.location_id)).one()
    lines = conn.execute(
        select(
            OrderLine.line_no, OrderLine.sku, OrderLine.description, Allocation.qty, Product.name, Product.uom
        )
        .join(Allocation, Allocation.order_line_id == OrderLine.id)
        .outerjoin(Product, Product.sku == OrderLine.sku)
        .where(Allocation.dispatch_id == instruction_id)
        .order_by(OrderLine.line_no)
    ).all()
    ship_to = json.loads(unseal(order.ship_to_sealed)) if order.ship_to_sealed and unseal else {}
    return {
        "number": di.number,
        "kind": kind,
        "location": {"code": loc.code, "name": loc.name},
        "order": {"channel": order.channel, "external_id": order.external_id},
        "created_at": di.created_at.isoformat(),
        "due_at": di.due_at.isoformat() if di.due_at else None,
        "carrier_hint": di.carrier_hint,
        "ship_to": ship_to,
        "lines": [
            {
                "line_no": ln.line_no,
                "sku": ln.sku,
                "description": ln.description or ln.name,
                "qty": ln.qty,
                "uom": ln.uom or "pcs",
            }
            for ln in lines
        ],
        "note": "The order was cancelled: do not ship; acknowledge when stopped."
        if kind == "recall"
        else None,
    }


def queue_send(
    conn: Connection,
    instruction_id: int,
    number: str,
    location: str,
    *,
    attempt: int | str,
    kind: str = "dispatch",
    overdue: bool = False,
) -> None:
    """Queue one delivery of an instruction to its location; each ``attempt`` is queued once.

    ``overdue`` marks an SLA re-send: it is dropped unsent if the instruction is acknowledged
    (or further along) by the time its turn comes.
    """
    payload: dict[str, Any] = {"instruction_id": instruction_id, "kind": kind}
    if overdue:
        payload["overdue"] = True
    enqueue(conn, SEND_TOPIC, f"{SEND_TOPIC}:{number}:{attempt}", payload, partition=location)


def moot(payload: dict[str, Any], status: str) -> str | None:
    """Why a queued delivery no longer needs to go out (None: it does), from the instruction's status.

    A recall of an instruction that has shipped (the parcel was reported first) or was already
    recalled, and an SLA re-send of one the warehouse has acknowledged since, would only tell the
    warehouse something wrong or stale.
    """
    if payload.get("kind") == "recall" and status not in DISPATCH_RECALLING:
        return f"the instruction is {status}: the recall is moot"
    if payload.get("overdue") and status not in DISPATCH_UNACKNOWLEDGED:
        return f"the instruction is {status}: the overdue re-send is moot"
    return None


class InstructionHandler:
    """Outbox handler for ``dispatch.send``: builds each document and delivers it."""

    def __init__(self, engine: Engine, sender: DispatchSender, unseal: Callable[[str], str] | None) -> None:
        self.engine, self.sender, self.unseal = engine, sender, unseal

    def __call__(self, messages: list[Message]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for m in messages:
            with self.engine.connect() as conn:
                status = conn.execute(
                    select(DispatchInstruction.status).where(
                        DispatchInstruction.id == m.payload["instruction_id"]
                    )
                ).scalar_one()
                reason = moot(m.payload, status)
                if reason is not None:
                    log.info("dispatch message not sent", key=m.key, location=m.partition, reason=reason)
                    outcomes.append(Delivered())
                    continue
                doc = instruction_document(conn, m.payload["instruction_id"], m.payload["kind"], self.unseal)
            outcome = self.sender.deliver(replace(m, payload=doc))
            outcomes.append(outcome)
            if not isinstance(outcome, Delivered):
                break
            self._sent(m.payload["instruction_id"], m.payload["kind"])
        waiting = Retry("waiting for an earlier instruction of this location")
        return outcomes + [waiting] * (len(messages) - len(outcomes))

    def _sent(self, instruction_id: int, kind: str) -> None:
        # run again if chosen as a deadlock victim: the instruction went out, its state must say so
        retry_on_lock_conflict(partial(self._record_sent, instruction_id, kind, utcnow()))

    def _record_sent(self, instruction_id: int, kind: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            if kind == "recall":
                # only a requested recall becomes sent: a parcel reported meanwhile keeps it shipped
                conn.execute(
                    update(DispatchInstruction)
                    .where(
                        DispatchInstruction.id == instruction_id,
                        DispatchInstruction.status == DispatchStatus.RECALL_REQUESTED,
                    )
                    .values(status=DispatchStatus.RECALL_SENT, updated_at=now)
                )
            else:
                conn.execute(
                    update(DispatchInstruction)
                    .where(
                        DispatchInstruction.id == instruction_id,
                        DispatchInstruction.status == DispatchStatus.QUEUED,
                    )
                    .values(status=DispatchStatus.SENT, sent_at=now, updated_at=now)
                )


def acknowledge(engine: Engine, number: str, *, by: str, locations: set[str] | None = None) -> str:
    """Record the warehouse's acknowledgement; returns the instruction's status afterwards.

    Run again when chosen as a deadlock victim (a recall's acknowledgement locks the instruction,
    then the order, which an import of the order locks first): an acknowledgement is never lost.
    """
    return retry_on_lock_conflict(partial(_acknowledge, engine, number, by, locations))


def _acknowledge(engine: Engine, number: str, by: str, locations: set[str] | None) -> str:
    with engine.begin() as conn:
        di = lock_instruction(conn, number, locations)
        now = utcnow()
        if di.status == DispatchStatus.RECALL_SENT or (
            di.status == DispatchStatus.RECALL_REQUESTED and _recall_on_its_way(conn, number)
        ):
            for allocation_id in conn.execute(
                select(Allocation.id).where(
                    Allocation.dispatch_id == di.id, Allocation.status == stock.RESERVED
                )
            ).scalars():
                stock.cancel_allocation(conn, allocation_id)
            conn.execute(
                update(DispatchInstruction)
                .where(DispatchInstruction.id == di.id)
                .values(status=DispatchStatus.RECALLED, acknowledged_by=by, updated_at=now)
            )
            open_parts = conn.execute(
                select(DispatchInstruction.id).where(
                    DispatchInstruction.order_id == di.order_id,
                    DispatchInstruction.status != DispatchStatus.RECALLED,
                )
            ).first()
            if open_parts is None:
                lifecycle.transition(conn, di.order_id, OrderStatus.CANCELLED)
            return DispatchStatus.RECALLED
        if di.status in DISPATCH_UNACKNOWLEDGED:
            conn.execute(
                update(DispatchInstruction)
                .where(DispatchInstruction.id == di.id)
                .values(
                    status=DispatchStatus.ACKNOWLEDGED,
                    acknowledged_at=now,
                    acknowledged_by=by,
                    updated_at=now,
                )
            )
            return DispatchStatus.ACKNOWLEDGED
        return str(di.status)


def _recall_on_its_way(conn: Connection, number: str) -> bool:
    """Whether the instruction's recall is being delivered or was (its being sent not yet recorded).

    A warehouse's system may acknowledge the recall before erpsync has recorded that it went out
    (while erpsync's request is still open); that acknowledgement is the recall's. Once the recall
    is on its way, an acknowledgement crossing it means the same: the warehouse is told to stop.
    """
    key = message_key(f"{SEND_TOPIC}:{number}:recall")
    found = conn.execute(
        select(Outbox.id).where(
            Outbox.key == key, or_(Outbox.delivered_at.is_not(None), Outbox.claimed_by.is_not(None))
        )
    ).first()
    return found is not None


def request_recalls(engine: Engine) -> int:
    """Queue a recall for each instruction whose order the channel cancelled after dispatch."""
    with engine.begin() as conn:
        rows = conn.execute(
            select(DispatchInstruction.id, DispatchInstruction.number, Location.code)
            .join(Location, Location.id == DispatchInstruction.location_id)
            .where(
                DispatchInstruction.recall_requested_at.is_not(None),
                DispatchInstruction.status.in_(DISPATCH_RECALLABLE),
            )
            .with_for_update()
        ).all()
        for r in rows:
            queue_send(conn, r.id, r.number, r.code, attempt="recall", kind="recall")
            conn.execute(
                update(DispatchInstruction)
                .where(DispatchInstruction.id == r.id)
                .values(status=DispatchStatus.RECALL_REQUESTED, updated_at=utcnow())
            )
    return len(rows)


def resend_overdue(engine: Engine, now: datetime | None = None) -> list[str]:
    """Re-send instructions past their due time without acknowledgement; mark them escalated."""
    now = now or utcnow()
    with engine.begin() as conn:
        rows = conn.execute(
            select(
                DispatchInstruction.id,
                DispatchInstruction.number,
                DispatchInstruction.send_count,
                DispatchInstruction.created_at,
                DispatchInstruction.due_at,
                Location.code,
            )
            .join(Location, Location.id == DispatchInstruction.location_id)
            .where(DispatchInstruction.status.in_(DISPATCH_UNACKNOWLEDGED), DispatchInstruction.due_at < now)
            .with_for_update()
        ).all()
        for r in rows:
            count = r.send_count + 1
            queue_send(conn, r.id, r.number, r.code, attempt=count, overdue=True)
            sla = (r.due_at - r.created_at) if r.due_at else timedelta(hours=4)
            conn.execute(
                update(DispatchInstruction)
                .where(DispatchInstruction.id == r.id)
                .values(send_count=count, escalated_at=now, due_at=now + sla, updated_at=now)
            )
            log.warning(
                "dispatch instruction not acknowledged in time: re-sent and escalated",
                number=r.number,
                location=r.code,
                sends=count,
            )
    return [r.number for r in rows]


def resend(engine: Engine, number: str) -> None:
    """Queue an instruction again now (a person asked for it); ``NotAllowed`` once nothing is left to do."""
    with engine.begin() as conn:
        di = lock_instruction(conn, number, None)
        if di.status not in DISPATCH_TO_SHIP:
            raise NotAllowed(
                f"dispatch instruction {number} is {di.status}: a re-send would ask its warehouse to "
                "ship it again, so it is not queued",
                hint=f"only {', '.join(DISPATCH_TO_SHIP)} instructions can be re-sent",
            )
        count = di.send_count + 1
        queue_send(conn, di.id, di.number, di.location_code, attempt=count)
        conn.execute(
            update(DispatchInstruction)
            .where(DispatchInstruction.id == di.id)
            .values(send_count=count, updated_at=utcnow())
        )


__all__ = [
    "Forbidden",
    "InstructionHandler",
    "NotAllowed",
    "NotFound",
    "acknowledge",
    "request_recalls",
    "resend",
    "resend_overdue",
]
