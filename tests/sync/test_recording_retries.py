"""Each place that records a delivery's result runs its transaction again after a deadlock.

The store is made to pick the first write of a result as a deadlock victim (MySQL error 1213,
raised the way PyMySQL raises it); the result must be recorded anyway and the receiver must get
the message once.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.exc import OperationalError

from core.clock import utcnow
from core.ports import PushResult, SalesDoc, StockUpdate
from delivery.worker import OutboxWorker
from routing import dispatch
from routing.delivery import DeliveryTarget, DispatchSender
from routing.erp import TOPIC as ERP_TOPIC
from routing.erp import ErpOrderHandler
from store import outbox
from store.models import AuditLog, ChannelListing, DispatchInstruction, Outbox, SalesOrder
from sync.outbound import TOPIC, enqueue, plan
from sync.sellable import ChannelPolicy, Rule
from sync.stock_push import PushHandler
from tests.routing import test_order_flow as flow
from tests.routing.test_parcels import dispatched

world = flow.world


class DeadlockFound(Exception):
    """What PyMySQL raises for error 1213."""


class Victim:
    """Fails the next ``times`` writes to ``table`` as deadlock victims."""

    def __init__(self, engine: Engine, table: str, times: int = 1) -> None:
        self.engine, self.table, self.left, self.hits = engine, table, times, 0

    def __enter__(self) -> Victim:
        event.listen(self.engine, "before_cursor_execute", self._maybe_fail)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._maybe_fail)

    def _maybe_fail(self, _conn: Any, _cursor: Any, statement: str, params: Any, *_rest: Any) -> None:
        head = statement.split("SET", maxsplit=1)[0]
        writes = head.split()[0].upper() in ("UPDATE", "INSERT") and self.table in head
        if self.left and writes:
            self.left -= 1
            self.hits += 1
            raise OperationalError(
                statement, params, DeadlockFound(1213, "Deadlock found when trying to get lock")
            )


@pytest.fixture
def messages(store_engine: Engine) -> list[int]:
    with store_engine.begin() as conn:
        for n in range(3):
            outbox.enqueue(conn, "test.topic", f"key-{n}", {"n": n}, partition="p")
        return list(conn.execute(select(Outbox.id).order_by(Outbox.id)).scalars())


def state(engine: Engine, message_id: int) -> tuple[Any, ...]:
    with engine.connect() as conn:
        row = conn.execute(
            select(Outbox.claimed_by, Outbox.delivered_at, Outbox.failed_at, Outbox.attempts).where(
                Outbox.id == message_id
            )
        ).one()
    return (row.claimed_by, row.delivered_at is not None, row.failed_at is not None, row.attempts)


def test_outbox_claims_and_results_survive_a_deadlock(store_engine: Engine, messages: list[int]) -> None:
    ttl = timedelta(minutes=1)
    with Victim(store_engine, "outbox") as victim:
        claimed = outbox.claim(store_engine, "test.topic", "w1", ttl=ttl, per_partition=3)
    assert (victim.hits, [m.id for m in claimed]) == (1, messages)
    first, second, third = messages
    with Victim(store_engine, "outbox"):
        assert outbox.mark_delivered(store_engine, [first], "w1") == 1
    with Victim(store_engine, "outbox"):
        assert outbox.mark_retry(store_engine, second, "w1", "busy", utcnow()) is True
    with Victim(store_engine, "outbox"):
        assert outbox.release(store_engine, [third], "w1") == 1
    assert [state(store_engine, i) for i in messages] == [
        ("w1", True, False, 0),
        (None, False, False, 1),
        (None, False, False, 0),
    ]
    [again] = outbox.claim(store_engine, "test.topic", "w2", ttl=ttl, per_partition=1)
    with Victim(store_engine, "outbox"):
        assert outbox.mark_failed(store_engine, again.id, "w2", "refused") is True
    assert state(store_engine, again.id)[2] is True


class OneShop:
    name, push_batch_limit = "shop", 10

    def __init__(self) -> None:
        self.refs: list[str] = []

    def push_stock(self, updates: list[StockUpdate]) -> list[PushResult]:
        self.refs += [u.ref for u in updates]
        return [PushResult(u.sku, "ok", u.quantity) for u in updates]

    def read_stock(self, skus: list[str]) -> dict[str, int]:
        return {}


def test_a_push_result_is_recorded_after_a_deadlock_and_sent_once(
    store_engine: Engine, world: dict[str, int]
) -> None:
    policy = ChannelPolicy("shop", ("DS-GZ",), Rule())
    assert enqueue(store_engine, list(plan(store_engine, [policy], "shop"))) == 2
    shop = OneShop()
    worker = OutboxWorker(
        store_engine, {TOPIC: PushHandler(store_engine, {"shop": shop})}, per_partition={TOPIC: 5}
    )
    with Victim(store_engine, "channel_listing") as victim:
        assert worker.run_once().delivered == 2
    assert victim.hits == 1
    assert worker.run_once().total == 0
    assert sorted(shop.refs) == ["stock.push:shop:CUP:1", "stock.push:shop:TEA:1"]
    with store_engine.connect() as conn:
        pushed = dict(conn.execute(select(ChannelListing.sku, ChannelListing.last_pushed_qty)).tuples().all())
    assert pushed == {"CUP": 4, "TEA": 10}


def test_an_instruction_sent_is_recorded_after_a_deadlock(
    store_engine: Engine, world: dict[str, int], tmp_path: Path
) -> None:
    number = dispatched(store_engine, "7201", [("TEA", 1)])
    sender = DispatchSender({"DS-GZ": DeliveryTarget("csv", folder=str(tmp_path))}, None)
    worker = OutboxWorker(
        store_engine, {dispatch.SEND_TOPIC: dispatch.InstructionHandler(store_engine, sender, None)}
    )
    with Victim(store_engine, "dispatch_instruction") as victim:
        assert worker.run_once().delivered == 1
    assert victim.hits == 1
    assert flow_status(store_engine, number) == "sent"


def test_an_erp_document_is_recorded_after_a_deadlock(store_engine: Engine, world: dict[str, int]) -> None:
    dispatched(store_engine, "7202", [("TEA", 1)])

    class Erp:
        name, calls = "erp", 0

        def create_sales_order(self, doc: SalesDoc) -> str:
            Erp.calls += 1
            return "SO-1"

    with store_engine.begin() as conn:
        order_id = conn.execute(select(SalesOrder.id).where(SalesOrder.external_id == "7202")).scalar_one()
        outbox.enqueue(conn, ERP_TOPIC, "erp:7202", {"order_id": order_id}, partition="erp")
    worker = OutboxWorker(store_engine, {ERP_TOPIC: ErpOrderHandler(store_engine, {"erp": Erp()}, None)})
    with Victim(store_engine, "audit_log") as victim:
        assert worker.run_once().delivered == 1
    assert (victim.hits, Erp.calls) == (1, 1)
    with store_engine.connect() as conn:
        assert conn.execute(
            select(AuditLog.target).where(AuditLog.action == "erp_sales_order")
        ).scalar_one() == ("shop/7202")


def flow_status(engine: Engine, number: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                select(DispatchInstruction.status).where(DispatchInstruction.number == number)
            ).scalar_one()
        )
