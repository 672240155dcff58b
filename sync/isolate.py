"""Land a page whose records the database may still refuse: isolate the refused ones, keep the rest.

``sync.limits`` checks every value against its column before the write, but a database can
refuse for reasons no check foresees: a trigger, a ``CHECK`` constraint, a sum that leaves the
column's range. Then the whole statement fails, and with it the page — every retry the same way,
and the stream would never move again. :func:`reconcile_isolating` runs the reconciler inside a
savepoint; when the database refuses (``store.db.is_data_refusal``: data and integrity errors,
never a lock conflict, which the engine retries whole), it rolls back to the savepoint, splits the
records in two and lands each half the same way, until every refused record stands alone. Those
are refused with ``RecordError(code="db_refused")`` carrying the database's own message
(redacted), and the engine quarantines them with the page; all the others land, and the cursor
moves, in the page's one transaction.

A page with ``k`` refused records among ``n`` costs about ``2·k·log2(n)`` extra reconcile calls,
only on the rare page the database refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import structlog
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from core.errors import RecordError
from core.excerpt import shorten
from core.redact import redact_text
from mapping.records import Record
from store.db import is_data_refusal, refusal_message
from sync.reconcile import Outcome, PageContext

log = structlog.get_logger("erpsync.sync")

Reconcile = Callable[[Connection, Any, PageContext], Outcome]
MAX_MESSAGE = 500


def reconcile_isolating(
    conn: Connection, reconcile: Reconcile, records: Sequence[Record], ctx: PageContext
) -> Outcome:
    """``reconcile(conn, records, ctx)``, with the records the database refuses set aside."""
    out = Outcome(refused=[])
    _land(conn, reconcile, records, ctx, out)
    return out


def _land(
    conn: Connection, reconcile: Reconcile, records: Sequence[Record], ctx: PageContext, out: Outcome
) -> None:
    assert out.refused is not None
    savepoint = conn.begin_nested()
    try:
        landed = reconcile(conn, records, ctx)
    except (DBAPIError, OverflowError, UnicodeEncodeError) as exc:
        if not is_data_refusal(exc):
            raise  # the page's transaction is rolled back whole (and retried if it was a lock)
        savepoint.rollback()
        if len(records) == 1:
            message = shorten(redact_text(refusal_message(exc)), MAX_MESSAGE)
            log.warning("record refused by the database", connector=ctx.connector, error=message)
            error = RecordError(f"the database refused this record: {message}", code="db_refused")
            out.refused.append((records[0], error))
            return
        middle = len(records) // 2
        _land(conn, reconcile, records[:middle], ctx, out)
        _land(conn, reconcile, records[middle:], ctx, out)
        return
    savepoint.commit()
    out.changed += landed.changed
    out.refused.extend(landed.refused or [])
