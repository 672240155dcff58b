"""The order lifecycle: which status may follow which, applied with a clear error otherwise.

::

    received ──► validated ──► allocated ──► dispatched ──► shipped ──► delivered
        │            │             │              │  └──► partially_shipped ──┘
        └──► on_hold ◄┴─────────────┘              │             (returns: returned, partially_returned)
        (any state before dispatch) ──► cancelled   └──► cancelled once the warehouse acknowledges the recall

``on_hold`` carries a reason a person can act on (``hold_reason``); releasing a hold sends the
order back to ``received`` so it is validated and routed again — by a person, or, for holds whose
cause has landed since (``routing.holds``), many at once with ``lock_held`` + ``requeue_held``.
``transition`` checks the move under the row lock and raises ``IllegalTransition`` naming the
order and both states.

``held_orders`` / ``count_held`` give the orders on hold by the start of their reason and by
channel, oldest first, a page at a time, for releasing them in batches. The orders a person
lists and looks up are read by ``routing.queries``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, func, select, update
from sqlalchemy.sql.elements import ColumnElement

from core.clock import utcnow
from core.errors import ErpsyncError
from core.statuses import OrderStatus
from store.models import SalesOrder

#: the states that may follow each state (keys are plain strings too: rows read back are ``str``)
TRANSITIONS: Mapping[str, frozenset[OrderStatus]] = {
    OrderStatus.RECEIVED: frozenset({OrderStatus.VALIDATED, OrderStatus.ON_HOLD, OrderStatus.CANCELLED}),
    OrderStatus.VALIDATED: frozenset(
        {OrderStatus.ALLOCATED, OrderStatus.ON_HOLD, OrderStatus.CANCELLED, OrderStatus.RECEIVED}
    ),
    OrderStatus.ON_HOLD: frozenset({OrderStatus.RECEIVED, OrderStatus.CANCELLED}),
    OrderStatus.ALLOCATED: frozenset(
        {OrderStatus.DISPATCHED, OrderStatus.ON_HOLD, OrderStatus.CANCELLED, OrderStatus.RECEIVED}
    ),
    OrderStatus.DISPATCHED: frozenset(
        {OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED, OrderStatus.CANCELLED}
    ),
    OrderStatus.PARTIALLY_SHIPPED: frozenset(
        {OrderStatus.SHIPPED, OrderStatus.PARTIALLY_RETURNED, OrderStatus.RETURNED}
    ),
    OrderStatus.SHIPPED: frozenset(
        {OrderStatus.DELIVERED, OrderStatus.PARTIALLY_RETURNED, OrderStatus.RETURNED}
    ),
    OrderStatus.DELIVERED: frozenset({OrderStatus.PARTIALLY_RETURNED, OrderStatus.RETURNED}),
    OrderStatus.PARTIALLY_RETURNED: frozenset({OrderStatus.RETURNED, OrderStatus.PARTIALLY_RETURNED}),
    OrderStatus.RETURNED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}
#: states in which the order's units are not reserved anywhere yet
BEFORE_ALLOCATION = frozenset({OrderStatus.RECEIVED, OrderStatus.VALIDATED, OrderStatus.ON_HOLD})
#: states in which a warehouse has (or may have) started on the order
AFTER_DISPATCH = frozenset(
    {
        OrderStatus.DISPATCHED,
        OrderStatus.PARTIALLY_SHIPPED,
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
        OrderStatus.PARTIALLY_RETURNED,
        OrderStatus.RETURNED,
    }
)


class IllegalTransition(ErpsyncError):
    """An order was asked to move to a status that may not follow its current one."""


def check(order: str, current: str, target: str) -> None:
    """Raise ``IllegalTransition`` unless ``target`` may follow ``current``."""
    if target not in TRANSITIONS.get(current, frozenset()):
        allowed = ", ".join(sorted(TRANSITIONS.get(current, frozenset()))) or "none (it is final)"
        raise IllegalTransition(
            f"order {order} cannot go from {current} to {target}; from {current} it may go to: {allowed}"
        )


def transition(conn: Connection, order_id: int, target: OrderStatus, *, reason: str | None = None) -> str:
    """Move an order to ``target`` (locking it); returns the status it had."""
    row = conn.execute(
        select(SalesOrder.status, SalesOrder.channel, SalesOrder.external_id)
        .where(SalesOrder.id == order_id)
        .with_for_update()
    ).one()
    check(f"{row.channel}/{row.external_id}", row.status, target)
    conn.execute(
        update(SalesOrder)
        .where(SalesOrder.id == order_id)
        .values(
            status=target, hold_reason=reason if target == OrderStatus.ON_HOLD else None, updated_at=utcnow()
        )
    )
    return str(row.status)


def lock_held(conn: Connection, order_ids: Sequence[int]) -> list[int]:
    """Those of ``order_ids`` still on hold, locked until the transaction ends."""
    return list(
        conn.execute(
            select(SalesOrder.id)
            .where(SalesOrder.id.in_(order_ids), SalesOrder.status == OrderStatus.ON_HOLD)
            .order_by(SalesOrder.id)
            .with_for_update()
        ).scalars()
    )


def requeue_held(conn: Connection, order_ids: Sequence[int]) -> None:
    """Send held orders (locked with ``lock_held``) back to ``received`` in one statement."""
    check("(held orders)", OrderStatus.ON_HOLD, OrderStatus.RECEIVED)
    conn.execute(
        update(SalesOrder)
        .where(SalesOrder.id.in_(order_ids), SalesOrder.status == OrderStatus.ON_HOLD)
        .values(status=OrderStatus.RECEIVED, hold_reason=None, updated_at=utcnow())
    )


def _held(reason_start: str | None, channel: str | None) -> list[ColumnElement[bool]]:
    found = [SalesOrder.status == OrderStatus.ON_HOLD]
    if reason_start is not None:
        found.append(SalesOrder.hold_reason.startswith(reason_start, autoescape=True))
    if channel is not None:
        found.append(SalesOrder.channel == channel)
    return found


def held_orders(
    conn: Connection,
    *,
    reason_start: str | None = None,
    channel: str | None = None,
    after: int = 0,
    up_to: int | None = None,
    limit: int = 200,
) -> list[int]:
    """Ids of held orders (reason starting ``reason_start``, of ``channel``) above ``after``, oldest first."""
    query = select(SalesOrder.id).where(SalesOrder.id > after, *_held(reason_start, channel))
    if up_to is not None:
        query = query.where(SalesOrder.id <= up_to)
    return list(conn.execute(query.order_by(SalesOrder.id).limit(limit)).scalars())


def count_held(
    conn: Connection, *, reason_start: str | None = None, channel: str | None = None
) -> tuple[int, int | None]:
    """How many orders ``held_orders`` would give without a limit, and the highest id among them."""
    row = conn.execute(
        select(func.count(), func.max(SalesOrder.id)).where(*_held(reason_start, channel))
    ).one()
    return int(row[0]), row[1]
