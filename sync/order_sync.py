"""Reconcile a page of orders: new ones are inserted, changes are applied by the order's state.

Identity is ``(channel, external_id)``; a payload digest skips unchanged re-reads, so re-reading a
page (the inclusive cursor, the ``lag`` overlap window, a retry) changes nothing.

A changed order is handled according to where it is in its lifecycle (``store.orders``):

- not yet allocated (received, validated, on hold): header and lines are replaced and the order
  goes back to ``received``, to be validated and routed again;
- allocated but not dispatched: its reservations are released first, then the same;
- dispatched or later: nothing is changed silently. A cancellation requests a **recall** of its
  dispatch instructions (the warehouse must stop it; ``routing`` sends the recall) and any other
  change is kept as ``change_note`` for a person to act on.

The buyer's address and phone are personal data: they are stored only encrypted
(``ship_to_sealed``, when an encryption key is configured); the region (province/city/district)
and postal code needed for routing, and the list of missing address fields, are kept in clear.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, tuple_, update

from core.clock import utcnow
from core.statuses import DISPATCH_RECALLABLE, OrderStatus
from mapping.records import Order
from store import orders as lifecycle
from store import stock
from store.limits import column_limit
from store.models import Allocation, DispatchInstruction, OrderLine, SalesOrder
from sync.reconcile import Outcome, PageContext

#: money keeps the columns' scale (four decimals), rounded here once: a pack price divided by its
#: factor, a channel's price with more decimals
UNIT_PRICE, TOTAL = column_limit(OrderLine.unit_price), column_limit(SalesOrder.total)
#: channel statuses (lower case) that mean the buyer's order is cancelled
CANCELLED_STATUSES = frozenset(
    {
        "cancelled",
        "canceled",
        "refunded",
        "voided",
        "closed",
        "trade_closed",
        "trade_canceled",
        "trade_closed_by_taobao",
    }
)
#: ship-to fields an order needs before it can be shipped
REQUIRED_SHIP_TO = ("name", "phone", "province", "city", "street")


def order_digest(order: Order) -> str:
    """SHA-256 of the order's canonical JSON: equal digests mean nothing changed."""
    return hashlib.sha256(order.model_dump_json().encode()).hexdigest()


def is_cancelled(source_status: str | None) -> bool:
    return (source_status or "").strip().lower() in CANCELLED_STATUSES


def ship_region(order: Order) -> str | None:
    """The ship-to's ``province/city/district`` path, as routing matches regions (None: no ship-to)."""
    addr = order.ship_to
    if addr is None:
        return None
    return "/".join(p for p in (addr.province, addr.city, addr.district) if p) or None


def _missing(order: Order) -> str | None:
    addr = order.ship_to
    missing = (
        list(REQUIRED_SHIP_TO) if addr is None else [f for f in REQUIRED_SHIP_TO if not getattr(addr, f)]
    )
    return ", ".join(missing) or None


def _header(o: Order, digest: str, ctx: PageContext, now: Any) -> dict[str, Any]:
    sealed = ctx.seal(o.ship_to.model_dump_json()) if o.ship_to is not None and ctx.seal is not None else None
    status = OrderStatus.CANCELLED if is_cancelled(o.status) else OrderStatus.RECEIVED
    return {
        "channel": o.channel,
        "external_id": o.external_id,
        "status": status,
        "source_status": o.status,
        "hold_reason": None,
        "placed_at": o.placed_at,
        "source_updated_at": o.updated_at,
        "currency": o.currency,
        "total": None if o.total is None else TOTAL.rounded(o.total),
        "customer_ref": o.customer_ref,
        "ship_region": ship_region(o),
        "ship_postal": o.ship_to.postal_code if o.ship_to else None,
        "ship_to_missing": _missing(o),
        "ship_to_sealed": sealed,
        "payload_digest": digest,
        "change_note": None,
        "created_at": now,
        "updated_at": now,
    }


def _changes(header: dict[str, Any]) -> dict[str, Any]:
    """The columns a re-read order updates: its identity and creation time stay."""
    return {k: v for k, v in header.items() if k not in ("channel", "external_id", "created_at")}


def _lines(order_id: int, o: Order) -> list[dict[str, Any]]:
    return [
        {
            "order_id": order_id,
            "line_no": n,
            "external_line_id": line.external_line_id,
            "sku": line.sku,
            "description": line.description,
            "qty": line.qty,
            "unit_price": UNIT_PRICE.rounded(line.unit_price),
            "qty_shipped": 0,
            "qty_returned": 0,
        }
        for n, line in enumerate(o.lines, start=1)
    ]


def _release(conn: Connection, order_id: int) -> None:
    ids = (
        conn.execute(
            select(Allocation.id)
            .join(OrderLine, OrderLine.id == Allocation.order_line_id)
            .where(OrderLine.order_id == order_id, Allocation.status == stock.RESERVED)
        )
        .scalars()
        .all()
    )
    for allocation_id in ids:
        stock.cancel_allocation(conn, allocation_id)


def _after_dispatch(conn: Connection, order_id: int, o: Order, digest: str, now: Any) -> None:
    if is_cancelled(o.status):
        note = f"cancelled by the channel ({o.status}) after dispatch: recall requested"
        conn.execute(
            update(DispatchInstruction)
            .where(
                DispatchInstruction.order_id == order_id,
                DispatchInstruction.status.in_(DISPATCH_RECALLABLE),
                DispatchInstruction.recall_requested_at.is_(None),
            )
            .values(recall_requested_at=now, updated_at=now)
        )
    else:
        note = "changed by the channel after dispatch (lines or address); check with the warehouse"
    conn.execute(
        update(SalesOrder)
        .where(SalesOrder.id == order_id)
        .values(
            source_status=o.status,
            source_updated_at=o.updated_at,
            payload_digest=digest,
            change_note=note,
            updated_at=now,
        )
    )


def reconcile_orders(conn: Connection, records: Sequence[Order], ctx: PageContext) -> Outcome:
    """Insert new orders and apply changes by state; unchanged re-reads write nothing."""
    # an order listed twice in a page (under two raw keys) lands once, in its last state
    records = list({(o.channel, o.external_id): o for o in records}.values())
    keys = [(o.channel, o.external_id) for o in records]
    stored = {
        (ch, ext): (oid, digest, status)
        for ch, ext, oid, digest, status in conn.execute(
            select(
                SalesOrder.channel,
                SalesOrder.external_id,
                SalesOrder.id,
                SalesOrder.payload_digest,
                SalesOrder.status,
            )
            .where(tuple_(SalesOrder.channel, SalesOrder.external_id).in_(keys))
            .with_for_update()
        )
    }
    now = utcnow()
    fresh: list[tuple[Order, str]] = []
    replace: list[tuple[int, Order, str]] = []
    for o in records:
        digest = order_digest(o)
        found = stored.get((o.channel, o.external_id))
        if found is None:
            fresh.append((o, digest))
        elif found[1] == digest:
            continue
        elif found[2] in lifecycle.AFTER_DISPATCH or found[2] == OrderStatus.CANCELLED:
            _after_dispatch(conn, found[0], o, digest, now)
        else:
            if found[2] == OrderStatus.ALLOCATED:
                _release(conn, found[0])
            replace.append((found[0], o, digest))
    if fresh:
        conn.execute(insert(SalesOrder), [_header(o, d, ctx, now) for o, d in fresh])
        # one external id may belong to several channels (a multi-store connector): map back by both
        ids = {
            (channel, external_id): oid
            for channel, external_id, oid in conn.execute(
                select(SalesOrder.channel, SalesOrder.external_id, SalesOrder.id).where(
                    tuple_(SalesOrder.channel, SalesOrder.external_id).in_(
                        [(o.channel, o.external_id) for o, _ in fresh]
                    )
                )
            )
        }
        replace_ids = [(ids[(o.channel, o.external_id)], o, d) for o, d in fresh]
    else:
        replace_ids = []
    if replace:
        # by id, with an UPDATE: an upsert would also match on (channel, external_id)
        rows = [{**_changes(_header(o, d, ctx, now)), "order_id": oid} for oid, o, d in replace]
        conn.execute(update(SalesOrder).where(SalesOrder.id == bindparam("order_id")), rows)
        conn.execute(delete(OrderLine).where(OrderLine.order_id.in_([oid for oid, _, _ in replace])))
    line_rows = [line for oid, o, _ in [*replace_ids, *replace] for line in _lines(oid, o)]
    if line_rows:
        conn.execute(insert(OrderLine), line_rows)
    return Outcome(changed=len(fresh) + len(replace))
