"""The order state machine: allowed moves go through, illegal ones are refused with a clear error."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, insert, select

from core.clock import utcnow
from core.statuses import OrderStatus
from store import orders
from store.models import SalesOrder


def new_order(engine: Engine) -> int:
    now = utcnow()
    with engine.begin() as conn:
        res = conn.execute(
            insert(SalesOrder).values(
                channel="tmall",
                external_id="T1",
                status="received",
                currency="CNY",
                created_at=now,
                updated_at=now,
            )
        )
        return int(res.inserted_primary_key[0])  # type: ignore[index]


def test_a_legal_path_and_a_hold_with_its_reason(store_engine: Engine) -> None:
    oid = new_order(store_engine)
    with store_engine.begin() as conn:
        orders.transition(conn, oid, OrderStatus.ON_HOLD, reason="ship-to address incomplete: missing phone")
    with store_engine.connect() as conn:
        row = conn.execute(select(SalesOrder.status, SalesOrder.hold_reason)).one()
    assert tuple(row) == ("on_hold", "ship-to address incomplete: missing phone")
    with store_engine.begin() as conn:
        for target in (
            OrderStatus.RECEIVED,
            OrderStatus.VALIDATED,
            OrderStatus.ALLOCATED,
            OrderStatus.DISPATCHED,
            OrderStatus.SHIPPED,
            OrderStatus.DELIVERED,
            OrderStatus.PARTIALLY_RETURNED,
            OrderStatus.RETURNED,
        ):
            orders.transition(conn, oid, target)
    with store_engine.connect() as conn:
        assert conn.execute(select(SalesOrder.status, SalesOrder.hold_reason)).one() == ("returned", None)


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ([], OrderStatus.SHIPPED),  # received -> shipped skips validation, routing and dispatch
        (
            [OrderStatus.VALIDATED, OrderStatus.ALLOCATED, OrderStatus.DISPATCHED],
            OrderStatus.ON_HOLD,
        ),  # dispatched: recall, not hold
        ([OrderStatus.CANCELLED], OrderStatus.RECEIVED),  # cancelled is final
    ],
)
def test_illegal_moves_are_refused_and_change_nothing(
    store_engine: Engine, path: list[str], illegal: str
) -> None:
    oid = new_order(store_engine)
    with store_engine.begin() as conn:
        for target in path:
            orders.transition(conn, oid, target)
    current = path[-1] if path else "received"
    with (
        pytest.raises(
            orders.IllegalTransition, match=f"order tmall/T1 cannot go from {current} to {illegal}"
        ),
        store_engine.begin() as conn,
    ):
        orders.transition(conn, oid, illegal)
    with store_engine.connect() as conn:
        assert conn.execute(select(SalesOrder.status)).scalar_one() == current
