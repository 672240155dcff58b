"""Two runners, one store, lock conflicts while results are recorded: every stock push arrives once.

A third connection grabs the rows a runner is about to record its result in (the listing and
the outbox message) right after the channel accepted a push, and holds them longer than the
runner's lock wait allows (MariaDB: ``innodb_lock_wait_timeout`` of 1 s; SQLite: a short busy
timeout). The recording transaction fails with 1205 / "database is locked" and must be run
again; if it were given up, the message would stay claimed and be pushed a second time.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

from core.ports import PushResult, StockUpdate
from delivery.worker import OutboxWorker
from store import stock
from store.db import is_lock_conflict, is_mysql, make_engine
from store.locations import LocationSpec, apply_locations
from store.models import ChannelListing, Outbox
from sync.outbound import TOPIC, plan_and_enqueue
from sync.sellable import ChannelPolicy, Rule
from sync.stock_push import PushHandler

SKUS = [f"S{n:02d}" for n in range(12)]
CHANNELS = ("shop-a", "shop-b")
HELD_PUSHES = 4  # the first pushes whose recording runs into a lock held by someone else


class Locker:
    """The third connection: on request, locks the rows a push result goes to, then holds them."""

    def __init__(self, engine: Engine, hold: float) -> None:
        self.engine, self.hold = engine, hold
        self.requests: queue.Queue[tuple[str, list[str], list[str], threading.Event] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def lock(self, channel: str, skus: list[str], keys: list[str]) -> None:
        locked = threading.Event()
        self.requests.put((channel, skus, keys, locked))
        assert locked.wait(30)

    def close(self) -> None:
        self.requests.put(None)
        self.thread.join(30)

    def _serve(self) -> None:
        while (request := self.requests.get()) is not None:
            channel, skus, keys, locked = request
            with self.engine.connect() as conn, conn.begin():  # SQLite: BEGIN IMMEDIATE locks it all
                conn.execute(
                    select(ChannelListing.sku)
                    .where(ChannelListing.channel == channel, ChannelListing.sku.in_(skus))
                    .with_for_update()
                ).all()
                conn.execute(select(Outbox.id).where(Outbox.key.in_(keys)).with_for_update()).all()
                locked.set()
                time.sleep(self.hold)


class CountingChannel:
    """Accepts every push and counts each ref; the first pushes get their result rows locked."""

    push_batch_limit = 3

    def __init__(self, name: str, arrived: Counter[str], locker: Locker, budget: list[int]) -> None:
        self.name, self.arrived, self.locker, self.budget = name, arrived, locker, budget
        self.lock = threading.Lock()

    def push_stock(self, updates: list[StockUpdate]) -> list[PushResult]:
        with self.lock:
            self.arrived.update(u.ref for u in updates)
            held = self.budget[0] > 0
            self.budget[0] -= 1
        if held:
            self.locker.lock(self.name, [u.sku for u in updates], [u.ref for u in updates])
        return [PushResult(u.sku, "ok", u.quantity) for u in updates]

    def read_stock(self, skus: list[str]) -> dict[str, int]:
        return {}


def impatient(store_engine: Engine) -> Engine:
    """Another engine on the same store whose lock waits give up quickly."""
    engine = make_engine(store_engine.url.render_as_string(hide_password=False))

    @event.listens_for(engine, "connect")
    def _short_waits(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        if is_mysql(engine):
            cur.execute("SET SESSION innodb_lock_wait_timeout = 1")
        else:
            cur.execute("PRAGMA busy_timeout = 200")
        cur.close()

    return engine


@pytest.fixture
def queued(store_engine: Engine) -> Engine:
    ids = apply_locations(store_engine, [LocationSpec("WH", "Factory", "warehouse")])
    with store_engine.begin() as conn:
        for n, sku in enumerate(SKUS):
            stock.adjust(conn, sku, ids["WH"], 10 + n, ref="count")
    policies = [ChannelPolicy(name, ("WH",), Rule()) for name in CHANNELS]
    for name in CHANNELS:
        assert plan_and_enqueue(store_engine, policies, name) == len(SKUS)
    return store_engine


def pending(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(Outbox.delivered_at.is_(None), Outbox.failed_at.is_(None))
            ).scalar_one()
        )


def test_two_runners_push_each_listing_version_once_despite_lock_conflicts(queued: Engine) -> None:
    store_engine = queued
    locker = Locker(store_engine, hold=1.5 if is_mysql(store_engine) else 0.5)
    arrived: Counter[str] = Counter()
    budget = [HELD_PUSHES]
    workers_engine = impatient(store_engine)
    conflicts = [0]

    @event.listens_for(workers_engine, "handle_error")
    def _count(context: Any) -> None:
        conflicts[0] += is_lock_conflict(context.sqlalchemy_exception)

    channels = {name: CountingChannel(name, arrived, locker, budget) for name in CHANNELS}
    stop = threading.Event()
    runners = [
        OutboxWorker(
            workers_engine,
            {TOPIC: PushHandler(workers_engine, channels)},
            worker_id=f"runner-{n}",
            per_partition={TOPIC: 6},
            ttl=timedelta(seconds=10),
        )
        for n in (1, 2)
    ]

    def keep_draining(runner: OutboxWorker) -> None:
        while not stop.is_set():
            if runner.drain(stop=stop).total == 0:
                stop.wait(0.05)

    threads = [threading.Thread(target=keep_draining, args=(r,)) for r in runners]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 90
        while pending(store_engine) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        locker.close()
        workers_engine.dispose()
    with store_engine.connect() as conn:
        keys = set(conn.execute(select(Outbox.key).where(Outbox.topic == TOPIC)).scalars())
        listed = dict(conn.execute(select(ChannelListing.sku, ChannelListing.last_pushed_qty).where(
            ChannelListing.channel == "shop-a"
        )).tuples().all())  # fmt: skip
    assert budget[0] < 0  # every held push was provoked
    assert conflicts[0] >= HELD_PUSHES  # and ran into a lock it gave up waiting for
    assert pending(store_engine) == 0
    assert set(arrived) == keys
    assert [ref for ref, times in arrived.items() if times != 1] == []
    assert listed == {sku: 10 + n for n, sku in enumerate(SKUS)}
