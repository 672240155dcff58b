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
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select, update

from mapping.errors import ErpsyncError
from mapping.records import utcnow
from store.models import SalesOrder

RECEIVED, VALIDATED, ALLOCATED, DISPATCHED = "received", "validated", "allocated", "dispatched"
PARTIALLY_SHIPPED, SHIPPED, DELIVERED = "partially_shipped", "shipped", "delivered"
ON_HOLD, CANCELLED, RETURNED, PARTIALLY_RETURNED = "on_hold", "cancelled", "returned", "partially_returned"

TRANSITIONS: dict[str, frozenset[str]] = {
    RECEIVED: frozenset({VALIDATED, ON_HOLD, CANCELLED}),
    VALIDATED: frozenset({ALLOCATED, ON_HOLD, CANCELLED, RECEIVED}),
    ON_HOLD: frozenset({RECEIVED, CANCELLED}),
    ALLOCATED: frozenset({DISPATCHED, ON_HOLD, CANCELLED, RECEIVED}),
    DISPATCHED: frozenset({PARTIALLY_SHIPPED, SHIPPED, CANCELLED}),
    PARTIALLY_SHIPPED: frozenset({SHIPPED, PARTIALLY_RETURNED, RETURNED}),
    SHIPPED: frozenset({DELIVERED, PARTIALLY_RETURNED, RETURNED}),
    DELIVERED: frozenset({PARTIALLY_RETURNED, RETURNED}),
    PARTIALLY_RETURNED: frozenset({RETURNED, PARTIALLY_RETURNED}),
    RETURNED: frozenset(),
    CANCELLED: frozenset(),
}
#: states in which the order's units are not reserved anywhere yet
BEFORE_ALLOCATION = frozenset({RECEIVED, VALIDATED, ON_HOLD})
#: states in which a warehouse has (or may have) started on the order
AFTER_DISPATCH = frozenset({DISPATCHED, PARTIALLY_SHIPPED, SHIPPED, DELIVERED, PARTIALLY_RETURNED, RETURNED})


class IllegalTransition(ErpsyncError):
    """An order was asked to move to a status that may not follow its current one."""


def check(order: str, current: str, target: str) -> None:
    """Raise ``IllegalTransition`` unless ``target`` may follow ``current``."""
    if target not in TRANSITIONS.get(current, frozenset()):
        allowed = ", ".join(sorted(TRANSITIONS.get(current, frozenset()))) or "none (it is final)"
        raise IllegalTransition(
            f"order {order} cannot go from {current} to {target}; from {current} it may go to: {allowed}"
        )


def transition(conn: Connection, order_id: int, target: str, *, reason: str | None = None) -> str:
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
        .values(status=target, hold_reason=reason if target == ON_HOLD else None, updated_at=utcnow())
    )
    return str(row.status)


def lock_held(conn: Connection, order_ids: Sequence[int]) -> list[int]:
    """Those of ``order_ids`` still on hold, locked until the transaction ends."""
    return list(
        conn.execute(
            select(SalesOrder.id)
            .where(SalesOrder.id.in_(order_ids), SalesOrder.status == ON_HOLD)
            .order_by(SalesOrder.id)
            .with_for_update()
        ).scalars()
    )


def requeue_held(conn: Connection, order_ids: Sequence[int]) -> None:
    """Send held orders (locked with ``lock_held``) back to ``received`` in one statement."""
    check("(held orders)", ON_HOLD, RECEIVED)
    conn.execute(
        update(SalesOrder)
        .where(SalesOrder.id.in_(order_ids), SalesOrder.status == ON_HOLD)
        .values(status=RECEIVED, hold_reason=None, updated_at=utcnow())
    )
