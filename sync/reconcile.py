"""Reconcile one page of canonical records into the store, inside the caller's transaction.

Written for volume: per page, the existing rows are read in one query (locked with ``FOR
UPDATE`` so a concurrent reservation cannot slip between read and write), changed rows are
written in one multi-row upsert, and ledger rows are inserted in one batch. Unchanged records
write nothing, which is also what makes re-reading a page (the inclusive cursor boundary, a
retry after a crash) a no-op.

- products: upsert by SKU when any field changed.
- stock: see ``sync.stock_sync``.
- orders: see ``sync.order_sync``.
- shipments (parcels of dispatch instructions): see ``sync.shipment_sync``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, select

from core.clock import utcnow
from core.errors import RecordError
from mapping.records import Product, Record
from store.batching import select_in
from store.models import Product as ProductRow
from store.upsert import NEW, upsert


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
        for row in select_in(
            conn,
            lambda part: select(ProductRow.sku, *(getattr(ProductRow, f) for f in fields)).where(
                ProductRow.sku.in_(part)
            ),
            [r.sku for r in records],
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
