"""Reservations never oversell: many workers racing for the last units get exactly what is free.

Eight threads, each on its own connection and transactions, try 200 single-unit reservations
between them (one barrier per round, so every round is a real race) against 50 units on hand.
A deadlock or lock wait timeout (MySQL/MariaDB 1213/1205) rolls the attempt back; it is retried
and counted, and never counted as a success.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError

from store import stock
from store.locations import LocationSpec, apply_locations
from store.models import StockLevel, StockMovement

SKU = "TEA-LAST"
ON_HAND = 50
ORDERS = 200
WORKERS = 8
#: MySQL/MariaDB: deadlock found, lock wait timeout exceeded
RETRIABLE = {1213, 1205}


def _retriable(exc: OperationalError) -> bool:
    args: Any = getattr(exc.orig, "args", ())
    return bool(args) and args[0] in RETRIABLE


class Race:
    """Runs ``attempt(i)`` for every order across the workers, round by round."""

    def __init__(self, engine: Engine, attempt: Callable[[Any, int], bool]) -> None:
        self.engine = engine
        self.attempt = attempt
        self.results: dict[int, bool] = {}
        self.retries = 0
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(WORKERS)

    def _one(self, i: int) -> bool:
        while True:
            try:
                with self.engine.begin() as conn:
                    return self.attempt(conn, i)
            except OperationalError as exc:
                if not _retriable(exc):
                    raise
                with self.lock:
                    self.retries += 1

    def _worker(self, w: int) -> None:
        mine = range(w, ORDERS, WORKERS)
        try:
            for i in mine:
                self.barrier.wait(timeout=60)
                ok = self._one(i)
                with self.lock:
                    self.results[i] = ok
        except BaseException as exc:
            self.errors.append(exc)
            self.barrier.abort()

    def run(self) -> None:
        threads = [threading.Thread(target=self._worker, args=(w,)) for w in range(WORKERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not any(t.is_alive() for t in threads), "a worker hung"
        real = [e for e in self.errors if not isinstance(e, threading.BrokenBarrierError)]
        assert not real, real
        assert not self.errors


def _stock_up(engine: Engine, safety_stock: int) -> int:
    ids = apply_locations(engine, [LocationSpec("WH", "Warehouse", "warehouse", safety_stock=safety_stock)])
    with engine.begin() as conn:
        stock.adjust(conn, SKU, ids["WH"], ON_HAND, ref="opening count")
    return ids["WH"]


def _race(engine: Engine, location_id: int) -> Race:
    def attempt(conn: Any, i: int) -> bool:
        return stock.reserve(conn, SKU, location_id, 1, ref_type="order_line", ref=str(i))

    race = Race(engine, attempt)
    race.run()
    return race


def _check(engine: Engine, race: Race, location_id: int, expected: int) -> None:
    assert len(race.results) == ORDERS
    won = sorted(i for i, ok in race.results.items() if ok)
    assert len(won) == expected
    with engine.connect() as conn:
        level = conn.execute(
            select(StockLevel.on_hand, StockLevel.reserved).where(
                StockLevel.sku == SKU, StockLevel.location_id == location_id
            )
        ).one()
        ledger = conn.execute(
            select(
                StockMovement.ref,
                StockMovement.delta_on_hand,
                StockMovement.delta_reserved,
                StockMovement.reserved_after,
            )
            .where(StockMovement.reason == "reserve")
            .order_by(StockMovement.id)
        ).all()
        sums = conn.execute(
            select(func.sum(StockMovement.delta_on_hand), func.sum(StockMovement.delta_reserved)).where(
                StockMovement.sku == SKU, StockMovement.location_id == location_id
            )
        ).one()
    assert tuple(level) == (ON_HAND, expected)
    assert len(ledger) == expected
    assert sorted(int(r.ref) for r in ledger) == won  # the winners, each ledgered once
    assert {(r.delta_on_hand, r.delta_reserved) for r in ledger} == {(0, 1)}
    # each reservation saw the one before it: the level after each is 1, 2, … in ledger order
    assert [r.reserved_after for r in ledger] == list(range(1, expected + 1))
    assert (int(sums[0]), int(sums[1])) == tuple(level)


def test_racing_workers_reserve_exactly_the_last_50(
    store_engine: Engine, request: pytest.FixtureRequest
) -> None:
    location_id = _stock_up(store_engine, safety_stock=0)
    race = _race(store_engine, location_id)
    request.node.user_properties.append(("lock_retries", race.retries))
    _check(store_engine, race, location_id, expected=ON_HAND)


def test_racing_workers_leave_the_safety_stock(store_engine: Engine, request: pytest.FixtureRequest) -> None:
    location_id = _stock_up(store_engine, safety_stock=5)
    race = _race(store_engine, location_id)
    request.node.user_properties.append(("lock_retries", race.retries))
    _check(store_engine, race, location_id, expected=ON_HAND - 5)


@pytest.mark.parametrize("qty", [0, -1])
def test_reserving_nothing_or_less_is_refused(store_engine: Engine, qty: int) -> None:
    location_id = _stock_up(store_engine, safety_stock=0)
    with store_engine.begin() as conn:
        assert not stock.reserve(conn, SKU, location_id, qty, ref_type="order_line", ref="x")
    with store_engine.connect() as conn:
        assert conn.execute(select(StockLevel.reserved)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(StockMovement)).scalar_one() == 1
