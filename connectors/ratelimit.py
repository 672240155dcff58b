"""Client-side rate limiting: a thread-safe token bucket shared by one connector's requests.

The bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second; each request
takes one. :meth:`TokenBucket.acquire` reserves its tokens at once (so concurrent callers are
served in arrival order) and sleeps, outside the lock, until they are due. After a 429 with
``Retry-After`` the HTTP client calls :meth:`TokenBucket.penalize`, which hands out nothing
until the server's pause is over — for every thread sharing the bucket.

>>> bucket = TokenBucket(rate=2.0, burst=2)
>>> bucket.acquire()  # a full bucket answers at once
0.0

``clock`` and ``sleep`` are injectable so tests run on a fake clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


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
