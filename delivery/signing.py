"""HMAC-SHA256 signatures for webhooks, both ways, bound to the request and with a replay window.

erpsync signs every webhook it sends (dispatch instructions to a warehouse, alert webhooks) and
checks the signature of every signed request it receives (acknowledgements, tracking numbers)
with the same scheme. Each location has its own shared secret. ``docs/api.md`` states the scheme
for integrators; this docstring and that page say the same.

The scheme, for a warehouse developer
-------------------------------------
Every request carries three headers (names are case-insensitive):

- ``X-Erpsync-Timestamp``: the time of sending, in whole unix seconds (``1795305600``);
- ``X-Erpsync-Nonce``: 1–128 characters from ``A-Z a-z 0-9 - _ :``, never used before;
- ``X-Erpsync-Signature``: ``sha256=`` and the lowercase hex HMAC-SHA256, keyed with the shared
  secret (UTF-8), of the canonical string — five lines joined by ``\\n`` (no trailing newline)::

      <METHOD>           the HTTP method in capitals: POST
      <target>           the path and query exactly as on the request line: /erpsync/dispatch?x=1
      <timestamp>        the X-Erpsync-Timestamp value
      <nonce>            the X-Erpsync-Nonce value
      <body sha256>      the lowercase hex SHA-256 of the raw body bytes (of b"" when empty)

So a signature is good for one method, one URL (and with it one instruction number), one moment
and one body; sent to another URL it is refused.

To check a request:

1. take the three headers; refuse the request if one is missing;
2. build the canonical string from the request as received (the raw body before any JSON
   parsing) and compare its HMAC with the header in constant time (``hmac.compare_digest``);
3. refuse unless ``|now − timestamp| ≤ 300``, both in whole seconds (drop the fraction of your
   clock; the limit itself is accepted);
4. refuse if you still remember the nonce; otherwise remember it until at least
   ``timestamp + 300 + 60`` seconds (the window, plus a margin for clocks that differ). After
   that, step 3 refuses a replay by itself.

Answer 401 to a refused request. Deduplicate *deliveries* by the ``Idempotency-Key`` header, not
by the nonce: a re-sent instruction keeps its idempotency key but gets a fresh nonce.

Worked example (secret ``whsec_3f9a1c7e5b2d4f60``, ``POST`` to ``/erpsync/dispatch``, timestamp
``1795305600``, nonce ``8c1f4e2a9b7d4e03``, body ``{"number":"DI-20261122-000123","kind":"dispatch"}``)::

    canonical = "POST\\n/erpsync/dispatch\\n1795305600\\n8c1f4e2a9b7d4e03\\n"
                "e152c2137b36db87e29136d98ee9f0aa7dc5baa33113dd77ff1a3483988076bc"
    signature = sha256=3d43aa5540f89b72d78482e5fcc9bf1bf4752aedd5475321de2def33d872fd8d

In Python: ``hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()``; in a
shell: ``printf '%s' "$canonical" | openssl dgst -sha256 -hmac "$secret"``.

Errors: :func:`verify` raises :class:`SignatureError` (an ``ErpsyncError``) whose ``reason`` is
one of ``missing header``, ``malformed header``, ``bad signature``, ``timestamp outside the
window`` or ``nonce already used``; its text never contains the secret or the body.

>>> headers = sign("whsec_3f9a1c7e5b2d4f60", b"{}", method="POST", target="/hook", timestamp=1795305600,
...                nonce="n-1")
>>> verify("whsec_3f9a1c7e5b2d4f60", headers, b"{}", method="POST", target="/hook", now=1795305630.4,
...        seen=MemoryNonceStore())
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol

import requests

from core.errors import ErpsyncError

TIMESTAMP_HEADER = "X-Erpsync-Timestamp"
NONCE_HEADER = "X-Erpsync-Nonce"
SIGNATURE_HEADER = "X-Erpsync-Signature"
SCHEME = "sha256="
DEFAULT_WINDOW = 300
#: seconds a nonce is kept beyond the window: processes sharing one nonce table may disagree on
#: the time by this much and still refuse every replay
NONCE_MARGIN = 60

_NONCE = re.compile(r"[A-Za-z0-9_:\-]{1,128}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_METHOD = re.compile(r"[A-Z]{1,16}")
# a request target in origin form: no whitespace or control characters, so no line can be forged
_TARGET = re.compile(r"/[\x21-\x7e]{0,4095}")


class SignatureError(ErpsyncError):
    """A webhook request whose signature headers do not hold up; ``reason`` says which check failed."""

    hint = "check that both sides use the same secret and the signing scheme in docs/api.md"

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"webhook signature refused: {reason}{f' ({detail})' if detail else ''}")
        self.reason = reason


class NonceStore(Protocol):
    """Remembers the nonces of accepted requests until they expire."""

    def remember(self, nonce: str, expires_at: int) -> bool:
        """True if ``nonce`` is new (kept through the second ``expires_at``), False if already seen."""
        ...


class MemoryNonceStore:
    """A thread-safe :class:`NonceStore` in memory, for one process; expired nonces are pruned.

    A nonce is kept through the whole second ``expires_at`` (the clock's fraction is dropped, as
    :func:`verify` drops it). ``clock`` must tell the same time as the ``now`` given to :func:`verify`.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[str, int] = {}
        self._queue: list[tuple[int, str]] = []

    def remember(self, nonce: str, expires_at: int) -> bool:
        """True if ``nonce`` is new (kept through the second ``expires_at``), False if already seen."""
        with self._lock:
            self._prune(whole_seconds(self._clock()))
            if nonce in self._expiry:
                return False
            self._expiry[nonce] = expires_at
            heapq.heappush(self._queue, (expires_at, nonce))
            return True

    def __len__(self) -> int:
        with self._lock:
            self._prune(whole_seconds(self._clock()))
            return len(self._expiry)

    def _prune(self, now: int) -> None:
        while self._queue and self._queue[0][0] < now:
            _, nonce = heapq.heappop(self._queue)
            del self._expiry[nonce]


def whole_seconds(moment: float) -> int:
    """A clock reading in whole unix seconds, the unit of every comparison here."""
    return math.floor(moment)


def within_window(timestamp: int, now: float, window: int = DEFAULT_WINDOW) -> bool:
    """True if ``timestamp`` is at most ``window`` seconds from ``now`` (whole seconds, limit included)."""
    return abs(whole_seconds(now) - timestamp) <= window


def nonce_expiry(timestamp: int, window: int = DEFAULT_WINDOW) -> int:
    """The last second a nonce sent at ``timestamp`` must be remembered."""
    return timestamp + window + NONCE_MARGIN


def request_target(url: str) -> str:
    """The path and query of ``url`` as ``requests`` puts them on the request line."""
    return str(requests.Request("POST", url).prepare().path_url)


def canonical_string(method: str, target: str, body: bytes, *, timestamp: int, nonce: str) -> bytes:
    """The bytes that are signed (see the module docstring)."""
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join((method.upper(), target, str(timestamp), nonce, digest)).encode()


def signature(secret: str, method: str, target: str, body: bytes, *, timestamp: int, nonce: str) -> str:
    """The ``X-Erpsync-Signature`` value, ``sha256=<hex>``, for one request."""
    message = canonical_string(method, target, body, timestamp=timestamp, nonce=nonce)
    return SCHEME + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, method: str, target: str, timestamp: int, nonce: str) -> dict[str, str]:
    """The three signature headers; ``ValueError`` for a nonce, method or target that cannot be signed."""
    if not _NONCE.fullmatch(nonce):
        raise ValueError("a nonce is 1-128 characters from A-Z a-z 0-9 - _ :")
    if not _METHOD.fullmatch(method.upper()) or not _TARGET.fullmatch(target):
        raise ValueError("sign a request by its method (POST) and its target (/path?query)")
    return {
        TIMESTAMP_HEADER: str(timestamp),
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: signature(secret, method, target, body, timestamp=timestamp, nonce=nonce),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    method: str,
    target: str,
    now: float,
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
    expected = signature(secret, method, target, body, timestamp=timestamp, nonce=nonce)
    given = lowered[SIGNATURE_HEADER.lower()].lower()
    if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")):
        raise SignatureError("bad signature")
    if not within_window(timestamp, now, window):
        drift = whole_seconds(now) - timestamp
        raise SignatureError("timestamp outside the window", f"{drift:+d}s, allowed ±{window}s")
    if not seen.remember(nonce, nonce_expiry(timestamp, window)):
        raise SignatureError("nonce already used")
