"""Held orders whose cause has gone away go back to ``received``, to be validated and routed again.

Two holds clear themselves once what they wait for lands in the store:

- **unknown SKU** (validation): every line's SKU is now a product of ours, or is bound to one by a
  SKU binding of the order's channel — a ``products`` stream landed it, or a binding arrived
  (``erpsync mapping import-skus``, the config's ``sku_bindings``). The decision looks at what the
  store holds now, not at when it changed, so a product landing while the order was being held is
  not missed, and an order still missing one SKU is not validated again in vain. Lines naming no
  product are bound the way an import with the binding would have bound them: our SKU, quantity ×
  factor, unit price ÷ factor;
- **no_stock**, and **no_location** (no location covers the address and the fallback could not
  ship it either) — routing holds: a stock level of one of its SKUs at an active location changed
  after the hold (the order's ``updated_at``, set by the hold) and has free units (``on_hand −
  reserved − safety_stock > 0``). An order held again waits for the next such change.

Other holds (awaiting payment, incomplete address, a total that does not match) need a changed
order from the channel or a person (``erpsync orders release``).

``revalidate_held`` runs at the start of every order processing pass: one query finds up to
``limit`` such orders, then one transaction locks them, rebinds their lines in one batched
statement and moves them back (``store.orders.requeue_held``); the same pass validates them.
"""

from __future__ import annotations

from decimal import Decimal

import structlog
from sqlalchemy import Connection, Engine, and_, bindparam, exists, or_, select, update

from core.statuses import OrderStatus
from store import orders as lifecycle
from store.models import Location, OrderLine, Product, SalesOrder, SkuBinding, StockLevel

#: the start of the hold reasons this module clears (``routing.process`` writes them)
UNKNOWN_SKU = "unknown SKU"
#: routing holds that stock can clear: no_location says the fallback could not ship it either
ROUTING_HOLDS = ("no_stock", "no_location")
#: the starts of the other hold reasons ``routing.process`` writes (validation)
AWAITING_PAYMENT = "awaiting payment"
INCOMPLETE_ADDRESS = "ship-to address incomplete"
TOTAL_MISMATCH = "order total "
NEGATIVE_TOTAL = "negative order total"
#: each hold's code (``erpsync orders release --hold-reason CODE``) and the start of its reasons
HOLD_CODES = {
    "awaiting_payment": AWAITING_PAYMENT,
    "incomplete_address": INCOMPLETE_ADDRESS,
    "unknown_sku": f"{UNKNOWN_SKU}:",
    "total_mismatch": TOTAL_MISMATCH,
    "negative_total": NEGATIVE_TOTAL,
    **{hold: f"{hold}:" for hold in ROUTING_HOLDS},
}
#: prices keep four decimals (DECIMAL(18,4)), as when an order is imported
PRICE_STEP = Decimal("0.0001")
log = structlog.get_logger("erpsync.orders")


def _candidates(conn: Connection, limit: int) -> list[int]:
    """Held orders whose cause is gone or whose stock changed since the hold (one query)."""
    bound_to_product = (
        exists()
        .where(SkuBinding.system == SalesOrder.channel, SkuBinding.external_sku == OrderLine.sku)
        .where(exists().where(Product.sku == SkuBinding.sku))
    )
    unresolved = exists().where(
        OrderLine.order_id == SalesOrder.id,
        ~exists().where(Product.sku == OrderLine.sku),
        ~bound_to_product,
    )
    unknown = and_(SalesOrder.hold_reason.startswith(f"{UNKNOWN_SKU}:", autoescape=True), ~unresolved)
    stock_landed = exists().where(
        OrderLine.order_id == SalesOrder.id,
        StockLevel.sku == OrderLine.sku,
        StockLevel.updated_at >= SalesOrder.updated_at,
        Location.id == StockLevel.location_id,
        Location.active.is_(True),
        StockLevel.on_hand - StockLevel.reserved - Location.safety_stock > 0,
    )
    routing = or_(*(SalesOrder.hold_reason.startswith(f"{hold}:", autoescape=True) for hold in ROUTING_HOLDS))
    no_stock = and_(routing, stock_landed)
    query = (
        select(SalesOrder.id)
        .where(SalesOrder.status == OrderStatus.ON_HOLD, or_(unknown, no_stock))
        .order_by(SalesOrder.id)
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


def _rebind_lines(conn: Connection, order_ids: list[int]) -> int:
    """Bind the lines still naming no product of ours through their channel's bindings; how many."""
    rows = conn.execute(
        select(OrderLine.id, OrderLine.qty, OrderLine.unit_price, SkuBinding.sku, SkuBinding.uom_factor)
        .join(SalesOrder, SalesOrder.id == OrderLine.order_id)
        .join(
            SkuBinding,
            and_(SkuBinding.system == SalesOrder.channel, SkuBinding.external_sku == OrderLine.sku),
        )
        .where(OrderLine.order_id.in_(order_ids), ~exists().where(Product.sku == OrderLine.sku))
    ).all()
    if rows:
        conn.execute(
            update(OrderLine)
            .where(OrderLine.id == bindparam("line_id"))
            .values(sku=bindparam("new_sku"), qty=bindparam("new_qty"), unit_price=bindparam("new_price"))
            .execution_options(synchronize_session=False),
            [
                {
                    "line_id": r.id,
                    "new_sku": r.sku,
                    "new_qty": r.qty * r.uom_factor,
                    "new_price": (r.unit_price / r.uom_factor).quantize(PRICE_STEP),
                }
                for r in rows
            ],
        )
    return len(rows)


def revalidate_held(engine: Engine, *, limit: int = 200) -> int:
    """Send held orders whose cause has landed back to ``received``; how many went back."""
    with engine.connect() as conn:
        ids = _candidates(conn, limit)
    if not ids:
        return 0
    with engine.begin() as conn:
        ids = lifecycle.lock_held(conn, ids)  # a person may have released or cancelled one meanwhile
        if not ids:
            return 0
        rebound = _rebind_lines(conn, ids)
        lifecycle.requeue_held(conn, ids)
    log.info("held orders to validate again", count=len(ids), lines_rebound=rebound)
    return len(ids)
