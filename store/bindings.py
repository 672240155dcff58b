"""SKU bindings in the database: load the ones a page needs (one query), import many at once,
and the reverse way: which of our SKUs a channel knows, under which SKU and unit.

Also the products' units, which name the base unit of a SKU in messages and reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, select

from core.clock import utcnow
from mapping.skus import SkuBinding
from store.batching import select_in
from store.models import Product as ProductRow
from store.models import SkuBinding as BindingRow
from store.upsert import NEW, upsert


def load_bindings(conn: Connection, system: str, external_skus: Iterable[str]) -> dict[str, SkuBinding]:
    """Bindings of ``system`` for the given external SKUs, keyed by external SKU."""
    wanted = sorted(set(external_skus))
    if not wanted:
        return {}
    rows = select_in(
        conn,
        lambda part: select(BindingRow.external_sku, BindingRow.sku, BindingRow.uom_factor).where(
            BindingRow.system == system, BindingRow.external_sku.in_(part)
        ),
        wanted,
    )
    found = (SkuBinding(system, ext, sku, factor) for ext, sku, factor in rows)
    return {b.external_sku: b for b in found}  # keyed as normalised (a row stored before the key rule)


def product_units(conn: Connection, skus: Iterable[str]) -> dict[str, str]:
    """The unit of each of these SKUs' products (SKUs without a product are absent)."""
    wanted = sorted(set(skus))
    if not wanted:
        return {}
    rows = select_in(
        conn, lambda part: select(ProductRow.sku, ProductRow.uom).where(ProductRow.sku.in_(part)), wanted
    )
    return {row.sku: row.uom for row in rows}


def save_bindings(conn: Connection, bindings: Iterable[SkuBinding]) -> int:
    """Insert or update bindings (by system and external SKU); returns how many were given."""
    now = utcnow()
    rows = [
        {
            "system": b.system,
            "external_sku": b.external_sku,
            "sku": b.sku,
            "uom_factor": b.uom_factor,
            "updated_at": now,
        }
        for b in bindings
    ]
    upsert(
        conn,
        BindingRow,
        rows,
        key=["system", "external_sku"],
        update={"sku": NEW, "uom_factor": NEW, "updated_at": NEW},
    )
    return len(rows)


def bound_skus(conn: Connection, system: str, skus: Iterable[str]) -> set[str]:
    """Those of our ``skus`` that have a binding for ``system`` (one query)."""
    wanted = sorted(set(skus))
    if not wanted:
        return set()
    rows = conn.execute(
        select(BindingRow.sku).where(BindingRow.system == system, BindingRow.sku.in_(wanted)).distinct()
    )
    return set(rows.scalars())


def reverse_bindings(conn: Connection, channel: str, skus: Sequence[str]) -> dict[str, tuple[str, int]]:
    """Our SKU -> (the channel's SKU, unit factor); SKUs without a binding map to themselves."""
    rows = conn.execute(
        select(BindingRow.sku, BindingRow.external_sku, BindingRow.uom_factor)
        .where(BindingRow.system == channel, BindingRow.sku.in_(skus))
        .order_by(BindingRow.sku, BindingRow.external_sku)
    )
    found: dict[str, tuple[str, int]] = {}
    for sku, external, factor in rows:
        found.setdefault(sku, (external, factor))
    return {sku: found.get(sku, (sku, 1)) for sku in skus}
