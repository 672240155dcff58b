"""Nonces of accepted signed requests, kept in the ``request_nonce`` table so every process sees them.

``SqlNonceStore(engine)`` has the shape of ``delivery.signing.NonceStore``: ``remember(nonce,
expires_at)`` is True the first time a nonce is seen and False when it is already remembered and
not yet expired, whichever process remembered it. Times are whole unix seconds: a nonce is kept
through the second ``expires_at`` and the clock's fraction is dropped, as ``verify`` drops it.
The primary key decides: two processes racing with one nonce cannot both insert it. A nonce
whose row has expired (but is not pruned yet) counts as new again, as in
``delivery.signing.MemoryNonceStore``; the signature's timestamp window refuses a replay of the
old request by itself.

Expired rows are deleted now and then (one ``DELETE`` every ``prune_every`` calls).
``clock`` must tell the same time as the ``now`` given to ``delivery.signing.verify``.
Errors: database errors other than the duplicate key are SQLAlchemy's.

>>> nonces = SqlNonceStore(engine)
>>> nonces.remember("8c1f4e2a9b7d4e03", expires_at=1795305900)
True
>>> nonces.remember("8c1f4e2a9b7d4e03", expires_at=1795305900)
False
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, insert, update
from sqlalchemy.exc import IntegrityError

from store.models import RequestNonce

PRUNE_EVERY = 100


def _at(unix_seconds: int) -> datetime:
    return datetime.fromtimestamp(unix_seconds, UTC)


class SqlNonceStore:
    """Remembers nonces in ``request_nonce`` until they expire; shared by every process on the store."""

    def __init__(
        self, engine: Engine, *, prune_every: int = PRUNE_EVERY, clock: Callable[[], float] = time.time
    ) -> None:
        self.engine = engine
        self.prune_every = max(prune_every, 1)
        self._clock = clock
        self._lock = threading.Lock()
        self._calls = 0

    def remember(self, nonce: str, expires_at: int) -> bool:
        """True if ``nonce`` is new (kept through the second ``expires_at``), False if already seen."""
        if self._prune_due():
            self.prune()
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(RequestNonce).values(nonce=nonce, expires_at=_at(expires_at)))
            return True
        except IntegrityError:
            pass
        # The nonce is there: it is new again only if its row has expired. The UPDATE's row lock
        # lets one of two racing requests through, never both.
        with self.engine.begin() as conn:
            renewed = conn.execute(
                update(RequestNonce)
                .where(RequestNonce.nonce == nonce, RequestNonce.expires_at < self._now())
                .values(expires_at=_at(expires_at))
            )
            return renewed.rowcount == 1

    def prune(self) -> int:
        """How many expired nonces were deleted."""
        with self.engine.begin() as conn:
            result = conn.execute(delete(RequestNonce).where(RequestNonce.expires_at < self._now()))
            return result.rowcount

    def _now(self) -> datetime:
        return _at(math.floor(self._clock()))

    def _prune_due(self) -> bool:
        with self._lock:
            self._calls += 1
            if self._calls < self.prune_every:
                return False
            self._calls = 0
            return True


__all__ = ["SqlNonceStore"]
