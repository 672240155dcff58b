"""Generic webhook: the notification as signed JSON, for receivers of your own (a ticket system, a bot).

Request: ``POST <url>`` with a compact UTF-8 JSON body, the notification's fields (``title``,
``text``, ``markdown``, ``html``, ``severity``, ``language``, ``mention``, ``link``) plus
``idempotency_key``; headers ``Idempotency-Key: <key>`` and the three
:mod:`routing.signing` headers (``X-Erpsync-Timestamp``, ``X-Erpsync-Nonce``,
``X-Erpsync-Signature``: HMAC-SHA256 with the destination's secret over method, URL path and query,
timestamp, nonce and body; a fresh nonce per attempt; ``docs/api.md`` has the canonical string).
A receiver checks them with ``routing.signing.verify`` and keeps one copy per idempotency key.

Answer: any 2xx means delivered. 408, 429 and 5xx: ``RetriableError`` (after ``Retry-After``
when given); any other status (401/403 usually means the secrets differ): ``PermanentError``
with the status and a redacted excerpt of the answer.

>>> WebhookNotifier(Destination("webhook", "tickets", url="https://tickets.example/hooks", secret="…"))
"""

from __future__ import annotations

import uuid

from alerts.notifiers.base import (
    HttpNotifier,
    Notification,
    check_status,
    encode_json,
    post_json,
)
from routing.signing import request_target, sign, whole_seconds


class WebhookNotifier(HttpNotifier):
    """Sends notifications to one signed generic webhook (see module doc)."""

    def send(self, notification: Notification, idempotency_key: str) -> None:
        """Nothing once the receiver answered 2xx; ``RetriableError``/``PermanentError`` otherwise."""
        body = encode_json({**notification.to_payload(), "idempotency_key": idempotency_key})
        headers = {"Idempotency-Key": idempotency_key}
        # A fresh nonce per attempt: a re-send after a lost answer must not look like a replay.
        secret, url, timestamp = (
            str(self.destination.secret),
            str(self.destination.url),
            whole_seconds(self._clock()),
        )
        target = request_target(url)
        headers |= sign(
            secret, body, method="POST", target=target, timestamp=timestamp, nonce=uuid.uuid4().hex
        )
        response = post_json(self.session, url, body, where=self.where, headers=headers)
        check_status(response, self.where, now=self._clock())
