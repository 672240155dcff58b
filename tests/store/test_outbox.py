"""The outbox queries: idempotent enqueue, FIFO claims per partition, claims that expire, dead letters."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from core.clock import utcnow
from store import outbox, outbox_retry, queries
from store.models import Outbox
from store.outbox import Message, NewMessage

TTL = timedelta(minutes=2)


@pytest.fixture
def now() -> datetime:
    return utcnow()


def put(
    engine: Engine,
    key: str,
    *,
    partition: str = "p1",
    topic: str = "t",
    not_before: datetime | None = None,
) -> None:
    with engine.begin() as conn:
        assert outbox.enqueue(conn, topic, key, {"key": key}, partition=partition, not_before=not_before)


def keys(messages: list[Message]) -> list[str]:
    return [m.key for m in messages]


def row(engine: Engine, key: str) -> Outbox:
    with engine.connect() as conn:
        found = conn.execute(select(*Outbox.__table__.columns).where(Outbox.key == key)).one()
    return found  # type: ignore[return-value]


def claim(engine: Engine, worker: str, now: datetime, **kwargs: object) -> list[Message]:
    return outbox.claim(engine, "t", worker, now=now, ttl=TTL, **kwargs)  # type: ignore[arg-type]


# -- enqueue ---------------------------------------------------------------------------------------


def test_enqueue_twice_with_one_key_keeps_the_first_message(store_engine: Engine) -> None:
    with store_engine.begin() as conn:
        assert outbox.enqueue(conn, "t", "k1", {"qty": 1}) is True
        assert outbox.enqueue(conn, "t", "k1", {"qty": 2}) is False
    with store_engine.begin() as conn:
        assert outbox.enqueue(conn, "t", "k1", {"qty": 3}) is False
    with store_engine.connect() as conn:
        rows = conn.execute(select(Outbox.key, Outbox.payload)).all()
    assert [(r.key, r.payload) for r in rows] == [("k1", {"qty": 1})]


def test_enqueue_rolls_back_with_the_business_transaction(store_engine: Engine) -> None:
    def change_that_fails() -> None:
        with store_engine.begin() as conn:
            outbox.enqueue(conn, "t", "k1", {})
            raise RuntimeError("the business change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()
    with store_engine.connect() as conn:
        assert outbox.backlog(conn) == {}


def test_enqueue_many_adds_new_keys_in_one_go(store_engine: Engine) -> None:
    put(store_engine, "old")
    batch = [NewMessage("t", f"k{i}", {"i": i}, partition=f"p{i % 2}") for i in range(5)]
    with store_engine.begin() as conn:
        added = outbox.enqueue_many(conn, [*batch, NewMessage("t", "old", {}), NewMessage("t", "k0", {})])
    assert added == 5
    with store_engine.connect() as conn:
        assert outbox.backlog(conn) == {"t": 6}
        assert outbox.enqueue_many(conn, []) == 0


def test_a_key_longer_than_its_column_is_stored_with_a_digest_and_stays_unique(store_engine: Engine) -> None:
    # a fulfilment's key joins channel, order id and tracking number: together they may pass 191
    long_a = "fulfilment.push:" + "shop-" * 12 + ":" + "9" * 128 + ":SF-1"
    long_b = long_a[:-1] + "2"
    with store_engine.begin() as conn:
        assert outbox.enqueue(conn, "t", long_a, {})
        assert not outbox.enqueue(conn, "t", long_a, {})  # the same key is still the same message
        assert outbox.enqueue(conn, "t", long_b, {})
        keys = conn.execute(select(Outbox.key).order_by(Outbox.id)).scalars().all()
    assert keys == [outbox.message_key(long_a), outbox.message_key(long_b)]
    assert all(len(k) == 191 and k.startswith("fulfilment.push:shop-") for k in keys)
    assert outbox.message_key("short:key") == "short:key"


def test_enqueue_refuses_a_partition_longer_than_its_column(store_engine: Engine) -> None:
    with store_engine.begin() as conn, pytest.raises(ValueError, match="partition"):
        outbox.enqueue(conn, "t", "k", {}, partition="p" * 129)


# -- claims ----------------------------------------------------------------------------------------


def test_only_the_head_of_each_partition_is_claimed(store_engine: Engine, now: datetime) -> None:
    for key, partition in [("a1", "p1"), ("a2", "p1"), ("b1", "p2")]:
        put(store_engine, key, partition=partition, not_before=now)

    first = claim(store_engine, "w1", now)
    assert keys(first) == ["a1", "b1"]
    assert first[0].partition == "p1"
    assert first[0].payload == {"key": "a1"}
    assert claim(store_engine, "w2", now) == []  # a2 waits for its head

    assert outbox.mark_delivered(store_engine, [first[0].id], "w1") == 1
    assert keys(claim(store_engine, "w2", now)) == ["a2"]  # b1 is still claimed by w1


def test_per_partition_takes_consecutive_messages_from_the_head(store_engine: Engine, now: datetime) -> None:
    for i in range(5):
        put(store_engine, f"a{i}", not_before=now)
    put(store_engine, "b0", partition="p2", not_before=now)

    batch = claim(store_engine, "w1", now, per_partition=3)
    assert keys(batch) == ["a0", "a1", "a2", "b0"]
    assert [m.id for m in batch[:3]] == sorted(m.id for m in batch[:3])
    assert claim(store_engine, "w2", now, per_partition=3) == []  # a3 is not a head

    outbox.mark_delivered(store_engine, [m.id for m in batch], "w1")
    assert keys(claim(store_engine, "w2", now, per_partition=3)) == ["a3", "a4"]


def test_batch_limits_the_messages_of_one_claim(store_engine: Engine, now: datetime) -> None:
    for i in range(3):
        put(store_engine, f"a{i}", not_before=now)
        put(store_engine, f"b{i}", partition="p2", not_before=now)
    assert keys(claim(store_engine, "w1", now, per_partition=2, batch=3)) == ["a0", "a1", "b0"]


def test_a_message_not_yet_due_holds_its_partition_back(store_engine: Engine, now: datetime) -> None:
    put(store_engine, "a1", not_before=now + timedelta(hours=1))
    put(store_engine, "a2", not_before=now)
    put(store_engine, "b1", partition="p2", not_before=now)
    put(store_engine, "b2", partition="p2", not_before=now + timedelta(hours=1))
    put(store_engine, "b3", partition="p2", not_before=now)

    (b1,) = claim(store_engine, "w1", now, per_partition=5)  # b3 never jumps b2
    assert b1.key == "b1"
    outbox.mark_delivered(store_engine, [b1.id], "w1")
    later = claim(store_engine, "w2", now + timedelta(hours=1), per_partition=5)
    assert keys(later) == ["a1", "a2", "b2", "b3"]


def test_claim_is_by_topic_or_across_topics(store_engine: Engine, now: datetime) -> None:
    put(store_engine, "x", topic="email", not_before=now)
    put(store_engine, "y", topic="push", not_before=now)  # same partition name, other topic
    assert keys(outbox.claim(store_engine, "email", "w1", now=now, ttl=TTL)) == ["x"]
    assert keys(outbox.claim(store_engine, None, "w1", now=now, ttl=TTL)) == ["y"]


def test_an_expired_claim_can_be_taken_by_another_worker(store_engine: Engine, now: datetime) -> None:
    put(store_engine, "a1", not_before=now)
    (mine,) = claim(store_engine, "w1", now)
    assert claim(store_engine, "w2", now + TTL - timedelta(seconds=1)) == []

    (theirs,) = claim(store_engine, "w2", now + TTL)
    assert theirs.id == mine.id
    assert row(store_engine, "a1").claimed_by == "w2"
    assert outbox.mark_delivered(store_engine, [mine.id], "w1") == 0
    assert outbox.mark_delivered(store_engine, [mine.id], "w2") == 1


def test_a_worker_that_lost_its_claim_cannot_settle(store_engine: Engine, now: datetime) -> None:
    put(store_engine, "a1", not_before=now)
    (message,) = claim(store_engine, "w1", now)
    claim(store_engine, "w2", now + TTL)

    assert outbox.mark_retry(store_engine, message.id, "w1", "late", now) is False
    assert outbox.mark_failed(store_engine, message.id, "w1", "late") is False
    assert outbox.mark_delivered(store_engine, [message.id], "w1") == 0
    assert outbox.release(store_engine, [message.id], "w1") == 0
    stored = row(store_engine, "a1")
    assert (stored.claimed_by, stored.attempts, stored.last_error) == ("w2", 0, None)
    assert (stored.delivered_at, stored.failed_at) == (None, None)


def test_retry_counts_the_attempt_and_waits(store_engine: Engine, now: datetime) -> None:
    put(store_engine, "a1", not_before=now)
    put(store_engine, "a2", not_before=now)
    (message,) = claim(store_engine, "w1", now)

    assert outbox.mark_retry(store_engine, message.id, "w1", "503 from shop", now + timedelta(seconds=10))
    stored = row(store_engine, "a1")
    assert (stored.attempts, stored.last_error, stored.claimed_by) == (1, "503 from shop", None)
    assert claim(store_engine, "w1", now + timedelta(seconds=9)) == []  # a2 waits too
    (again,) = claim(store_engine, "w1", now + timedelta(seconds=10))
    assert (again.key, again.attempts) == ("a1", 1)


def test_release_gives_messages_back_unchanged(store_engine: Engine, now: datetime) -> None:
    put(store_engine, "a1", not_before=now)
    (message,) = claim(store_engine, "w1", now)
    assert outbox.release(store_engine, [message.id], "w1") == 1
    (again,) = claim(store_engine, "w2", now)
    assert (again.id, again.attempts) == (message.id, 0)


def test_a_failed_head_lets_its_partition_move_on(store_engine: Engine, now: datetime) -> None:
    put(store_engine, "a1", not_before=now)
    put(store_engine, "a2", not_before=now)
    (head,) = claim(store_engine, "w1", now)
    assert outbox.mark_failed(store_engine, head.id, "w1", "422 unknown sku", now=now)

    assert keys(claim(store_engine, "w1", now)) == ["a2"]
    stored = row(store_engine, "a1")
    assert (stored.failed_at, stored.last_error, stored.attempts) == (now, "422 unknown sku", 1)
    with store_engine.connect() as conn:
        failed = queries.list_messages(conn, status="failed")
    assert [(m.key, m.status) for m in failed] == [("a1", "failed")]


def test_stored_errors_are_redacted_and_cut(store_engine: Engine, now: datetime) -> None:
    put(store_engine, "a1", not_before=now)
    (message,) = claim(store_engine, "w1", now)
    error = "refused: Authorization: Bearer abc.def.ghi " + "x" * 5000
    outbox.mark_failed(store_engine, message.id, "w1", error)
    stored = row(store_engine, "a1").last_error
    assert stored is not None
    assert len(stored) == 2000
    assert "abc.def.ghi" not in stored
    assert stored.startswith("refused: Authorization: Bearer *** xxx")


def test_requeue_puts_a_dead_letter_back_at_the_head(store_engine: Engine, now: datetime) -> None:
    put(store_engine, "a1", not_before=now)
    put(store_engine, "a2", not_before=now)
    put(store_engine, "a3", not_before=now)
    (head,) = claim(store_engine, "w1", now)
    outbox.mark_retry(store_engine, head.id, "w1", "503", now)
    (head,) = claim(store_engine, "w1", now)
    outbox.mark_failed(store_engine, head.id, "w1", "gave up")
    (second,) = claim(store_engine, "w1", now)
    outbox.mark_delivered(store_engine, [second.id], "w1")

    with store_engine.begin() as conn:
        assert outbox_retry.requeue(conn, [head.id, second.id], now=now) == 1  # a2 was delivered, not failed
    (again,) = claim(store_engine, "w2", now)
    assert (again.key, again.attempts) == ("a1", 0)  # before a3
    assert row(store_engine, "a1").last_error == "gave up"


def test_backlog_counts_pending_messages_per_topic(store_engine: Engine, now: datetime) -> None:
    for i in range(3):
        put(store_engine, f"e{i}", topic="email", partition=f"p{i}", not_before=now)
    put(store_engine, "s1", topic="stock", not_before=now)
    messages = outbox.claim(store_engine, "email", "w1", now=now, ttl=TTL)
    outbox.mark_delivered(store_engine, [messages[0].id], "w1")
    outbox.mark_failed(store_engine, messages[1].id, "w1", "no")

    with store_engine.connect() as conn:
        assert outbox.backlog(conn) == {"email": 1, "stock": 1}  # a claimed message is still pending
        assert outbox.backlog(conn, "stock") == {"stock": 1}
        statuses = Counter(m.status for m in queries.list_messages(conn, topic="email"))
        pending = queries.list_messages(conn, status="pending", limit=1)
    assert statuses == {"pending": 1, "delivered": 1, "failed": 1}
    assert [m.key for m in pending] == ["e2"]


# -- several workers at once -----------------------------------------------------------------------


def test_concurrent_workers_claim_every_message_exactly_once(store_engine: Engine, now: datetime) -> None:
    with store_engine.begin() as conn:
        outbox.enqueue_many(
            conn, [NewMessage("t", f"m{i}", {}, partition=f"p{i % 20}", not_before=now) for i in range(200)]
        )
    claimed: list[Message] = []  # in the order workers got them
    lock = threading.Lock()
    errors: list[BaseException] = []
    deadline = time.monotonic() + 60

    def work(worker: str) -> None:
        try:
            while time.monotonic() < deadline:
                batch = outbox.claim(store_engine, "t", worker, now=now, ttl=TTL, batch=7, per_partition=3)
                if not batch:
                    with store_engine.connect() as conn:
                        if not outbox.backlog(conn):
                            return
                    time.sleep(0.002)
                    continue
                with lock:
                    claimed.extend(batch)
                assert outbox.mark_delivered(store_engine, [m.id for m in batch], worker) == len(batch)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert errors == []

    ids = [m.id for m in claimed]
    assert len(ids) == 200
    assert len(set(ids)) == 200
    by_partition: dict[str, list[int]] = defaultdict(list)
    for message in claimed:
        by_partition[message.partition].append(message.id)
    assert all(seq == sorted(seq) for seq in by_partition.values())  # FIFO held across workers
