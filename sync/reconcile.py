"""Reconcile one page of canonical records into the store, inside the caller's transaction.

Written for volume: per page, the existing rows are read in one query (locked with ``FOR
UPDATE`` so a concurrent reservation cannot slip between read and write), changed rows are
written in one multi-row upsert, and ledger rows are inserted in one batch. Unchanged records
write nothing, which is also what makes re-reading a page (the inclusive cursor boundary, a
retry after a crash) a no-op.

- products: upsert by SKU when any field changed.
- stock: see ``sync.stock_sync``.
- orders: identity ``(channel, external_id)``; a payload digest skips unchanged re-reads; a
  changed order has its lines replaced.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, delete, insert, select, tuple_

from mapping.errors import RecordError
from mapping.records import Order, Product, Record, utcnow
from store.models import OrderLine, SalesOrder
from store.models import Product as ProductRow
from store.upsert import NEW, upsert

#: prices keep four decimals (DECIMAL(18,4)); a pack price divided by its factor is rounded here
PRICE_STEP = Decimal("0.0001")


@dataclass
class PageContext:
    """Who is writing: the connector (the source) and the run (the ledger reference)."""

    connector: str
    run_id: int
    seal: Callable[[str], str] | None = None
    #: the page belongs to a complete snapshot read (stock rows it lists are stamped with the run)
    snapshot: bool = False


@dataclass
class Outcome:
    """What reconciling a page did: records changed, and records refused (quarantine them)."""

    changed: int = 0
    refused: list[tuple[Record, RecordError]] | None = None


def reconcile_products(conn: Connection, records: Sequence[Product], ctx: PageContext) -> Outcome:
    """Upsert products whose fields differ from the stored ones."""
    fields = ("name", "uom", "barcode", "category", "active")
    existing = {
        row.sku: row
        for row in conn.execute(
            select(ProductRow.sku, *(getattr(ProductRow, f) for f in fields)).where(
                ProductRow.sku.in_([r.sku for r in records])
            )
        )
    }
    now = utcnow()
    rows = [
        {"sku": r.sku, **{f: getattr(r, f) for f in fields}, "created_at": now, "updated_at": now}
        for r in records
        if r.sku not in existing or tuple(existing[r.sku][1:]) != tuple(getattr(r, f) for f in fields)
    ]
    upsert(
        conn,
        ProductRow,
        rows,
        key=["sku"],
        update={**dict.fromkeys(fields, NEW), "updated_at": NEW},
    )
    return Outcome(changed=len(rows))


def order_digest(order: Order) -> str:
    """SHA-256 of the order's canonical JSON: equal digests mean nothing changed."""
    return hashlib.sha256(order.model_dump_json().encode()).hexdigest()


def _region(order: Order) -> str | None:
    addr = order.ship_to
    if addr is None:
        return None
    parts = [p for p in (addr.province, addr.city, addr.district) if p]
    return "/".join(parts) or (f"postal:{addr.postal_code}" if addr.postal_code else None)


def reconcile_orders(conn: Connection, records: Sequence[Order], ctx: PageContext) -> Outcome:
    """Insert new orders, replace changed ones (header and lines), skip unchanged re-reads."""
    keys = [(o.channel, o.external_id) for o in records]
    stored = {
        (ch, ext): digest
        for ch, ext, digest in conn.execute(
            select(SalesOrder.channel, SalesOrder.external_id, SalesOrder.payload_digest)
            .where(tuple_(SalesOrder.channel, SalesOrder.external_id).in_(keys))
            .with_for_update()
        )
    }
    now = utcnow()
    changed = [(o, d) for o in records if stored.get((o.channel, o.external_id)) != (d := order_digest(o))]
    if not changed:
        return Outcome()
    header_rows = [_order_row(o, digest, ctx, now) for o, digest in changed]
    new_values = [
        c
        for c in header_rows[0]
        if c not in ("status", "hold_reason", "created_at", "channel", "external_id")
    ]
    upsert(
        conn,
        SalesOrder,
        header_rows,
        key=["channel", "external_id"],
        update=dict.fromkeys(new_values, NEW),
    )
    ids = {
        (ch, ext): oid
        for ch, ext, oid in conn.execute(
            select(SalesOrder.channel, SalesOrder.external_id, SalesOrder.id).where(
                tuple_(SalesOrder.channel, SalesOrder.external_id).in_(
                    [(o.channel, o.external_id) for o, _ in changed]
                )
            )
        )
    }
    conn.execute(delete(OrderLine).where(OrderLine.order_id.in_(ids.values())))
    line_rows = [
        {
            "order_id": ids[(o.channel, o.external_id)],
            "line_no": n,
            "external_line_id": line.external_line_id,
            "sku": line.sku,
            "description": line.description,
            "qty": line.qty,
            "unit_price": line.unit_price.quantize(PRICE_STEP),
            "qty_shipped": 0,
            "qty_returned": 0,
        }
        for o, _ in changed
        for n, line in enumerate(o.lines, start=1)
    ]
    conn.execute(insert(OrderLine), line_rows)
    return Outcome(changed=len(changed))


def _order_row(o: Order, digest: str, ctx: PageContext, now: Any) -> dict[str, Any]:
    sealed = None
    if o.ship_to is not None and ctx.seal is not None:
        sealed = ctx.seal(o.ship_to.model_dump_json())
    return {
        "channel": o.channel,
        "external_id": o.external_id,
        "status": "received",
        "source_status": o.status,
        "hold_reason": None,
        "placed_at": o.placed_at,
        "source_updated_at": o.updated_at,
        "currency": o.currency,
        "total": o.total,
        "customer_ref": o.customer_ref,
        "ship_region": _region(o),
        "ship_to_sealed": sealed,
        "payload_digest": digest,
        "created_at": now,
        "updated_at": now,
    }
