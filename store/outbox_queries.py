"""What a person sees of the outbox and does with it: lists, one message, requeueing.

The worker's side (enqueue, claim, settle) is :mod:`store.outbox`; this module serves
``erpsync outbox`` and the delivery state that ``erpsync orders`` shows.

- :func:`list_messages` / :func:`count_messages`: messages by topic and status, never their
  payloads (a payload may hold personal data);
- :func:`get_message`: one message, its payload reduced to the names of its fields and the order
  or dispatch instruction it refers to (ids, not personal data);
- :func:`retry_message`: a failed message pending again, or a pending one due now;
  :func:`requeue_failed`: the failed ones, oldest first, one short transaction per batch;
- :func:`messages_by_key`: the messages with given keys or key prefixes, in one query.

Errors: database errors are SQLAlchemy's.

>>> with engine.connect() as conn:
...     failed = list_messages(conn, status=MessageState.FAILED, limit=50)
...     total = count_messages(conn, status=MessageState.FAILED)
>>> requeue_failed(engine, limit=500)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, Engine, Row, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from core.clock import utcnow
from core.statuses import MessageState
from store.models import DispatchInstruction, Outbox, SalesOrder
from store.outbox import KEY_HEAD_CHARS, is_pending

#: what :func:`retry_message` did: ``None`` from it means there is no such message
RetryOutcome = Literal["requeued", "due_now", "delivered", "claimed"]
#: failed messages requeued per transaction by :func:`requeue_failed`
REQUEUE_BATCH = 500
_INFO_COLUMNS = tuple(column for column in Outbox.__table__.columns if column.name != "payload")


@dataclass(frozen=True)
class MessageInfo:
    """One message without its payload (it may hold personal data)."""

    id: int
    topic: str
    partition: str
    key: str
    status: MessageState
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    claimed_by: str | None
    claimed_until: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    failed_at: datetime | None


@dataclass(frozen=True)
class MessageDetail:
    """One message for ``outbox show``: its row, the names of its payload's fields, what it is about."""

    info: MessageInfo
    payload_fields: tuple[str, ...]
    payload_chars: int
    #: ``channel/external_id`` of the order the payload names (``order_id``), if any
    order: str | None
    #: number of the dispatch instruction the payload names (``instruction_id``), if any
    instruction: str | None


@dataclass(frozen=True)
class KeyedMessage:
    """A message found by key: its state, and the order its payload names (``order_id``)."""

    id: int
    topic: str
    key: str
    status: MessageState
    last_error: str | None
    order_id: int | None


def status_filter(status: MessageState) -> ColumnElement[bool]:
    """The condition a message in ``status`` meets."""
    if status == MessageState.PENDING:
        return is_pending()
    if status == MessageState.DELIVERED:
        return Outbox.delivered_at.is_not(None)
    return Outbox.failed_at.is_not(None)


def _status(row: Row[Any]) -> MessageState:
    if row.delivered_at is not None:
        return MessageState.DELIVERED
    return MessageState.FAILED if row.failed_at is not None else MessageState.PENDING


def _info(row: Row[Any]) -> MessageInfo:
    return MessageInfo(
        id=row.id,
        topic=row.topic,
        partition=row.partition_key,
        key=row.key,
        status=_status(row),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        claimed_by=row.claimed_by,
        claimed_until=row.claimed_until,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        failed_at=row.failed_at,
    )


def _filters(topic: str | None, status: MessageState | None) -> list[ColumnElement[bool]]:
    found = [Outbox.topic == topic] if topic is not None else []
    return found + ([status_filter(status)] if status is not None else [])


def list_messages(
    conn: Connection, *, topic: str | None = None, status: MessageState | None = None, limit: int = 100
) -> list[MessageInfo]:
    """Up to ``limit`` messages: pending ones oldest first (delivery order), others newest first."""
    stmt = (
        select(*_INFO_COLUMNS)
        .where(*_filters(topic, status))
        .order_by(Outbox.id if status == MessageState.PENDING else Outbox.id.desc())
        .limit(limit)
    )
    return [_info(row) for row in conn.execute(stmt)]


def count_messages(conn: Connection, *, topic: str | None = None, status: MessageState | None = None) -> int:
    """How many messages :func:`list_messages` would list without a limit."""
    return int(
        conn.execute(select(func.count()).select_from(Outbox).where(*_filters(topic, status))).scalar_one()
    )


def get_message(conn: Connection, message_id: int) -> MessageDetail | None:
    """Message ``message_id`` for a person to read (its payload reduced, see the module doc), or None."""
    row = conn.execute(select(*_INFO_COLUMNS, Outbox.payload).where(Outbox.id == message_id)).first()
    if row is None:
        return None
    payload = row.payload if isinstance(row.payload, dict) else {}
    order, instruction = payload.get("order_id"), payload.get("instruction_id")
    order_ref = None
    if isinstance(order, int):
        found = conn.execute(
            select(SalesOrder.channel, SalesOrder.external_id).where(SalesOrder.id == order)
        ).first()
        order_ref = f"{found.channel}/{found.external_id}" if found else None
    number = None
    if isinstance(instruction, int):
        number = conn.execute(
            select(DispatchInstruction.number).where(DispatchInstruction.id == instruction)
        ).scalar()
    return MessageDetail(
        _info(row), tuple(payload), len(str(row.payload)), order_ref, str(number) if number else None
    )


def retry_message(conn: Connection, message_id: int, *, now: datetime | None = None) -> RetryOutcome | None:
    """Send message ``message_id`` again: what was done (see ``RetryOutcome``), None when there is none.

    A failed message is requeued (attempts reset, due now, its error kept until the next attempt);
    a pending one waiting for its next attempt is made due now; one a worker holds right now, or
    one already delivered, is left alone.
    """
    at = now or utcnow()
    row = conn.execute(
        select(Outbox.delivered_at, Outbox.failed_at, Outbox.claimed_until)
        .where(Outbox.id == message_id)
        .with_for_update()
    ).first()
    if row is None:
        return None
    if row.delivered_at is not None:
        return "delivered"
    if row.failed_at is not None:
        requeue(conn, [message_id], now=at)
        return "requeued"
    if row.claimed_until is not None and row.claimed_until > at:
        return "claimed"
    conn.execute(update(Outbox).where(Outbox.id == message_id, is_pending()).values(next_attempt_at=at))
    return "due_now"


def requeue(conn: Connection, ids: Sequence[int], *, now: datetime | None = None) -> int:
    """How many of the failed messages ``ids`` are pending again, due now, with attempts reset.

    A requeued message keeps its id, so it goes out before the later pending messages of its
    partition; ``last_error`` is kept until the next attempt (delivered: cleared).
    """
    if not ids:
        return 0
    return conn.execute(
        update(Outbox)
        .where(Outbox.id.in_(ids), Outbox.failed_at.is_not(None), Outbox.delivered_at.is_(None))
        .values(
            failed_at=None, attempts=0, next_attempt_at=now or utcnow(), claimed_by=None, claimed_until=None
        )
    ).rowcount


def requeue_failed(
    engine: Engine,
    *,
    topic: str | None = None,
    limit: int | None = REQUEUE_BATCH,
    batch: int = REQUEUE_BATCH,
    now: datetime | None = None,
) -> int:
    """How many failed messages (oldest first; at most ``limit``, None: all) are pending again.

    One transaction per ``batch`` messages. Only messages that had failed when it started are
    taken, so a message failing again meanwhile is not requeued twice by one call.
    """
    with engine.connect() as conn:
        last = conn.execute(select(func.max(Outbox.id)).where(*_filters(topic, MessageState.FAILED))).scalar()
    done, after = 0, 0
    while last is not None and (limit is None or done < limit):
        size = batch if limit is None else min(batch, limit - done)
        with engine.begin() as conn:
            ids = list(
                conn.execute(
                    select(Outbox.id)
                    .where(Outbox.id > after, Outbox.id <= last, *_filters(topic, MessageState.FAILED))
                    .order_by(Outbox.id)
                    .limit(size)
                ).scalars()
            )
            done += requeue(conn, ids, now=now)
        if len(ids) < size:
            break
        after = ids[-1]
    return done


def messages_by_key(
    conn: Connection, keys: Sequence[str], prefixes: Sequence[str] = ()
) -> list[KeyedMessage]:
    """The messages whose key is one of ``keys`` or starts with one of ``prefixes`` (one query).

    A prefix longer than the head a long key keeps (:data:`store.outbox.KEY_HEAD_CHARS`) matches
    on that head: compare ``order_id`` to tell apart two keys sharing it.
    """
    if not keys and not prefixes:
        return []
    heads = {prefix[:KEY_HEAD_CHARS] for prefix in prefixes}
    conditions: list[ColumnElement[bool]] = [Outbox.key.in_(keys)] if keys else []
    conditions += [Outbox.key.startswith(head, autoescape=True) for head in sorted(heads)]
    rows = conn.execute(
        select(*_INFO_COLUMNS, Outbox.payload).where(or_(*conditions)).order_by(Outbox.id)
    ).all()
    found = []
    for row in rows:
        order = row.payload.get("order_id") if isinstance(row.payload, dict) else None
        found.append(
            KeyedMessage(
                row.id,
                row.topic,
                row.key,
                _status(row),
                row.last_error,
                order if isinstance(order, int) else None,
            )
        )
    return found
