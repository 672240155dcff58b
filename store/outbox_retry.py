"""Sending outbox messages again: one message now, or the failed ones in batches.

What a person reads of the outbox is in :mod:`store.queries`; this module changes messages:

- :func:`retry_message`: a failed message pending again, or a pending one due now;
- :func:`requeue`: given failed messages pending again (attempts reset, due now);
- :func:`requeue_failed`: the failed ones, oldest first, one short transaction per batch.

Errors: database errors are SQLAlchemy's.

>>> with engine.begin() as conn:
...     retry_message(conn, 42)
'requeued'
>>> requeue_failed(engine, limit=500)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, Engine, func, select, update

from core.clock import utcnow
from core.statuses import MessageState
from store.models import Outbox
from store.outbox import is_pending
from store.queries import message_filters

#: what :func:`retry_message` did: ``None`` from it means there is no such message
RetryOutcome = Literal["requeued", "due_now", "delivered", "claimed"]
#: failed messages requeued per transaction by :func:`requeue_failed`
REQUEUE_BATCH = 500


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
        failed = message_filters(topic, MessageState.FAILED)
        last = conn.execute(select(func.max(Outbox.id)).where(*failed)).scalar()
    done, after = 0, 0
    while last is not None and (limit is None or done < limit):
        size = batch if limit is None else min(batch, limit - done)
        with engine.begin() as conn:
            ids = list(
                conn.execute(
                    select(Outbox.id)
                    .where(Outbox.id > after, Outbox.id <= last, *failed)
                    .order_by(Outbox.id)
                    .limit(size)
                ).scalars()
            )
            done += requeue(conn, ids, now=now)
        if len(ids) < size:
            break
        after = ids[-1]
    return done
