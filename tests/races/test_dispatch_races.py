"""Races around a dispatch instruction: an acknowledgement against an SLA re-send, a shipment
report against a cancellation of its order.

Each test dispatches a few orders to the Guangzhou distributor (a signed webhook receiver on
loopback keeps every request by its ``Idempotency-Key``), then lets two threads act on the same
instructions at once, released by a barrier, with small random delays so that either side wins
some of the time. Rounds go on until both orders of events have happened (the assertions hold
for each), so the test really covers the interleaving it is about.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import Engine, select

from core.clock import utcnow
from delivery.worker import OutboxWorker
from routing import dispatch, shipments
from routing.dispatch import NotAllowed
from routing.process import OrderSettings, process_orders
from store import stock
from store.models import Allocation, DispatchInstruction, OrderLine, Outbox, SalesOrder, StockMovement
from sync.engine import StreamJob, run_stream
from tests.routing.test_delivery import Receiver, serve_receiver, webhook_sender
from tests.routing.test_order_flow import assert_ledger_consistent, level, order_row
from tests.sync.fakes import ListSource, plain_mapper

PER_ROUND = 4
MAX_ROUNDS = 12


class Shop:
    """The channel's orders, read by an ``orders`` stream; ``cancel`` marks some cancelled."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.rows: list[dict[str, Any]] = []
        self.job = StreamJob(ListSource("shop", {"orders": self.rows}), "orders", plain_mapper("orders"))
        self.stamp = 0

    def _tick(self) -> str:
        self.stamp += 1
        return f"t{self.stamp:05d}"

    def place(self, ids: list[str]) -> None:
        self.rows.extend(order_row(ext, [("TEA", 1)], updated=self._tick()) for ext in ids)
        run_stream(self.engine, self.job)

    def cancel(self, ids: list[str]) -> None:
        stamp = self._tick()
        for n, row in enumerate(self.rows):
            if row["id"] in ids:
                self.rows[n] = order_row(row["id"], [("TEA", 1)], status="cancelled", updated=stamp)
        run_stream(self.engine, self.job)


def dispatch_worker(engine: Engine, receiver: Receiver) -> OutboxWorker:
    handler = dispatch.InstructionHandler(engine, webhook_sender(receiver.url, "DS-GZ", "WH"), None)
    return OutboxWorker(engine, {dispatch.SEND_TOPIC: handler}, per_partition={dispatch.SEND_TOPIC: 20})


def drain(worker: OutboxWorker) -> None:
    for _ in range(5):
        worker.run_once()


def numbers(engine: Engine, ids: list[str]) -> dict[str, str]:
    """The instruction number of each order ``ids`` (one instruction each)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(SalesOrder.external_id, DispatchInstruction.number)
            .join(DispatchInstruction, DispatchInstruction.order_id == SalesOrder.id)
            .where(SalesOrder.external_id.in_(ids))
        ).all()
    assert len(rows) == len(ids)
    return {r.external_id: r.number for r in rows}


def dispatched(engine: Engine, shop: Shop, worker: OutboxWorker, first: int) -> dict[str, str]:
    """Place, route and send ``PER_ROUND`` single-unit orders; each order's instruction number."""
    ids = [str(first + n) for n in range(PER_ROUND)]
    shop.place(ids)
    process_orders(engine, OrderSettings(sla=timedelta(hours=2)))
    drain(worker)
    return numbers(engine, ids)


class Spread:
    """The pause before each of a racer's steps, scaled to how long the other side took last time.

    The racer's ``PER_ROUND`` steps then spread over about as long as the other side's work, on a
    fast machine or a loaded one, so each round has steps before, during and after it.
    """

    def __init__(self, pause: float) -> None:
        self.pause = pause

    @contextmanager
    def timed(self) -> Iterator[None]:
        started = time.monotonic()
        yield
        self.pause = max(0.005, 2 * (time.monotonic() - started) / PER_ROUND)


def race(left: Callable[[], None], right: Callable[[], None]) -> None:
    """Run both at once, released together; re-raise what either raised."""
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(fn: Callable[[], None]) -> None:
        try:
            barrier.wait(timeout=30)
            fn()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(fn,)) for fn in (left, right)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a racer hung"
    assert not errors, errors


def requests_for(receiver: Receiver, number: str) -> list[str]:
    """The idempotency keys of the instruction's requests the receiver accepted."""
    with receiver.lock:
        return [key for key, valid in receiver.calls if valid and f":{number}:" in key]


def test_an_acknowledgement_racing_an_sla_resend_is_kept_and_stops_the_resend(
    store_engine: Engine, world: dict[str, int], receiver: Receiver
) -> None:
    shop, worker = Shop(store_engine), dispatch_worker(store_engine, receiver)
    rng = random.Random(14)
    outcomes: set[str] = set()
    spread = Spread(0.03)
    for round_no in range(MAX_ROUNDS):
        numbered = dispatched(store_engine, shop, worker, 1000 + round_no * PER_ROUND)

        def warehouse_acks(numbered: dict[str, str] = numbered) -> None:
            for number in numbered.values():
                time.sleep(rng.uniform(0, spread.pause))
                assert dispatch.acknowledge(store_engine, number, by="gz") == "acknowledged"

        def sla_pass() -> None:
            time.sleep(rng.uniform(0, spread.pause))
            with spread.timed():
                dispatch.resend_overdue(store_engine, utcnow() + timedelta(hours=3))

        race(warehouse_acks, sla_pass)
        sent_before = {n: len(requests_for(receiver, n)) for n in numbered.values()}
        drain(worker)  # the service's outbox pass after both have committed
        with store_engine.connect() as conn:
            rows = conn.execute(
                select(
                    DispatchInstruction.number,
                    DispatchInstruction.status,
                    DispatchInstruction.acknowledged_by,
                    DispatchInstruction.send_count,
                ).where(DispatchInstruction.number.in_(list(numbered.values())))
            ).all()
        for r in rows:
            assert (r.status, r.acknowledged_by) == ("acknowledged", "gz"), r  # no ack lost
            # a re-send queued before the ack must not reach the warehouse once the ack is in
            assert len(requests_for(receiver, r.number)) == sent_before[r.number] == 1, (
                r.number,
                requests_for(receiver, r.number),
            )
            outcomes.add("resend queued first" if r.send_count > 1 else "ack first")
        if len(outcomes) == 2 and round_no >= 2:
            break
    assert outcomes == {"resend queued first", "ack first"}, outcomes
    with store_engine.connect() as conn:
        pending = conn.execute(select(Outbox.key).where(Outbox.delivered_at.is_(None))).scalars().all()
    assert pending == []  # a dropped re-send is done with, not left in the queue


def _ledger(engine: Engine, allocation_ids: list[int]) -> dict[int, list[str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(StockMovement.ref, StockMovement.reason).where(
                StockMovement.ref_type == "allocation",
                StockMovement.ref.in_([str(a) for a in allocation_ids]),
            )
        ).all()
    found: dict[int, list[str]] = {a: [] for a in allocation_ids}
    for ref, reason in rows:
        found[int(ref)].append(reason)
    return found


def test_a_shipment_racing_a_cancellation_ends_shipped_or_cancelled_never_both(
    store_engine: Engine, world: dict[str, int], receiver: Receiver
) -> None:
    shop, worker = Shop(store_engine), dispatch_worker(store_engine, receiver)
    rng = random.Random(41)
    gz = world["DS-GZ"]
    on_hand_before = level(store_engine, "TEA", gz)[0]
    shipped_units = 0
    outcomes: set[str] = set()
    spread = Spread(0.12)
    for round_no in range(MAX_ROUNDS):
        numbered = dispatched(store_engine, shop, worker, 2000 + round_no * PER_ROUND)
        reports: dict[str, str] = {}

        def warehouse_ships(numbered: dict[str, str] = numbered, reports: dict[str, str] = reports) -> None:
            for number in rng.sample(sorted(numbered.values()), len(numbered)):
                time.sleep(rng.uniform(0, spread.pause))
                try:
                    reports[number] = shipments.report_shipment(
                        store_engine, number, carrier="SF", tracking_no=f"SF{number[-8:]}"
                    )
                except NotAllowed:
                    reports[number] = "refused"

        def buyer_cancels(numbered: dict[str, str] = numbered) -> None:
            with spread.timed():
                shop.cancel(list(numbered))
                dispatch.request_recalls(store_engine)
                drain(worker)
                for number in numbered.values():  # the warehouse stops what it was recalled
                    if any(k.endswith(":recall") for k in requests_for(receiver, number)):
                        dispatch.acknowledge(store_engine, number, by="gz")

        race(warehouse_ships, buyer_cancels)
        in_race = {n: requests_for(receiver, n) for n in numbered.values()}
        # what the service does next: recalls still requested, their delivery, the warehouse's answer
        dispatch.request_recalls(store_engine)
        drain(worker)
        for number in numbered.values():
            if any(k.endswith(":recall") for k in requests_for(receiver, number)):
                dispatch.acknowledge(store_engine, number, by="gz")
        with store_engine.connect() as conn:
            rows = conn.execute(
                select(
                    SalesOrder.external_id,
                    SalesOrder.status.label("order_status"),
                    DispatchInstruction.id,
                    DispatchInstruction.number,
                    DispatchInstruction.status,
                )
                .join(DispatchInstruction, DispatchInstruction.order_id == SalesOrder.id)
                .where(DispatchInstruction.number.in_(list(numbered.values())))
            ).all()
            allocations = {
                r.dispatch_id: r
                for r in conn.execute(
                    select(Allocation.id, Allocation.dispatch_id, Allocation.status)
                    .join(OrderLine, OrderLine.id == Allocation.order_line_id)
                    .where(Allocation.dispatch_id.in_([r.id for r in rows]))
                )
            }
        ledger = _ledger(store_engine, [a.id for a in allocations.values()])
        for r in rows:
            a = allocations[r.id]
            moves = ledger[a.id]
            report = reports[r.number]
            if report == "shipped":
                # the parcel left first: the order is shipped, the cancellation changes nothing
                assert (r.order_status, r.status, a.status) == ("shipped", "shipped", stock.CONSUMED), r
                assert moves == ["dispatch"], (r, moves)  # consumed once, never released
                # a recall may have crossed the parcel's report; none goes out once the report is in
                assert requests_for(receiver, r.number) == in_race[r.number], r
                shipped_units += 1
                outcomes.add("shipped")
            else:
                # the recall was acknowledged first: the parcel is refused, the units are free again
                assert report == "refused", (r, report)
                assert (r.order_status, r.status, a.status) == ("cancelled", "recalled", stock.RELEASED), r
                assert moves == ["release"], (r, moves)  # released once, never consumed
                outcomes.add("cancelled")
        if len(outcomes) == 2 and round_no >= 2:
            break
    assert outcomes == {"shipped", "cancelled"}, outcomes
    assert level(store_engine, "TEA", gz) == (on_hand_before - shipped_units, 0)
    assert_ledger_consistent(store_engine)


def test_a_parcel_reported_while_the_channel_cancels_is_never_lost_to_a_deadlock(
    store_engine: Engine, world: dict[str, int], receiver: Receiver
) -> None:
    """The import of a cancellation locks the order, then its instructions; a parcel's report locks
    the instruction, then the order. On MariaDB one of the two is chosen as a deadlock victim; the
    report must be run again, not answered with an error (the API's 500) while the parcel left."""
    shop, worker = Shop(store_engine), dispatch_worker(store_engine, receiver)
    for round_no in range(8):
        numbered = dispatched(store_engine, shop, worker, 4000 + round_no * PER_ROUND)
        reports: dict[str, str] = {}

        def warehouse_ships(numbered: dict[str, str] = numbered, reports: dict[str, str] = reports) -> None:
            for number in sorted(numbered.values(), reverse=True):
                reports[number] = shipments.report_shipment(
                    store_engine, number, carrier="SF", tracking_no=f"SF{number[-8:]}"
                )

        race(warehouse_ships, partial(shop.cancel, list(numbered)))
        assert set(reports.values()) == {"shipped"}, reports
        with store_engine.connect() as conn:
            statuses = set(
                conn.execute(
                    select(SalesOrder.status).where(SalesOrder.external_id.in_(list(numbered)))
                ).scalars()
            )
        assert statuses == {"shipped"}
    assert_ledger_consistent(store_engine)


class AckingWarehouse(Receiver):
    """A warehouse whose system acknowledges a recall through the API before it answers the request."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.answers: dict[str, str] = {}

    def handle(self, target: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        reply = super().handle(target, headers, body)
        document = json.loads(body)
        if document["kind"] == "recall":
            number = document["number"]
            self.answers[number] = dispatch.acknowledge(self.engine, number, by="gz-wms")
        return reply


def test_a_recall_acknowledged_before_its_delivery_is_recorded_is_not_lost(
    store_engine: Engine, world: dict[str, int]
) -> None:
    """The warehouse's answer to a recall can reach erpsync before erpsync has recorded that the
    recall went out (its system acknowledges while erpsync's request is still open). The
    acknowledgement must still cancel the order and release its units."""
    warehouse = AckingWarehouse(store_engine)
    with serve_receiver(warehouse):
        shop, worker = Shop(store_engine), dispatch_worker(store_engine, warehouse)
        gz = world["DS-GZ"]
        numbered = dispatched(store_engine, shop, worker, 6000)
        shop.cancel(list(numbered))
        assert dispatch.request_recalls(store_engine) == PER_ROUND
        drain(worker)
    assert set(warehouse.answers.values()) == {"recalled"}, warehouse.answers
    with store_engine.connect() as conn:
        rows = conn.execute(
            select(SalesOrder.status, DispatchInstruction.status)
            .join(DispatchInstruction, DispatchInstruction.order_id == SalesOrder.id)
            .where(SalesOrder.external_id.in_(list(numbered)))
        ).all()
    assert {tuple(r) for r in rows} == {("cancelled", "recalled")}
    assert level(store_engine, "TEA", gz) == (10, 0)
    assert_ledger_consistent(store_engine)
