"""Generic webhook: the notification as signed JSON, for receivers of your own (a ticket system, a bot).

Request: ``POST <url>`` with a compact UTF-8 JSON body, the notification's fields (``title``,
``text``, ``markdown``, ``html``, ``severity``, ``language``, ``mention``, ``link``) plus
``idempotency_key``, sent by :mod:`delivery.webhook` as dispatch instructions are; headers
``Idempotency-Key: <key>`` and the three :mod:`delivery.signing` headers
(``X-Erpsync-Timestamp``, ``X-Erpsync-Nonce``, ``X-Erpsync-Signature``: HMAC-SHA256 with the
destination's secret over method, URL path and query, timestamp, nonce and body; a fresh nonce
per attempt; ``docs/api.md`` has the canonical string).
A receiver checks them with ``delivery.signing.verify`` and keeps one copy per idempotency key.

Answer: any 2xx means delivered. 408, 429 and 5xx: ``RetriableError`` (after ``Retry-After``
when given); any other status (401/403 usually means the secrets differ): ``PermanentError``
with the status and a redacted excerpt of the answer.

>>> WebhookNotifier(Destination("webhook", "tickets", url="https://tickets.example/hooks", secret="…"))
"""

from __future__ import annotations

from alerts.notifiers.base import (
    JSON_UTF8,
    HttpNotifier,
    Notification,
    answer_or_retry,
    check_status,
    encode_json,
)
from delivery.webhook import post_signed


class WebhookNotifier(HttpNotifier):
    """Sends notifications to one signed generic webhook (see module doc)."""

    def send(self, notification: Notification, idempotency_key: str) -> None:
        """Nothing once the receiver answered 2xx; ``RetriableError``/``PermanentError`` otherwise."""
        body = encode_json({**notification.to_payload(), "idempotency_key": idempotency_key})
        url, secret = str(self.destination.url), str(self.destination.secret)
        with answer_or_retry(self.where):
            response = post_signed(
                self.session,
                url,
                secret,
                body,
                idempotency_key=idempotency_key,
                now=self._clock(),
                headers=JSON_UTF8,
            )
        check_status(response, self.where, now=self._clock())
