"""HMAC-SHA256 signatures for webhooks, both ways, with a replay window.

erpsync signs every webhook it sends (dispatch instructions to a warehouse) and checks the
signature of every webhook it receives (acknowledgements, tracking numbers) with the same scheme.
Each location has its own shared secret.

The scheme, for a warehouse developer
-------------------------------------
Every request carries three headers (names are case-insensitive):

- ``X-Erpsync-Timestamp``: the time of sending, in unix seconds (``1795305600``);
- ``X-Erpsync-Nonce``: 1–128 characters from ``A-Z a-z 0-9 - _ :``, never used before;
- ``X-Erpsync-Signature``: ``sha256=`` and the lowercase hex HMAC-SHA256 of the message
  ``<timestamp> "." <nonce> "." <raw body bytes>``, keyed with the shared secret (UTF-8).

To check a request:

1. take the three headers; refuse the request if one is missing;
2. compute the HMAC over the raw body exactly as received (before any JSON parsing) and compare
   it with the header in constant time (``hmac.compare_digest``); refuse if it differs;
3. refuse if the timestamp is more than 300 seconds before or after your clock;
4. refuse if you still remember the nonce; otherwise remember it until timestamp + 300 seconds
   (after that, step 3 refuses a replay by itself).

Answer 401 to a refused request. Deduplicate *deliveries* by the ``Idempotency-Key`` header, not
by the nonce: a re-sent instruction keeps its idempotency key but gets a fresh nonce.

Worked example (secret ``whsec_3f9a1c7e5b2d4f60``, timestamp ``1795305600``, nonce
``8c1f4e2a9b7d4e03``, body ``{"number":"DI-20261122-000123","kind":"dispatch"}``)::

    message   = b'1795305600.8c1f4e2a9b7d4e03.{"number":"DI-20261122-000123","kind":"dispatch"}'
    signature = sha256=dc6b780eedbe04b49fb2ae717c1f62e23d3824bc7e0f595d695deb8ffd3b4a75

In Python: ``hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()``; in a shell:
``printf '%s' "$message" | openssl dgst -sha256 -hmac "$secret"``.

Errors: :func:`verify` raises :class:`SignatureError` (an ``ErpsyncError``) whose ``reason`` is
one of ``missing header``, ``malformed header``, ``bad signature``, ``timestamp outside the
window`` or ``nonce already used``; its text never contains the secret or the body.

>>> headers = sign("whsec_3f9a1c7e5b2d4f60", b"{}", timestamp=1795305600, nonce="n-1")
>>> verify("whsec_3f9a1c7e5b2d4f60", headers, b"{}", now=1795305630, seen=MemoryNonceStore())
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from mapping.errors import ErpsyncError

TIMESTAMP_HEADER = "X-Erpsync-Timestamp"
NONCE_HEADER = "X-Erpsync-Nonce"
SIGNATURE_HEADER = "X-Erpsync-Signature"
SCHEME = "sha256="
DEFAULT_WINDOW = 300

# No "." in a nonce: the signed message joins timestamp, nonce and body with dots, so a dot in
# the nonce would let the nonce/body boundary move without changing the signature.
_NONCE = re.compile(r"[A-Za-z0-9_:\-]{1,128}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class SignatureError(ErpsyncError):
    """A webhook request whose signature headers do not hold up; ``reason`` says which check failed."""

    hint = "check that both sides use the same secret and the signing scheme in routing.signing"

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"webhook signature refused: {reason}{f' ({detail})' if detail else ''}")
        self.reason = reason


class NonceStore(Protocol):
    """Remembers the nonces of accepted requests until they expire."""

    def remember(self, nonce: str, expires_at: int) -> bool:
        """True if ``nonce`` is new (it is kept until ``expires_at``), False if it was already seen."""
        ...


class MemoryNonceStore:
    """A thread-safe :class:`NonceStore` in memory, for one process; expired nonces are pruned.

    ``clock`` must tell the same time as the ``now`` given to :func:`verify`.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[str, int] = {}
        self._queue: list[tuple[int, str]] = []

    def remember(self, nonce: str, expires_at: int) -> bool:
        """True if ``nonce`` is new (it is kept until ``expires_at``), False if it was already seen."""
        with self._lock:
            self._prune(self._clock())
            if nonce in self._expiry:
                return False
            self._expiry[nonce] = expires_at
            heapq.heappush(self._queue, (expires_at, nonce))
            return True

    def __len__(self) -> int:
        with self._lock:
            self._prune(self._clock())
            return len(self._expiry)

    def _prune(self, now: float) -> None:
        while self._queue and self._queue[0][0] < now:
            _, nonce = heapq.heappop(self._queue)
            del self._expiry[nonce]


def signature(secret: str, body: bytes, *, timestamp: int, nonce: str) -> str:
    """The ``X-Erpsync-Signature`` value, ``sha256=<hex>``, for ``body`` sent at ``timestamp``."""
    message = f"{timestamp}.{nonce}.".encode() + body
    return SCHEME + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, timestamp: int, nonce: str) -> dict[str, str]:
    """The three signature headers for ``body``; ``ValueError`` for a nonce outside the allowed characters."""
    if not _NONCE.fullmatch(nonce):
        raise ValueError("a nonce is 1-128 characters from A-Z a-z 0-9 - _ :")
    return {
        TIMESTAMP_HEADER: str(timestamp),
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: signature(secret, body, timestamp=timestamp, nonce=nonce),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: int,
    window: int = DEFAULT_WINDOW,
    seen: NonceStore,
) -> None:
    """Nothing if the request is signed with ``secret``, fresh and not a replay; else ``SignatureError``."""
    lowered = {name.lower(): value.strip() for name, value in headers.items()}
    missing = [h for h in (TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER) if h.lower() not in lowered]
    if missing:
        raise SignatureError("missing header", ", ".join(missing))
    stamp, nonce = lowered[TIMESTAMP_HEADER.lower()], lowered[NONCE_HEADER.lower()]
    if not _TIMESTAMP.fullmatch(stamp):
        raise SignatureError("malformed header", TIMESTAMP_HEADER)
    if not _NONCE.fullmatch(nonce):
        raise SignatureError("malformed header", NONCE_HEADER)
    timestamp = int(stamp)
    expected = signature(secret, body, timestamp=timestamp, nonce=nonce)
    given = lowered[SIGNATURE_HEADER.lower()].lower()
    if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")):
        raise SignatureError("bad signature")
    if abs(now - timestamp) > window:
        raise SignatureError("timestamp outside the window", f"{now - timestamp:+d}s, allowed ±{window}s")
    # Past timestamp + window the timestamp check refuses a replay by itself.
    if not seen.remember(nonce, timestamp + window):
        raise SignatureError("nonce already used")
