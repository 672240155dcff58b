"""Sends one signed JSON webhook and says what became of it.

Dispatch instructions to a warehouse (``routing.delivery``) and alerts to a generic webhook
(``alerts.notifiers.webhook``) are sent the same way:

- ``POST <url>`` with the JSON body as given, ``Idempotency-Key: <key>`` and the three
  :mod:`delivery.signing` headers (HMAC-SHA256 with the receiver's secret over method, URL path
  and query, timestamp, nonce and body); a fresh nonce per attempt, so a re-send after a lost
  answer does not look like a replay, while the idempotency key stays the same;
- redirects are not followed (the signature is bound to the URL), the timeout is
  ``core.http.TIMEOUT``; a failed connection raises what ``requests`` raises, for the caller to
  word.

:func:`judge` reads the answer: 2xx is ``Delivered``; 408, 429 and 5xx are ``Retry`` (after
``Retry-After`` when given, at most 15 minutes); anything else (401/403 usually means the secrets
differ) is ``Failed`` with the status and a redacted excerpt of the body.

>>> with post_signed(session, url, secret, body, idempotency_key=key, now=time.time()) as response:
...     outcome = judge(response, f"POST {redact_url(url)}", now=time.time())
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import requests

from core.http import TIMEOUT, USER_AGENT, answered, body_excerpt, is_transient, retry_after
from delivery.outcomes import Delivered, Failed, Outcome, Retry
from delivery.signing import request_target, sign, whole_seconds

JSON = "application/json"


def signed_headers(url: str, secret: str, body: bytes, *, idempotency_key: str, now: float) -> dict[str, str]:
    """``Idempotency-Key`` and the signature headers of one ``POST`` of ``body`` to ``url``."""
    signature = sign(
        secret,
        body,
        method="POST",
        target=request_target(url),
        timestamp=whole_seconds(now),
        nonce=uuid.uuid4().hex,
    )
    return {"Idempotency-Key": idempotency_key, **signature}


def post_signed(
    session: requests.Session,
    url: str,
    secret: str,
    body: bytes,
    *,
    idempotency_key: str,
    now: float,
    headers: Mapping[str, str] | None = None,
) -> requests.Response:
    """The answer to one signed ``POST`` (no redirects followed); ``requests``' errors when none came."""
    sent = {
        "Content-Type": JSON,
        "User-Agent": USER_AGENT,
        **(headers or {}),
        **signed_headers(url, secret, body, idempotency_key=idempotency_key, now=now),
    }
    return session.post(url, data=body, headers=sent, timeout=TIMEOUT, allow_redirects=False)


def judge(response: requests.Response, where: str, now: float) -> Outcome:
    """What the receiver's answer means for the message (see the module docstring)."""
    if 200 <= response.status_code < 300:
        return Delivered()
    what = answered(response, where)
    if is_transient(response.status_code):
        return Retry(what, retry_after(response, now))
    excerpt = body_excerpt(response)
    return Failed(f"{what}: {excerpt}" if excerpt else what)
