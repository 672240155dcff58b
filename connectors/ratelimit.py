"""Client-side rate limiting: one request budget per connector account, behind an interface.

A :class:`RateLimiter` is what the HTTP client (``connectors.http``) takes before every attempt:
``acquire(tokens)`` waits until the budget has them; ``penalize(seconds)``, called after a 429
with ``Retry-After``, hands out nothing until the server's pause is over — for every request
sharing the budget.

Budgets are keyed per account: :func:`rate_limiter` gives the limiter of a key (a connector's
name in the config: one account) from the process's :class:`LimiterStore`, so every connector
instance of that account — the one that reads its streams, the one that pushes stock — draws
on the same budget. The default store keeps :class:`TokenBucket` s in memory
(:class:`LocalLimiters`), which is right while one process talks to the account; when workers on
several machines do, :func:`use_limiters` puts in a store whose budgets they share (Redis, say),
and nothing else changes.

:class:`TokenBucket` holds up to ``burst`` tokens and refills at ``rate`` tokens per second; each
request takes one. :meth:`TokenBucket.acquire` reserves its tokens at once (so concurrent callers
are served in arrival order) and sleeps, outside the lock, until they are due.

>>> bucket = TokenBucket(rate=2.0, burst=2)
>>> bucket.acquire()  # a full bucket answers at once
0.0
>>> rate_limiter("shop", 5.0, 10) is rate_limiter("shop", 5.0, 10)
True

``clock`` and ``sleep`` are injectable so tests run on a fake clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class RateLimiter(Protocol):
    """A request budget shared by everything that talks to one account."""

    def acquire(self, tokens: int = 1) -> float:
        """Take ``tokens``, waiting until the budget has them; returns the seconds waited."""
        ...

    def penalize(self, seconds: float) -> None:
        """Hand out nothing for the next ``seconds`` (the server asked for a pause)."""
        ...


class LimiterStore(Protocol):
    """Where budgets live: one limiter per key (per account), for the given rate and burst."""

    def limiter(self, key: str, rate: float, burst: int) -> RateLimiter: ...


class TokenBucket:
    """At most ``burst`` requests at once, ``rate`` per second on average."""

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.rate = float(rate)
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        # Time up to which tokens have been credited; in the future while a penalty lasts.
        self._updated = clock()

    def acquire(self, tokens: int = 1) -> float:
        """Take ``tokens``, sleeping until they are available; returns the seconds slept."""
        if not 1 <= tokens <= self.burst:
            raise ValueError(f"can take 1..{self.burst} tokens at once, asked for {tokens}")
        with self._lock:
            now = self._refill()
            self._tokens -= tokens
            # A negative balance is a reservation on tokens that have not dripped in yet.
            wait = max(self._updated - now, 0.0) + max(-self._tokens, 0.0) / self.rate
        if wait > 0:
            self._sleep(wait)
        return wait

    def penalize(self, seconds: float) -> None:
        """Hand out no token for the next ``seconds`` (the server asked for a pause)."""
        if seconds <= 0:
            return
        with self._lock:
            now = self._refill()
            self._updated = max(self._updated, now + seconds)

    def _refill(self) -> float:
        now = self._clock()
        if now > self._updated:
            self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
            self._updated = now
        return now


class LocalLimiters:
    """Budgets in this process's memory: one :class:`TokenBucket` per key (and rate and burst)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, float, int], TokenBucket] = {}

    def limiter(self, key: str, rate: float, burst: int) -> TokenBucket:
        with self._lock:
            bucket = self._buckets.get((key, rate, burst))
            if bucket is None:
                bucket = self._buckets[(key, rate, burst)] = TokenBucket(rate, burst)
            return bucket


_store: LimiterStore = LocalLimiters()


def rate_limiter(key: str, rate: float, burst: int) -> RateLimiter:
    """The limiter of account ``key`` (``rate`` requests per second, ``burst`` at once)."""
    return _store.limiter(key, rate, burst)


def use_limiters(store: LimiterStore) -> LimiterStore:
    """Keep budgets in ``store`` from now on (connectors built later use it); returns the previous one."""
    global _store  # the one switch between local and shared budgets
    previous, _store = _store, store
    return previous


__all__ = ["LimiterStore", "LocalLimiters", "RateLimiter", "TokenBucket", "rate_limiter", "use_limiters"]
