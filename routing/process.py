"""Take received orders through validation, routing and allocation to dispatch instructions.

First, held orders whose cause has landed since their hold (a product or binding for an unknown
SKU, free stock for ``no_stock``) go back to ``received`` (``routing.holds``). Then for each
``received`` order, oldest first, in one transaction per order:

1. **validate** (审单): address and contact complete, every SKU known, payment received, total
   consistent with the lines; a failure puts the order ``on_hold`` with a reason a person can
   fix (``erpsync orders release`` sends it back), never drops it;
2. **route** (``routing.engine``) over the location tree with the units free right now;
3. **allocate**: reserve every part's units (``store.stock.allocate``); a reservation lost to a
   concurrent order rolls the whole order back, to be routed again on the next pass;
4. **dispatch**: one dispatch instruction per part, queued for delivery to its location
   through the outbox (topic ``dispatch.send``, partition = location).

Re-reading the same order changes nothing (its digest is unchanged), so a page imported three
times gives one order, one allocation per line and part, and one instruction per part.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, insert, select, update

from core.clock import utcnow
from core.excerpt import shorten
from core.statuses import DispatchStatus, OrderStatus
from routing.dispatch import queue_send
from routing.engine import Decision, OrderLineToRoute, OrderToRoute, Place, RoutingPolicy, route
from routing.holds import (
    AWAITING_PAYMENT,
    INCOMPLETE_ADDRESS,
    NEGATIVE_TOTAL,
    TOTAL_MISMATCH,
    UNKNOWN_SKU,
    revalidate_held,
)
from routing.order_messages import erp_key
from routing.queries import count_orders
from store import orders as lifecycle
from store import stock
from store.db import retry_on_lock_conflict
from store.models import (
    Allocation,
    DispatchInstruction,
    Location,
    LocationRegion,
    OrderLine,
    Product,
    SalesOrder,
    StockLevel,
)
from store.outbox import enqueue

TOPIC = "dispatch.send"
ERP_TOPIC = "erp.sales_order"
#: received orders one processing pass takes at most (and held orders it sends back at most)
PASS_LIMIT = 200
UNPAID_STATUSES = frozenset({"pending", "unpaid", "wait_buyer_pay", "awaiting_payment"})
log = structlog.get_logger("erpsync.orders")


@dataclass(frozen=True)
class OrderSettings:
    """What processing needs from the config."""

    policy: RoutingPolicy = field(default_factory=RoutingPolicy)
    sla: timedelta = timedelta(hours=4)
    sla_by_location: Mapping[str, timedelta] = field(default_factory=dict)
    carrier_by_location: Mapping[str, str] = field(default_factory=dict)
    #: a total may differ from the sum of the lines by this share (shipping, discounts)
    total_tolerance: Decimal = Decimal("0.5")
    #: the ERP connector that gets each dispatched order's sales document (None: none)
    erp_connector: str | None = None


@dataclass
class ProcessStats:
    dispatched: int = 0
    held: int = 0
    retried: int = 0
    revalidated: int = 0  # held orders sent back to validation: what they waited for landed
    #: received orders this pass took, of those waiting when it started (``limit`` at most)
    taken: int = 0
    waiting: int = 0
    #: the pass sent back as many held orders as it may: more may be waiting for the next one
    more_held: bool = False

    @property
    def done(self) -> bool:
        """Whether the pass left nothing for the next one (received orders, held orders to send back)."""
        return self.taken >= self.waiting and not self.more_held


def load_places(conn: Connection) -> list[Place]:
    """The location tree with the regions each location serves (two queries)."""
    regions: dict[int, list[str]] = {}
    for loc_id, region in conn.execute(select(LocationRegion.location_id, LocationRegion.region)):
        regions.setdefault(loc_id, []).append(region)
    rows = conn.execute(
        select(
            Location.id, Location.code, Location.kind, Location.parent_id, Location.priority, Location.active
        )
    )
    by_id = {r.id: r for r in rows}
    return [
        Place(
            r.code,
            r.kind,
            by_id[r.parent_id].code if r.parent_id in by_id else None,
            tuple(sorted(regions.get(r.id, []))),
            r.priority,
            r.active,
        )
        for r in by_id.values()
    ]


def available_for(conn: Connection, skus: Iterable[str]) -> dict[tuple[str, str], int]:
    """Units free to allocate per (sku, location code): on hand − reserved − safety stock."""
    rows = conn.execute(
        select(
            StockLevel.sku, Location.code, StockLevel.on_hand - StockLevel.reserved - Location.safety_stock
        )
        .join(Location, Location.id == StockLevel.location_id)
        .where(StockLevel.sku.in_(set(skus)), Location.active.is_(True))
    )
    return {(sku, code): max(0, int(free)) for sku, code, free in rows}


def order_to_route(o: Any, lines: Sequence[Any]) -> OrderToRoute:
    """The router's view of an order row and its line rows."""
    return OrderToRoute(
        o.channel,
        o.customer_ref,
        o.ship_region,
        o.ship_postal,
        tuple(OrderLineToRoute(ln.id, ln.sku, ln.qty) for ln in lines),
    )


def validate(conn: Connection, o: Any, lines: Sequence[Any], settings: OrderSettings) -> str | None:
    """Why the order cannot be allocated yet (a reason a person can act on), or None."""
    if (o.source_status or "").strip().lower() in UNPAID_STATUSES:
        return f"{AWAITING_PAYMENT} (channel status {o.source_status})"
    if o.ship_to_missing:
        return f"{INCOMPLETE_ADDRESS}: missing {o.ship_to_missing}"
    skus = {ln.sku for ln in lines}
    known = set(conn.execute(select(Product.sku).where(Product.sku.in_(skus))).scalars())
    if skus - known:
        unknown = ", ".join(sorted(skus - known))
        return f"{UNKNOWN_SKU}: {unknown} (not in the product list from the ERP, nor bound to one)"
    total = o.total
    lines_sum = sum((ln.unit_price * ln.qty for ln in lines), Decimal(0))
    if total is not None and lines_sum and abs(total - lines_sum) > lines_sum * settings.total_tolerance:
        return f"{TOTAL_MISMATCH}{total} {o.currency} does not match its lines ({lines_sum})"
    if total is not None and total < 0:
        return f"{NEGATIVE_TOTAL} {total}"
    return None


def _instruction_number(order_id: int, part: int, now: datetime) -> str:
    return f"DI-{now:%Y%m%d}-{order_id:06d}-{part}"


def _dispatch(
    conn: Connection, order_id: int, decision: Decision, settings: OrderSettings, now: datetime
) -> None:
    codes = dict(conn.execute(select(Location.code, Location.id)).tuples().all())
    for n, part in enumerate(decision.parts, start=1):
        loc_id = codes[part.location]
        number = _instruction_number(order_id, n, now)
        due = now + settings.sla_by_location.get(part.location, settings.sla)
        res = conn.execute(
            insert(DispatchInstruction).values(
                number=number,
                order_id=order_id,
                location_id=loc_id,
                part_no=n,
                status=DispatchStatus.QUEUED,
                carrier_hint=settings.carrier_by_location.get(part.location),
                due_at=due,
                send_count=1,
                created_at=now,
                updated_at=now,
            )
        )
        instruction_id = int(res.inserted_primary_key[0])  # type: ignore[index]
        for line in part.lines:
            allocation = stock.allocate(conn, line.line_id, line.sku, loc_id, line.qty)
            if allocation is None:
                raise _Lost(line.sku, part.location)
            conn.execute(
                update(Allocation).where(Allocation.id == allocation).values(dispatch_id=instruction_id)
            )
        queue_send(conn, instruction_id, number, part.location, attempt=1)


class _Lost(Exception):
    """A reservation was lost to a concurrent order between routing and allocating."""


def _one(engine: Engine, order_id: int, settings: OrderSettings, places: list[Place]) -> str:
    with engine.begin() as conn:
        order = conn.execute(
            select(SalesOrder.__table__).where(SalesOrder.id == order_id).with_for_update()
        ).one()
        if order.status != OrderStatus.RECEIVED:
            return "skipped"
        lines = conn.execute(
            select(OrderLine.__table__).where(OrderLine.order_id == order_id).order_by(OrderLine.line_no)
        ).all()
        reason = validate(conn, order, lines, settings)
        if reason is not None:
            lifecycle.transition(conn, order_id, OrderStatus.ON_HOLD, reason=reason)
            return "held"
        lifecycle.transition(conn, order_id, OrderStatus.VALIDATED)
        decision = route(
            order_to_route(order, lines),
            places,
            available_for(conn, {ln.sku for ln in lines}),
            settings.policy,
        )
        if decision.hold_reason is not None:
            lifecycle.transition(
                conn,
                order_id,
                OrderStatus.ON_HOLD,
                reason=shorten(
                    f"{decision.hold_reason}: {decision.steps[-1] if decision.steps else ''}", 255
                ),
            )
            return "held"
        lifecycle.transition(conn, order_id, OrderStatus.ALLOCATED)
        now = utcnow()
        try:
            _dispatch(conn, order_id, decision, settings, now)
        except _Lost as lost:
            conn.rollback()
            log.info("stock taken meanwhile, order will be routed again", order=order_id, sku=lost.args[0])
            return "retried"
        lifecycle.transition(conn, order_id, OrderStatus.DISPATCHED)
        if settings.erp_connector:
            enqueue(
                conn,
                ERP_TOPIC,
                erp_key(settings.erp_connector, order.channel, order.external_id),
                {"order_id": order_id},
                partition=settings.erp_connector,
            )
        return "dispatched"


def process_orders(engine: Engine, settings: OrderSettings, *, limit: int = PASS_LIMIT) -> ProcessStats:
    """Validate, route, allocate and dispatch up to ``limit`` received orders, oldest first.

    Up to ``limit`` held orders whose cause has landed go back to ``received`` first. The stats
    say how many received orders were waiting and how many this pass took (``done``: all).
    """
    revalidated = revalidate_held(engine, limit=limit)
    with engine.connect() as conn:
        ids = list(
            conn.execute(
                select(SalesOrder.id)
                .where(SalesOrder.status == OrderStatus.RECEIVED)
                .order_by(SalesOrder.id)
                .limit(limit)
            ).scalars()
        )
        waiting = len(ids) if len(ids) < limit else count_orders(conn, status=OrderStatus.RECEIVED)
        places = load_places(conn)
    stats = ProcessStats(
        revalidated=revalidated, taken=len(ids), waiting=waiting, more_held=revalidated >= limit
    )
    for order_id in ids:
        outcome = retry_on_lock_conflict(partial(_one, engine, order_id, settings, places))
        if outcome == "dispatched":
            stats.dispatched += 1
        elif outcome == "held":
            stats.held += 1
        elif outcome == "retried":
            stats.retried += 1
    return stats
