"""Feishu / Lark (飞书) custom bot: a ``POST`` of a rich-text (``post``) message, signed when a secret is set.

Request: ``POST https://open.feishu.cn/open-apis/bot/v2/hook/<id>`` (Lark:
``open.larksuite.com``); the hook id is the credential and is masked wherever the URL is shown.
With a secret (the bot's 签名校验 setting) the body also carries ``timestamp`` (Unix
**seconds**, as a string, within an hour of Feishu's clock) and ``sign`` =
``base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))`` (:func:`feishu_sign`; key and
message are the other way round from DingTalk).

Body: ``{"msg_type": "post", "content": {"post": {"zh_cn" | "en_us": {"title", "content"}}}}``:
the title, one paragraph per line of the plain text, the link as a ``Details``/``查看详情`` link
and ``at`` elements for user ids (open_id / user_id) and ``all``. Feishu custom bots cannot
@mention a phone number, so phone numbers are left out. The body must stay under 20 KB: the
text is cut at 16 KB.

Answer: ``{"code": 0, "msg": "success", ...}`` (older bots: ``StatusCode``). ``11232`` (rate
limited: 100 a minute, 5 a second): ``RetriableError(retry_after=60)``; ``19021`` (signature or
timestamp), ``19022`` (IP), ``19024`` (keyword), ``9499`` (bad request) and any other code:
``PermanentError``.

>>> FeishuNotifier(Destination("feishu", "ops", url=hook_url, secret="…")).send(note, "alert:7:opened:ops")
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from alerts.notifiers.base import (
    DETAILS_LABELS,
    HttpNotifier,
    Notification,
    VendorCodes,
    check_vendor_reply,
    encode_json,
    last_path_segment,
    post_json,
    split_mentions,
    truncate_utf8,
)

TEXT_MAX_BYTES = 16 * 1024
CODES = VendorCodes(
    code_fields=("code", "StatusCode"),
    message_fields=("msg", "StatusMessage"),
    throttled={11232: 60.0},
    hints={
        19021: "check the bot's signing secret and this server's clock",
        19022: "this server's address is not in the bot's IP allow-list",
        19024: "the message holds none of the bot's keywords: add one to the alert titles",
    },
)


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """The base64 signature Feishu expects for a request sent at ``timestamp_s``."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def feishu_message(notification: Notification) -> dict[str, Any]:
    """The bot's JSON body (without signature) for ``notification``: a ``post`` message."""
    text = truncate_utf8(notification.text, TEXT_MAX_BYTES)
    rows: list[list[dict[str, str]]] = [[{"tag": "text", "text": line}] for line in text.splitlines() or [""]]
    if notification.link:
        label = DETAILS_LABELS[notification.language]
        rows.append([{"tag": "a", "text": label, "href": notification.link}])
    mentions = split_mentions(notification.mention)
    people = [*mentions.user_ids, *(["all"] if mentions.everyone else [])]
    if people:
        rows.append([{"tag": "at", "user_id": who} for who in people])
    language = "zh_cn" if notification.language == "zh-CN" else "en_us"
    post = {language: {"title": notification.title, "content": rows}}
    return {"msg_type": "post", "content": {"post": post}}


class FeishuNotifier(HttpNotifier):
    """Sends notifications to one Feishu/Lark custom bot (see module doc)."""

    def url_token(self, url: str) -> str | None:
        return last_path_segment(url)

    def send(self, notification: Notification, idempotency_key: str) -> None:
        """Nothing once the bot took the message; ``RetriableError``/``PermanentError`` otherwise."""
        message = feishu_message(notification)
        if secret := self.destination.secret:
            timestamp = int(self._clock())
            message = {"timestamp": str(timestamp), "sign": feishu_sign(secret, timestamp), **message}
        headers = {"Idempotency-Key": idempotency_key}
        url = str(self.destination.url)
        response = post_json(self.session, url, encode_json(message), where=self.where, headers=headers)
        check_vendor_reply(response, self.where, CODES, now=self._clock())
