"""The outbox worker: retries with backoff, keeps partition order, redelivers after a crash, never drops."""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from structlog.testing import capture_logs

from core.clock import utcnow
from core.errors import AuthError, PermanentError, RetriableError
from delivery.outcomes import Delivered, Failed, Handler, Outcome, Retry
from delivery.worker import Backoff, OutboxWorker, RunStats
from store import outbox as store_outbox
from store.models import Outbox
from store.outbox import Message


class Clock:
    def __init__(self) -> None:
        self.now = utcnow() + timedelta(seconds=1)  # messages enqueued from now on are due

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Receiver:
    """A webhook endpoint that keeps one copy per idempotency key, like a well-behaved receiver."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.kept: dict[str, dict[str, Any]] = {}
        self.order: dict[str, list[int]] = defaultdict(list)

    def accept(self, message: Message) -> Delivered:
        self.calls.append(message.key)
        if message.key not in self.kept:
            self.kept[message.key] = message.payload
            self.order[message.partition].append(message.id)
        return Delivered()


def one_by_one(send: Callable[[Message], Outcome]) -> Handler:
    """A handler that sends messages in order and stops at the first one to retry."""

    def handle(messages: list[Message]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for message in messages:
            outcomes.append(send(message))
            if isinstance(outcomes[-1], Retry):
                break
        return outcomes + [Retry("not sent")] * (len(messages) - len(outcomes))

    return handle


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_worker(engine: Engine, handlers: dict[str, Handler], clock: Clock, **kwargs: Any) -> OutboxWorker:
    kwargs.setdefault("backoff", Backoff(jitter=0))
    kwargs.setdefault("worker_id", "w1")
    return OutboxWorker(engine, handlers, clock=clock, **kwargs)


def put(engine: Engine, key: str, *, partition: str = "p1", topic: str = "t", **payload: Any) -> None:
    with engine.begin() as conn:
        store_outbox.enqueue(conn, topic, key, {"key": key, **payload}, partition=partition)


def stored(engine: Engine, key: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(*Outbox.__table__.columns).where(Outbox.key == key)).one()


def pending(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return store_outbox.backlog(conn)


def test_receiver_down_twice_gets_the_message_once_after_backoff(store_engine: Engine, clock: Clock) -> None:
    put(store_engine, "k1")
    receiver, outages, seen_attempts = Receiver(), [2], []

    def send(message: Message) -> Outcome:
        seen_attempts.append(message.attempts)
        if outages[0]:
            outages[0] -= 1
            return Retry("503 Service Unavailable")
        return receiver.accept(message)

    worker = make_worker(store_engine, {"t": one_by_one(send)}, clock)
    assert worker.run_once() == RunStats(retried=1)
    assert stored(store_engine, "k1").next_attempt_at == clock.now + timedelta(seconds=2)

    for wait, expected in [(1.9, {}), (0.1, {"retried": 1}), (3.9, {}), (0.1, {"delivered": 1})]:
        clock.advance(wait)
        assert worker.run_once() == RunStats(**expected)
    row = stored(store_engine, "k1")
    # delivered: the error of an earlier attempt says nothing any more; attempts tell it took three
    assert (row.attempts, row.delivered_at, row.last_error) == (2, clock.now, None)
    clock.advance(3600)
    assert worker.run_once() == RunStats()
    assert seen_attempts == [0, 1, 2]
    assert receiver.calls == ["k1"]


def test_backoff_doubles_from_two_seconds_up_to_fifteen_minutes() -> None:
    exact = [Backoff(jitter=0).delay(n, random.Random(0)) for n in range(1, 13)]
    assert exact == [2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]
    rng = random.Random(7)
    for n, plain in enumerate(exact, start=1):
        jittered = [Backoff().delay(n, rng) for _ in range(50)]
        assert all(0.8 * plain <= d <= 1.2 * plain for d in jittered)
        assert len(set(jittered)) > 1
    assert Backoff().delay(10_000, rng) <= 1.2 * 900  # no overflow after a long outage


def test_retriable_error_retries_the_batch_after_retry_after(store_engine: Engine, clock: Clock) -> None:
    for key in ("a1", "a2", "a3"):
        put(store_engine, key)

    def throttled(messages: list[Message]) -> list[Outcome]:
        raise RetriableError("429 Too Many Requests", retry_after=30, connector="shop1")

    worker = make_worker(store_engine, {"t": throttled}, clock, per_partition={"t": 3})
    assert worker.run_once() == RunStats(retried=3)
    for key in ("a1", "a2", "a3"):
        row = stored(store_engine, key)
        assert (row.attempts, row.next_attempt_at, row.claimed_by) == (
            1,
            clock.now + timedelta(seconds=30),
            None,
        )
        assert row.last_error.startswith("429 Too Many Requests")


def test_max_attempts_turns_the_last_retry_into_a_dead_letter(store_engine: Engine, clock: Clock) -> None:
    put(store_engine, "a1")
    put(store_engine, "a2")
    receiver = Receiver()

    def send(message: Message) -> Outcome:
        return Retry("timeout") if message.key == "a1" else receiver.accept(message)

    worker = make_worker(store_engine, {"t": one_by_one(send)}, clock, max_attempts=2)
    assert worker.run_once() == RunStats(retried=1)
    clock.advance(2)
    assert worker.run_once() == RunStats(failed=1)
    assert worker.run_once() == RunStats(delivered=1)
    row = stored(store_engine, "a1")
    assert row.failed_at is not None
    assert row.last_error == "gave up after 2 attempts: timeout"
    assert receiver.calls == ["a2"]


def test_each_partition_arrives_in_order_across_retries(store_engine: Engine, clock: Clock) -> None:
    for i in range(18):
        put(store_engine, f"m{i}", partition=f"p{i % 3}")
    receiver, first_tries = Receiver(), set()

    def flaky(message: Message) -> Outcome:
        if message.id % 4 == 1 and message.key not in first_tries:  # every fourth message fails once
            first_tries.add(message.key)
            return Retry("connection reset")
        return receiver.accept(message)

    worker = make_worker(store_engine, {"t": one_by_one(flaky)}, clock, per_partition={"t": 4})
    for _ in range(50):
        worker.run_once()
        clock.advance(1)
        if not pending(store_engine):
            break

    assert len(first_tries) >= 3
    assert sorted(receiver.kept) == sorted(f"m{i}" for i in range(18))
    assert len(receiver.calls) == 18  # nothing sent ahead and then again
    for ids in receiver.order.values():
        assert len(ids) == 6
        assert ids == sorted(ids)


def test_messages_after_a_retry_are_released_unchanged(store_engine: Engine, clock: Clock) -> None:
    for key in ("a1", "a2", "a3"):
        put(store_engine, key)

    def mixed(messages: list[Message]) -> list[Outcome]:
        return [Delivered(), Retry("503"), Delivered()]

    worker = make_worker(store_engine, {"t": mixed}, clock, per_partition={"t": 3})
    assert worker.run_once() == RunStats(delivered=1, retried=1)
    a2, a3 = stored(store_engine, "a2"), stored(store_engine, "a3")
    assert stored(store_engine, "a1").delivered_at is not None
    assert (a2.attempts, a2.delivered_at) == (1, None)
    assert (a3.attempts, a3.delivered_at, a3.claimed_by, a3.claimed_until) == (0, None, None, None)


def test_crash_before_mark_delivered_resends_with_the_same_key(
    store_engine: Engine, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(store_engine, "order-42-dispatch")
    receiver = Receiver()
    handlers: dict[str, Handler] = {"t": one_by_one(receiver.accept)}

    def process_killed(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("process killed")

    monkeypatch.setattr(store_outbox, "mark_delivered", process_killed)
    with pytest.raises(RuntimeError, match="process killed"):
        make_worker(store_engine, handlers, clock, ttl=timedelta(minutes=1)).run_once()
    monkeypatch.undo()

    restarted = make_worker(store_engine, handlers, clock, worker_id="w2")
    assert restarted.run_once() == RunStats()  # the dead worker's claim still holds
    clock.advance(60)
    assert restarted.run_once() == RunStats(delivered=1)
    assert restarted.run_once() == RunStats()

    assert receiver.calls == ["order-42-dispatch", "order-42-dispatch"]
    assert list(receiver.kept) == ["order-42-dispatch"]


def test_permanent_error_fails_the_first_message_and_the_partition_goes_on(
    store_engine: Engine, clock: Clock
) -> None:
    for key in ("a1", "a2", "a3"):
        put(store_engine, key)
    receiver = Receiver()

    def handler(messages: list[Message]) -> list[Outcome]:
        if messages[0].key == "a1":
            raise PermanentError("422 unknown SKU", connector="shop1", external_id="a1")
        return [receiver.accept(m) for m in messages]

    worker = make_worker(store_engine, {"t": handler}, clock, per_partition={"t": 3})
    assert worker.run_once() == RunStats(failed=1)
    assert stored(store_engine, "a2").claimed_by is None  # released, not retried
    assert worker.run_once() == RunStats(delivered=2)

    a1 = stored(store_engine, "a1")
    assert a1.failed_at == clock.now
    assert a1.last_error.startswith("422 unknown SKU")
    assert receiver.calls == ["a2", "a3"]


def test_failed_outcome_is_a_dead_letter_and_the_batch_goes_on(store_engine: Engine, clock: Clock) -> None:
    for key in ("a1", "a2", "a3"):
        put(store_engine, key)

    def handler(messages: list[Message]) -> list[Outcome]:
        return [Delivered(), Failed("400 bad address"), Delivered()]

    worker = make_worker(store_engine, {"t": handler}, clock, per_partition={"t": 3})
    assert worker.run_once() == RunStats(delivered=2, failed=1)
    assert stored(store_engine, "a2").last_error == "400 bad address"
    assert pending(store_engine) == {}


def test_auth_error_is_retried_with_backoff_and_logged_as_error(store_engine: Engine, clock: Clock) -> None:
    put(store_engine, "a1")

    def handler(messages: list[Message]) -> list[Outcome]:
        raise AuthError("401 token expired", connector="shop1")

    with capture_logs() as logs:
        assert make_worker(store_engine, {"t": handler}, clock).run_once() == RunStats(retried=1)
    row = stored(store_engine, "a1")
    assert (row.attempts, row.next_attempt_at) == (1, clock.now + timedelta(seconds=2))
    (entry,) = [e for e in logs if e["log_level"] == "error"]
    assert entry["topic"] == "t"
    assert entry["key"] == "a1"
    assert "401 token expired" in entry["error"]


def test_handler_bug_is_retried_and_logged_with_traceback(store_engine: Engine, clock: Clock) -> None:
    put(store_engine, "a1")

    def handler(messages: list[Message]) -> list[Outcome]:
        return [Delivered() for _ in messages[0].payload["lines"]]  # KeyError

    with capture_logs() as logs:
        assert make_worker(store_engine, {"t": handler}, clock).run_once() == RunStats(retried=1)
    (entry,) = [e for e in logs if e["log_level"] == "error"]
    assert isinstance(entry["exc_info"], KeyError)
    assert stored(store_engine, "a1").last_error == "KeyError: 'lines'"


def test_wrong_number_of_outcomes_is_retried(store_engine: Engine, clock: Clock) -> None:
    put(store_engine, "a1")
    put(store_engine, "a2")
    with capture_logs() as logs:
        worker = make_worker(store_engine, {"t": lambda ms: [Delivered()]}, clock, per_partition={"t": 2})
        assert worker.run_once() == RunStats(retried=2)
    assert any(e["log_level"] == "error" for e in logs)
    assert stored(store_engine, "a1").delivered_at is None


def test_messages_of_an_unknown_topic_wait_and_are_reported(store_engine: Engine, clock: Clock) -> None:
    put(store_engine, "n1", topic="fax")
    put(store_engine, "t1")
    receiver = Receiver()
    # the worker that handles every topic erpsync writes (the service's) reports the others
    worker = make_worker(store_engine, {"t": one_by_one(receiver.accept)}, clock, report_unhandled=True)

    with capture_logs() as logs:
        assert worker.run_once() == RunStats(delivered=1)
        assert worker.run_once() == RunStats()  # reported again only after a while
        clock.advance(5 * 60)
        worker.run_once()
    reports = [e for e in logs if e["log_level"] == "error"]
    assert [(e["topic"], e["pending"]) for e in reports] == [("fax", 1), ("fax", 1)]
    assert pending(store_engine) == {"fax": 1}
    assert stored(store_engine, "n1").claimed_by is None


def test_log_lines_never_carry_payloads(store_engine: Engine, clock: Clock) -> None:
    for key in ("a1", "a2", "a3"):
        put(store_engine, key, note="PAYLOAD-MARKER")
    outcomes: list[Callable[[list[Message]], list[Outcome]]] = [
        lambda ms: [Retry("503")],
        lambda ms: [Failed("400")],
        lambda ms: [Delivered()],
    ]

    def handler(messages: list[Message]) -> list[Outcome]:
        if messages[0].key == "a3":
            raise ValueError("broken")
        return outcomes.pop(0)(messages)

    with capture_logs() as logs:
        worker = make_worker(store_engine, {"t": handler}, clock)
        for _ in range(4):
            worker.run_once()
            clock.advance(10)
    assert len(logs) >= 3
    assert "PAYLOAD-MARKER" not in repr(logs)


def test_a_drain_delivers_until_nothing_is_due_and_ends_when_the_store_is_away(
    store_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("a1", "a2"):
        put(store_engine, key)
    put(store_engine, "b1", partition="p2")
    receiver = Receiver()
    real_claim = store_outbox.claim
    outages = [OperationalError("SELECT", {}, Exception("server has gone away"))]

    def claim(*args: Any, **kwargs: Any) -> list[Message]:
        if outages:
            raise outages.pop()
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(store_outbox, "claim", claim)
    worker = OutboxWorker(store_engine, {"t": one_by_one(receiver.accept)})
    with capture_logs() as logs:
        assert worker.drain("t") == RunStats()  # the store is away: nothing lost, nothing raised
    assert any("server has gone away" in str(e.get("error")) for e in logs)
    # the next drain goes on, pass after pass (a2 waits for a1), until nothing is due
    assert worker.drain("t") == RunStats(delivered=3)
    assert sorted(receiver.calls) == ["a1", "a2", "b1"]
    assert pending(store_engine) == {}


def test_a_drain_told_to_stop_takes_no_further_batch(store_engine: Engine) -> None:
    put(store_engine, "a1")
    put(store_engine, "a2")
    stop = threading.Event()

    def handler(messages: list[Message]) -> list[Outcome]:
        stop.set()  # stopping while the first batch is delivered: it is finished, no other is taken
        return [Delivered() for _ in messages]

    assert OutboxWorker(store_engine, {"t": handler}).drain(stop=stop) == RunStats(delivered=1)
    assert pending(store_engine) == {"t": 1}


def test_only_the_worker_for_every_topic_reports_topics_without_a_handler(store_engine: Engine) -> None:
    with store_engine.begin() as conn:
        store_outbox.enqueue(conn, "alert.notify", "alert:1:opened:ops", {"title": "t"}, partition="ops")
        store_outbox.enqueue(conn, "stock.push", "stock:shop:TEA:1", {"qty": 1}, partition="shop")
    sent: list[str] = []
    push = one_by_one(lambda m: sent.append(m.key) or Delivered())
    with capture_logs() as logs:
        OutboxWorker(store_engine, {"stock.push": push}).run_once()  # a push in the foreground
    assert sent == ["stock:shop:TEA:1"]
    assert not [e for e in logs if "no handler" in e["event"]]

    with capture_logs() as logs:
        OutboxWorker(store_engine, {"stock.push": push}, report_unhandled=True).run_once()
    (unhandled,) = [e for e in logs if "no handler" in e["event"]]
    assert (unhandled["topic"], unhandled["pending"], unhandled["log_level"]) == ("alert.notify", 1, "error")
