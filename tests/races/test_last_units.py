"""200 orders for the last units, routed by four processes at once: nobody gets stock that is not there.

``tests/store/test_stock_concurrency.py`` races threads on ``store.stock.reserve``; this goes the
whole way an order goes in the service. 200 single-unit orders wait for 110 free units (10 at the
Guangzhou distributor that serves the buyers, 100 at the factory behind it). Four processes,
released together by a barrier, each run the service's order pass (``routing.process
.process_orders``: validate, route on what is free, allocate, dispatch) over the same orders, as
four ``erpsync run`` would: each order is taken by one of them (under its row lock), and they
compete for the same two stock rows. A last pass picks up orders that lost
their units between routing and allocating. Exactly 110 orders are dispatched, 90 are held for
stock, every reservation is in the ledger once, and the levels equal the ledger's sums.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from typing import Any

from sqlalchemy import Engine, func, select

from routing.process import OrderSettings, process_orders
from store.db import make_engine
from store.models import Allocation, DispatchInstruction, OrderLine, Outbox, SalesOrder, StockMovement
from sync.engine import StreamJob, run_stream
from tests.routing.test_order_flow import assert_ledger_consistent, level, order_row
from tests.sync.fakes import ListSource, plain_mapper

ORDERS = 200
WORKERS = 4
FREE = 110  # TEA at DS-GZ (10) and at the factory (100), see the ``world`` fixture


def _route(url: str, barrier: Any, results: Any) -> None:
    """One service's order pass over the received orders, started with the others."""
    engine = make_engine(url)
    try:
        barrier.wait(timeout=60)
        stats = process_orders(engine, OrderSettings())
        results.put((stats.dispatched, stats.retried, None))
    except BaseException as exc:  # reported to the test, which fails with it
        results.put((0, 0, repr(exc)))
    finally:
        engine.dispose()


def test_four_processes_routing_200_orders_for_110_units_never_oversell(
    store_engine: Engine, world: dict[str, int]
) -> None:
    rows = [order_row(str(7000 + n), [("TEA", 1)], updated=f"t{n:04d}") for n in range(ORDERS)]
    shop = ListSource("shop", {"orders": rows}, size=100)
    run_stream(store_engine, StreamJob(shop, "orders", plain_mapper("orders")))
    url = store_engine.url.render_as_string(hide_password=False)
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(WORKERS), ctx.Queue()
    workers = [ctx.Process(target=_route, args=(url, barrier, results)) for _ in range(WORKERS)]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    assert [e for _, _, e in outcomes if e] == []
    if store_engine.dialect.name == "mysql":  # SQLite runs one writer at a time: one may take all
        assert sum(1 for won, _, _ in outcomes if won) >= 2, outcomes  # they really shared the work
    process_orders(store_engine, OrderSettings())  # what lost its units meanwhile is routed again

    with store_engine.connect() as conn:
        statuses = Counter(conn.execute(select(SalesOrder.status)).scalars())
        held = set(
            conn.execute(select(SalesOrder.hold_reason).where(SalesOrder.status == "on_hold")).scalars()
        )
        per_order = Counter(
            conn.execute(
                select(OrderLine.order_id)
                .join(Allocation, Allocation.order_line_id == OrderLine.id)
                .where(Allocation.status == "reserved")
            ).scalars()
        )
        instructions = conn.execute(select(func.count()).select_from(DispatchInstruction)).scalar_one()
        sends = conn.execute(select(func.count()).where(Outbox.topic == "dispatch.send")).scalar_one()
        reserves = Counter(
            conn.execute(select(StockMovement.ref).where(StockMovement.reason == "reserve")).scalars()
        )
    assert statuses == {"dispatched": FREE, "on_hold": ORDERS - FREE}, statuses
    assert all(reason.startswith("no_stock") for reason in held), held
    assert len(per_order) == FREE
    assert set(per_order.values()) == {1}
    assert instructions == sends == FREE
    assert len(reserves) == FREE
    assert set(reserves.values()) == {1}
    assert level(store_engine, "TEA", world["DS-GZ"]) == (10, 10)
    assert level(store_engine, "TEA", world["WH"]) == (100, 100)
    assert_ledger_consistent(store_engine)
