"""The outbox table's queries: enqueue inside a business transaction, claim and settle outside it.

A message is written by :func:`enqueue` in the same transaction as the change it announces, so
the two commit or roll back together. A worker then :func:`claim`\\ s due messages in a short
transaction of its own, delivers them with no transaction open, and settles each one with
:func:`mark_delivered`, :func:`mark_retry` or :func:`mark_failed`.
The service asks :func:`due_topics` which topics have messages due and hands those to a worker.

States: *pending* (neither delivered nor failed), *delivered* (``delivered_at`` set, the last
error cleared) and *failed* (``failed_at`` set: a dead letter, kept for a person to look at and
requeue). What a person sees — lists, one message, the delivery state of an order's messages — is
in :mod:`store.queries`; requeueing is in :mod:`store.outbox_retry`.

Ordering: messages with the same ``(topic, partition)`` are delivered one after another in id
order. Only the head of a partition (its oldest pending message) may be claimed, and only when it
is due and unclaimed; a claim takes up to ``per_partition`` consecutive due messages from the
head. A head waiting for a retry therefore holds its whole partition back; a failed head lets it
move on. Ids follow insert order, so two transactions that enqueue into one partition at the same
time should already be serialised by a lock on the business row they change.

Claims: ``claimed_by`` / ``claimed_until`` mark who works on a message. On MySQL/MariaDB the claim
locks rows with ``FOR UPDATE SKIP LOCKED`` (MySQL 8, MariaDB 10.6+), so two workers never claim the
same message; on SQLite every transaction begins with ``BEGIN IMMEDIATE`` and writers serialise.
A claim that outlives ``claimed_until`` may be taken by another worker; the ``mark_*`` functions
only change messages still claimed by the calling worker and return how many they changed.
:func:`release_claims_of_gone` frees the claims of a provably ended process (``store.owners``).

Lock conflicts: :func:`claim`, the ``mark_*`` functions and :func:`release` each run one short
transaction that is run again when the database picks it as a deadlock victim or a lock wait
times out (``store.db.retry_on_lock_conflict``). A result that failed to be recorded would
leave the message claimed until ``claimed_until`` and then send it a second time.

Errors: :func:`enqueue` raises ``ValueError`` for a topic or partition longer than its column (a
longer key is stored as :func:`message_key` gives it); database errors are SQLAlchemy's. Stored
error texts are redacted and cut to 2000 chars.

>>> with engine.begin() as conn:
...     reserve_stock(conn, order)
...     enqueue(conn, "channel.stock", f"stock:{sku}:{version}", {"sku": sku, "qty": 7}, partition="shop1")
>>> for message in claim(engine, "channel.stock", "worker-1", ttl=timedelta(minutes=2)):
...     push(message)  # no transaction open here
...     mark_delivered(engine, [message.id], "worker-1")
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Insert, Row, and_, case, func, or_, select, update
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from core.clock import utcnow
from core.excerpt import shorten
from core.redact import redact_text
from store.db import retry_on_lock_conflict
from store.models import Outbox
from store.owners import is_gone

MAX_ERROR_CHARS = 2000
#: rows per INSERT statement in :func:`enqueue_many` (keeps under SQLite's bound-parameter limit)
INSERT_CHUNK = 1000
_LIMITS = {"topic": 64, "key": 191, "partition": 128}
_COLUMNS = tuple(Outbox.__table__.columns)
KEY_DIGEST_CHARS = 40
#: how much of its head a key longer than the column keeps (then ``#`` and a digest of the whole)
KEY_HEAD_CHARS = _LIMITS["key"] - KEY_DIGEST_CHARS - 1


@dataclass(frozen=True)
class NewMessage:
    """A message to enqueue; ``not_before`` delays its first delivery."""

    topic: str
    key: str
    payload: dict[str, Any]
    partition: str = ""
    not_before: datetime | None = None


@dataclass(frozen=True)
class Message:
    """A claimed message, as handed to a delivery handler."""

    id: int
    topic: str
    partition: str
    key: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


def is_pending() -> ColumnElement[bool]:
    """Neither delivered nor failed."""
    return and_(Outbox.delivered_at.is_(None), Outbox.failed_at.is_(None))


def _ready(now: datetime) -> ColumnElement[bool]:
    unclaimed = or_(Outbox.claimed_until.is_(None), Outbox.claimed_until <= now)
    return and_(Outbox.next_attempt_at <= now, unclaimed)


def _clean_error(error: str) -> str:
    return shorten(redact_text(error), MAX_ERROR_CHARS)


def message_key(key: str) -> str:
    """``key`` as stored: a key longer than its column keeps its head and ends in a digest of the whole.

    Keys are built from business ids (a fulfilment's channel, order id and tracking number) that may
    together exceed the column; the digest keeps two such keys apart and the same key the same.
    """
    if len(key) <= _LIMITS["key"]:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:KEY_DIGEST_CHARS]
    return f"{key[:KEY_HEAD_CHARS]}#{digest}"


def _row(message: NewMessage, now: datetime) -> dict[str, Any]:
    for field in ("topic", "partition"):
        value, limit = getattr(message, field), _LIMITS[field]
        if len(value) > limit:
            raise ValueError(f"outbox {field} {value[:40]!r}… is longer than {limit} characters")
    return {
        "topic": message.topic,
        "partition_key": message.partition,
        "key": message_key(message.key),
        "payload": message.payload,
        "attempts": 0,
        "next_attempt_at": message.not_before or now,
        "created_at": now,
    }


def _insert_ignoring_duplicates(conn: Connection, rows: list[dict[str, Any]]) -> int:
    stmt: Insert
    if conn.dialect.name in ("mysql", "mariadb"):
        # IGNORE would also turn too-long values into warnings: _row checks the lengths first.
        stmt = mysql.insert(Outbox).values(rows).prefix_with("IGNORE")
    else:
        stmt = sqlite.insert(Outbox).values(rows).on_conflict_do_nothing(index_elements=["key"])
    return conn.execute(stmt).rowcount


def enqueue(
    conn: Connection,
    topic: str,
    key: str,
    payload: dict[str, Any],
    *,
    partition: str = "",
    not_before: datetime | None = None,
) -> bool:
    """True if the message was added in ``conn``'s transaction, False if ``key`` was already there."""
    row = _row(NewMessage(topic, key, payload, partition, not_before), utcnow())
    return _insert_ignoring_duplicates(conn, [row]) == 1


def enqueue_many(conn: Connection, messages: Iterable[NewMessage]) -> int:
    """How many of ``messages`` were added (keys already present are skipped), one INSERT per chunk."""
    now = utcnow()
    rows = [_row(message, now) for message in messages]
    return sum(
        _insert_ignoring_duplicates(conn, rows[start : start + INSERT_CHUNK])
        for start in range(0, len(rows), INSERT_CHUNK)
    )


def _candidates(
    conn: Connection, topic: str | None, now: datetime, batch: int, per_partition: int
) -> list[list[int]]:
    """Per partition, oldest head first: the ids of the due, unclaimed run starting at its head."""
    partition = (Outbox.topic, Outbox.partition_key)
    ready_flag = case((_ready(now), 1), else_=0)
    ranked = (
        select(
            Outbox.id,
            func.min(Outbox.id).over(partition_by=partition).label("head"),
            func.row_number().over(partition_by=partition, order_by=Outbox.id).label("pos"),
            # 1 while every message from the head up to this one is ready
            func.min(ready_flag).over(partition_by=partition, order_by=Outbox.id).label("run_ready"),
        )
        .where(is_pending(), *([Outbox.topic == topic] if topic is not None else []))
        .subquery()
    )
    rows = conn.execute(
        select(ranked.c.id, ranked.c.head)
        .where(ranked.c.pos <= per_partition, ranked.c.run_ready == 1)
        .order_by(ranked.c.head, ranked.c.pos)
        .limit(batch)
    ).all()
    groups: dict[int, list[int]] = {}
    for row in rows:
        groups.setdefault(row.head, []).append(row.id)
    return list(groups.values())


def claim(
    engine: Engine,
    topic: str | None,
    worker: str,
    *,
    ttl: timedelta,
    now: datetime | None = None,
    batch: int = 100,
    per_partition: int = 1,
) -> list[Message]:
    """Up to ``batch`` due messages now claimed by ``worker`` until ``now + ttl``, partition by partition.

    The messages of one partition are consecutive from its head and in id order; partitions
    come oldest head first. ``topic=None`` claims from every topic. Commits before returning.
    """
    at = now or utcnow()

    def attempt() -> list[Message]:
        return _claim(engine, topic, worker, now=at, until=at + ttl, batch=batch, per_partition=per_partition)

    return retry_on_lock_conflict(attempt)


def _claim(
    engine: Engine,
    topic: str | None,
    worker: str,
    *,
    now: datetime,
    until: datetime,
    batch: int,
    per_partition: int,
) -> list[Message]:
    with engine.begin() as conn:
        groups = _candidates(conn, topic, now, batch, max(per_partition, 1))
        if not groups:
            return []
        locked = set(
            conn.execute(
                select(Outbox.id)
                .where(Outbox.id.in_([i for group in groups for i in group]), is_pending(), _ready(now))
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        ids: list[int] = []
        for group in groups:
            # Another worker may have taken or settled part of the run since it was read: keep
            # only the prefix we hold, so a later message never goes out without its elders.
            for message_id in group:
                if message_id not in locked:
                    break
                ids.append(message_id)
        if not ids:
            return []
        conn.execute(update(Outbox).where(Outbox.id.in_(ids)).values(claimed_by=worker, claimed_until=until))
        rows = {row.id: row for row in conn.execute(select(*_COLUMNS).where(Outbox.id.in_(ids)))}
    return [_message(rows[i]) for i in ids]


def _message(row: Row[Any]) -> Message:
    return Message(row.id, row.topic, row.partition_key, row.key, row.payload, row.attempts, row.created_at)


def _ours(ids: Sequence[int], worker: str) -> ColumnElement[bool]:
    return and_(Outbox.id.in_(ids), Outbox.claimed_by == worker, is_pending())


def _changed(engine: Engine, ids: Sequence[int], worker: str, values: dict[str, Any]) -> int:
    """How many of ``ids`` still claimed by ``worker`` got ``values`` (one transaction, retried)."""

    def attempt() -> int:
        with engine.begin() as conn:
            return conn.execute(update(Outbox).where(_ours(ids, worker)).values(**values)).rowcount

    return retry_on_lock_conflict(attempt)


def mark_delivered(engine: Engine, ids: Sequence[int], worker: str, *, now: datetime | None = None) -> int:
    """How many of ``ids`` were marked delivered (only those still claimed by ``worker``).

    The error of an earlier attempt is cleared: it no longer says anything about the message,
    whose ``attempts`` still count how many tries it took (each failure was logged when it happened).
    """
    if not ids:
        return 0
    values = {"delivered_at": now or utcnow(), "claimed_until": None, "last_error": None}
    return _changed(engine, ids, worker, values)


def mark_retry(engine: Engine, id: int, worker: str, error: str, next_attempt_at: datetime) -> bool:
    """True if message ``id`` (still ours) counts one more attempt and waits until ``next_attempt_at``.

    Its claim is released; as long as it is its partition's head, the partition waits with it.
    """
    values = {
        "attempts": Outbox.attempts + 1,
        "last_error": _clean_error(error),
        "next_attempt_at": next_attempt_at,
        "claimed_by": None,
        "claimed_until": None,
    }
    return _changed(engine, [id], worker, values) == 1


def mark_failed(engine: Engine, id: int, worker: str, error: str, *, now: datetime | None = None) -> bool:
    """True if message ``id`` (still ours) became a dead letter; its partition moves on without it."""
    values = {
        "attempts": Outbox.attempts + 1,
        "last_error": _clean_error(error),
        "failed_at": now or utcnow(),
        "claimed_until": None,
    }
    return _changed(engine, [id], worker, values) == 1


def release(engine: Engine, ids: Sequence[int], worker: str) -> int:
    """How many of ``ids`` (still ours) were given back unchanged, claimable again at once."""
    if not ids:
        return 0
    return _changed(engine, ids, worker, {"claimed_by": None, "claimed_until": None})


def release_claims_of_gone(engine: Engine) -> int:
    """How many pending messages claimed by a provably ended process (``store.owners``) were given back."""
    with engine.connect() as conn:
        claims = conn.execute(
            select(Outbox.claimed_by, Outbox.id).where(is_pending(), Outbox.claimed_by.is_not(None))
        )
        by_worker: dict[str, list[int]] = {}
        for worker, message_id in claims:
            by_worker.setdefault(worker, []).append(message_id)
    return sum(release(engine, ids, worker) for worker, ids in by_worker.items() if is_gone(worker))


def due_topics(engine: Engine, now: datetime | None = None) -> list[str]:
    """Topics with a pending message due and unclaimed at ``now`` (perhaps behind its partition's head)."""
    at = now or utcnow()
    with engine.connect() as conn:
        return sorted(conn.execute(select(Outbox.topic).where(is_pending(), _ready(at)).distinct()).scalars())


def backlog(conn: Connection, topic: str | None = None) -> dict[str, int]:
    """Pending messages per topic (topics with none are absent)."""
    stmt = select(Outbox.topic, func.count()).where(is_pending()).group_by(Outbox.topic)
    if topic is not None:
        stmt = stmt.where(Outbox.topic == topic)
    return {row[0]: row[1] for row in conn.execute(stmt)}
