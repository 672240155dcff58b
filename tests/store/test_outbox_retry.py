"""What a person sees of the outbox and does with it: errors cleared on delivery, retries, lookups by key."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from core.clock import utcnow
from store import outbox, outbox_retry, queries
from store.models import Outbox

TTL = timedelta(minutes=2)


@pytest.fixture
def now() -> datetime:
    return utcnow() + timedelta(seconds=1)  # after every message the test enqueues is due


def put(
    engine: Engine, key: str, *, topic: str = "t", partition: str = "p", payload: dict | None = None
) -> int:
    with engine.begin() as conn:
        outbox.enqueue(conn, topic, key, payload or {"key": key}, partition=partition)
        return int(conn.execute(select(Outbox.id).where(Outbox.key == outbox.message_key(key))).scalar_one())


def fail(engine: Engine, topic: str, error: str, now: datetime) -> int:
    """Claim the head of ``topic`` and make it a dead letter; its id."""
    [message] = outbox.claim(engine, topic, "w1", now=now, ttl=TTL)
    assert outbox.mark_failed(engine, message.id, "w1", error, now=now)
    return message.id


def stored(engine: Engine, message_id: int) -> queries.MessageInfo:
    with engine.connect() as conn:
        found = queries.get_message(conn, message_id)
    assert found is not None
    return found.info


def test_a_delivery_clears_the_error_of_an_earlier_attempt(store_engine: Engine, now: datetime) -> None:
    message_id = put(store_engine, "a1")
    [message] = outbox.claim(store_engine, "t", "w1", now=now, ttl=TTL)
    outbox.mark_retry(store_engine, message.id, "w1", "503 from the ERP", now)
    assert stored(store_engine, message_id).last_error == "503 from the ERP"

    [message] = outbox.claim(store_engine, "t", "w1", now=now, ttl=TTL)
    assert outbox.mark_delivered(store_engine, [message.id], "w1", now=now) == 1
    info = stored(store_engine, message_id)
    assert (info.status, info.last_error, info.attempts) == ("delivered", None, 1)


def test_retry_requeues_a_failed_message_and_says_what_it_did(store_engine: Engine, now: datetime) -> None:
    failed = put(store_engine, "f1", topic="erp")
    fail(store_engine, "erp", "creating sales orders is off", now)
    waiting = put(store_engine, "w1", topic="push")
    [message] = outbox.claim(store_engine, "push", "w1", now=now, ttl=TTL)
    outbox.mark_retry(store_engine, message.id, "w1", "timeout", now + timedelta(minutes=10))
    held = put(store_engine, "c1", topic="mail")
    outbox.claim(store_engine, "mail", "w2", now=now, ttl=TTL)
    sent = put(store_engine, "d1", topic="done")
    [message] = outbox.claim(store_engine, "done", "w1", now=now, ttl=TTL)
    outbox.mark_delivered(store_engine, [message.id], "w1")

    with store_engine.begin() as conn:
        outcomes = [
            outbox_retry.retry_message(conn, i, now=now) for i in (failed, waiting, held, sent, 10**9)
        ]
    assert outcomes == ["requeued", "due_now", "claimed", "delivered", None]
    info = stored(store_engine, failed)
    assert (info.status, info.attempts, info.last_error) == ("pending", 0, "creating sales orders is off")
    assert stored(store_engine, waiting).next_attempt_at == now
    [again] = outbox.claim(store_engine, "erp", "w3", now=now, ttl=TTL)
    assert again.id == failed


def test_requeue_failed_takes_the_oldest_up_to_a_limit_then_all(store_engine: Engine, now: datetime) -> None:
    ids = []
    for n in range(5):
        put(store_engine, f"e{n}", topic="erp", partition=f"p{n}")
        ids.append(fail(store_engine, "erp", f"refused {n}", now))
    put(store_engine, "m1", topic="mail")
    fail(store_engine, "mail", "bad address", now)

    assert outbox_retry.requeue_failed(store_engine, topic="erp", limit=2, batch=1, now=now) == 2
    with store_engine.connect() as conn:
        pending = queries.list_messages(conn, status="pending")
        assert sorted(m.id for m in pending) == ids[:2]
        assert queries.count_messages(conn, topic="erp", status="failed") == 3
    assert outbox_retry.requeue_failed(store_engine, topic="erp", limit=None, batch=2, now=now) == 3
    with store_engine.connect() as conn:
        assert queries.count_messages(conn, topic="erp", status="failed") == 0
        assert queries.count_messages(conn, topic="mail", status="failed") == 1  # another topic
    assert outbox_retry.requeue_failed(store_engine, topic="erp", limit=None) == 0


def test_show_names_the_payload_fields_and_the_order_never_their_values(store_engine: Engine) -> None:
    message_id = put(store_engine, "x1", payload={"ship_to": {"name": "王小明"}, "instruction_id": 999})
    with store_engine.connect() as conn:
        found = queries.get_message(conn, message_id)
    assert found is not None
    assert sorted(found.payload_fields) == ["instruction_id", "ship_to"]
    assert (found.order, found.instruction) == (None, None)  # no such instruction
    assert "王小明" not in repr(found)


def test_messages_by_key_finds_exact_keys_and_prefixes_long_keys_included(store_engine: Engine) -> None:
    long_ref = "shop:" + "A" * 200  # longer than the key column: stored as its head and a digest
    put(store_engine, "erp:shop/1", payload={"order_id": 1})
    put(store_engine, f"ful:{long_ref}:SF1", payload={"order_id": 2})
    put(store_engine, f"ful:{long_ref}:SF2", payload={"order_id": 2})
    put(store_engine, "ful:shop:1:SF9", payload={"order_id": 1})
    put(store_engine, "ful:shop:10:SF9", payload={"order_id": 10})  # "ful:shop:1:" is no prefix of it
    put(store_engine, "ful:shop:1_:SF9", payload={"order_id": 11})
    put(store_engine, "ful:shop:1x:SF9", payload={"order_id": 12})  # "_" is no LIKE wildcard here
    with store_engine.connect() as conn:
        found = queries.messages_by_key(
            conn, ["erp:shop/1"], ["ful:shop:1:", "ful:shop:1_:", f"ful:{long_ref}:"]
        )
    assert sorted(m.order_id for m in found) == [1, 1, 2, 2, 11]
    assert {m.status for m in found} == {"pending"}
