"""A person releases orders on hold: one, or all those held for one reason, each release audited.

Some holds clear themselves (``routing.holds``); the others — awaiting payment, an incomplete
address, a total that does not match — wait for a changed order from the channel or for a
person who fixed the cause (or decided to ship anyway) and releases them:

- :func:`release_order` sends one order on hold back to ``received``;
- :func:`release_held` sends back every order on hold whose reason has a code of
  ``routing.holds.HOLD_CODES`` (all codes when None) and that comes from ``channel`` (any when
  None), oldest first, ``batch`` orders per transaction: locked, moved back in one statement, and
  audited in one batched insert. Only the orders on hold when it started are taken, so a loop
  over an order held again meanwhile cannot run for ever.

Every release writes an ``audit_log`` row: actor, action ``release_hold``, target ``order``
``channel/external_id``, details ``{"note": ..., "hold_reason": ...}`` — the note is the
operator's reason for the release. The next processing pass validates and routes the orders
again (every 5 s under ``erpsync run``, or ``erpsync orders process``).

Errors: ``ValueError`` for an unknown hold code (naming the known ones); ``IllegalTransition``
(``store.orders``) when the one order given is not on hold.

>>> release_held(engine, note="paid by bank transfer", actor="li.wei", code="awaiting_payment")
12
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Engine, insert, select

from core.clock import utcnow
from core.statuses import OrderStatus
from routing.holds import HOLD_CODES
from store import orders as lifecycle
from store.models import AuditLog, SalesOrder

#: orders released per transaction
RELEASE_BATCH = 200
ACTION = "release_hold"


def reason_start(code: str | None) -> str | None:
    """The start of the hold reasons of ``code`` (None: any); ``ValueError`` for an unknown code."""
    if code is None:
        return None
    if code not in HOLD_CODES:
        raise ValueError(f"unknown hold reason {code!r}; use one of: {', '.join(HOLD_CODES)}")
    return HOLD_CODES[code]


def _audit(
    conn: Connection, rows: Sequence[tuple[str, str, str | None]], note: str | None, actor: str
) -> None:
    now = utcnow()
    conn.execute(
        insert(AuditLog),
        [
            {
                "at": now,
                "actor": actor,
                "action": ACTION,
                "target_type": "order",
                "target": f"{channel}/{external_id}"[:191],
                "details": {"note": note, "hold_reason": reason},
            }
            for channel, external_id, reason in rows
        ],
    )


def release_order(engine: Engine, order_id: int, *, note: str | None, actor: str) -> None:
    """Send order ``order_id`` (on hold) back to validation and routing, audited with ``note``."""
    with engine.begin() as conn:
        row = conn.execute(
            select(SalesOrder.channel, SalesOrder.external_id, SalesOrder.hold_reason)
            .where(SalesOrder.id == order_id)
            .with_for_update()
        ).one()
        lifecycle.transition(conn, order_id, OrderStatus.RECEIVED)
        _audit(conn, [tuple(row)], note, actor)


def release_held(
    engine: Engine,
    *,
    note: str,
    actor: str,
    code: str | None = None,
    channel: str | None = None,
    batch: int = RELEASE_BATCH,
) -> int:
    """How many orders on hold (of hold ``code`` and ``channel``) went back to ``received``."""
    start = reason_start(code)
    with engine.connect() as conn:
        _, last = lifecycle.count_held(conn, reason_start=start, channel=channel)
    done, after = 0, 0
    while last is not None:
        with engine.begin() as conn:
            ids = lifecycle.held_orders(
                conn, reason_start=start, channel=channel, after=after, up_to=last, limit=batch
            )
            locked = lifecycle.lock_held(conn, ids) if ids else []
            if locked:
                rows = conn.execute(
                    select(SalesOrder.channel, SalesOrder.external_id, SalesOrder.hold_reason)
                    .where(SalesOrder.id.in_(locked))
                    .order_by(SalesOrder.id)
                ).all()
                lifecycle.requeue_held(conn, locked)
                _audit(conn, [tuple(row) for row in rows], note, actor)
                done += len(locked)
        if len(ids) < batch:
            break
        after = ids[-1]
    return done
