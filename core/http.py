"""The small HTTP pieces every sender shares: our User-Agent, ``Retry-After``, a body excerpt.

Connectors (``connectors.http.HttpClient``), alert notifiers (``alerts.notifiers``) and the
signed webhook sender (``delivery.webhook``) talk HTTP through ``requests``; what they have in
common lives here, below all of them:

- :func:`new_session`: a ``requests.Session`` that names itself ``erpsync`` (:data:`USER_AGENT`);
- :func:`parse_retry_after` reads a ``Retry-After`` header (delta seconds or an HTTP date);
  :func:`retry_after` reads it from a response, capped at :data:`MAX_RETRY_AFTER`;
- :func:`is_transient`: the statuses a receiver of ours may answer for "try again later"
  (408, 429, 5xx); :func:`answered` starts the error text for any other;
- :func:`body_excerpt`: the start of a response body on one line, redacted, at most 200
  characters cut at a word, for an error message that must not carry a secret or a whole page.

>>> parse_retry_after("120", now=0.0)
120.0
>>> is_transient(503), is_transient(404)
(True, False)
"""

from __future__ import annotations

from datetime import UTC
from email.utils import parsedate_to_datetime

import requests

from core.excerpt import shorten
from core.redact import redact_text

USER_AGENT = "erpsync"
#: seconds to connect, seconds to read, for one outgoing message (a notification, an instruction)
TIMEOUT = (5.0, 15.0)
#: a wait a receiver asks for is honoured up to the outbox worker's longest backoff
MAX_RETRY_AFTER = 15 * 60.0
EXCERPT_CHARS = 200


def new_session() -> requests.Session:
    """A ``requests.Session`` sending ``User-Agent: erpsync``."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:  # "-0000" means UTC of unknown origin
        moment = moment.replace(tzinfo=UTC)
    return max(moment.timestamp() - now, 0.0)


def retry_after(response: requests.Response, now: float, cap: float = MAX_RETRY_AFTER) -> float | None:
    """Seconds the response's ``Retry-After`` asks to wait, at most ``cap`` (None without one)."""
    after = parse_retry_after(response.headers.get("Retry-After"), now)
    return None if after is None else min(after, cap)


def is_transient(status: int) -> bool:
    """True for 408, 429 and 5xx: the receiver may take the same message later."""
    return status in (408, 429) or status >= 500


def answered(response: requests.Response, where: str) -> str:
    """``<where> answered <status> <reason>``, the start of most error texts."""
    return f"{where} answered {response.status_code} {response.reason or ''}".rstrip()


def body_excerpt(response: requests.Response, limit: int = EXCERPT_CHARS) -> str:
    """The start of ``response``'s body on one line, redacted, at most ``limit`` characters."""
    # Redact before cutting, so a secret cut in half cannot slip through unrecognised.
    text = redact_text(response.text[: limit * 20])
    return shorten(" ".join(text.split()), limit)
