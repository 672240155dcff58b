"""DingTalk (钉钉) custom group robot: a signed ``POST`` of a text or Markdown message.

Request: ``POST <url>&timestamp=<ms>&sign=<sign>`` where ``url`` is the robot's webhook
(``https://oapi.dingtalk.com/robot/send?access_token=…``), ``ms`` the Unix time in
milliseconds (DingTalk refuses one more than an hour off) and ``sign`` the URL-encoded
``base64(HMAC-SHA256(key=secret, msg=f"{ms}\\n{secret}"))`` (:func:`dingtalk_sign`); ``secret``
is the robot's 加签 value, ``SEC…``. Body: ``msgtype`` ``markdown`` (``title`` and ``text``)
when the notification has Markdown, else ``text``; ``at`` lists the phone numbers
(``atMobiles``) and user ids (``atUserIds``) to @mention, or ``isAtAll``. DingTalk highlights a
mention only if the content names it too, so ``@<phone>`` is appended to the content.

Answer: ``{"errcode": 0, "errmsg": "ok"}``. Errors:

- ``130101`` / "send too fast": a robot sending more than 20 messages a minute is throttled for
  10 minutes, so ``RetriableError(retry_after=600)``; ``-1`` (busy): ``RetriableError``;
- ``310000`` (signature, keyword or IP allow-list does not match) and any other code:
  ``PermanentError``. A robot secured by keywords needs one of them in every title.

>>> DingTalkNotifier(Destination("dingtalk", "ops", url=url, secret="SEC…")).send(note, "alert:7:opened:ops")
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from alerts.notifiers.base import (
    DETAILS_LABELS,
    HttpNotifier,
    Notification,
    VendorCodes,
    check_vendor_reply,
    encode_json,
    join_lines,
    post_json,
    query_value,
    split_mentions,
)

THROTTLE_WAIT = 600.0
CODES = VendorCodes(
    code_fields=("errcode",),
    message_fields=("errmsg",),
    throttled={130101: THROTTLE_WAIT},
    busy=frozenset({-1}),
    hints={
        310000: "check the robot's security settings: the 加签 secret (SEC…), keywords and IP allow-list",
    },
    throttle_phrase="send too fast",
)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """The base64 signature DingTalk expects for a request sent at ``timestamp_ms`` (not URL-encoded)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    """``url`` with the ``timestamp`` and URL-encoded ``sign`` query parameters added."""
    parts = urlsplit(url)
    extra = urlencode({"timestamp": timestamp_ms, "sign": dingtalk_sign(secret, timestamp_ms)})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


def dingtalk_message(notification: Notification) -> dict[str, Any]:
    """The robot's JSON body for ``notification``: Markdown if it has some, else text."""
    mentions = split_mentions(notification.mention)
    names = " ".join(f"@{who}" for who in (*mentions.phones, *mentions.user_ids))
    at: dict[str, Any] = {
        "atMobiles": list(mentions.phones),
        "atUserIds": list(mentions.user_ids),
        "isAtAll": mentions.everyone,
    }
    if not notification.markdown:
        content = join_lines(notification.title, notification.text, notification.link, names)
        return {"msgtype": "text", "text": {"content": content}, "at": at}
    paragraphs = [notification.markdown]
    if notification.link and notification.link not in notification.markdown:
        paragraphs.append(f"[{DETAILS_LABELS[notification.language]}]({notification.link})")
    if names:
        paragraphs.append(names)
    markdown = {"title": notification.title, "text": "\n\n".join(paragraphs)}
    return {"msgtype": "markdown", "markdown": markdown, "at": at}


class DingTalkNotifier(HttpNotifier):
    """Sends notifications to one DingTalk robot (see module doc)."""

    def url_token(self, url: str) -> str | None:
        return query_value(url, "access_token")

    def send(self, notification: Notification, idempotency_key: str) -> None:
        """Nothing once the robot took the message; ``RetriableError``/``PermanentError`` otherwise."""
        url = signed_url(str(self.destination.url), str(self.destination.secret), int(self._clock() * 1000))
        body = encode_json(dingtalk_message(notification))
        headers = {"Idempotency-Key": idempotency_key}
        response = post_json(self.session, url, body, where=self.where, headers=headers)
        check_vendor_reply(response, self.where, CODES, now=self._clock())
