"""WeCom (企业微信) group robot: a ``POST`` of a text or Markdown message to the robot's URL.

Request: ``POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=<key>``; the key in the URL
is the only credential (no signature), so it is masked wherever the URL is shown.

Body: ``{"msgtype": "text", "text": {"content", "mentioned_list", "mentioned_mobile_list"}}``
or ``{"msgtype": "markdown", "markdown": {"content"}}``. Text content is at most 2048 UTF-8
bytes and Markdown 4096: longer content is cut on a character boundary and ends with ``…``
(the link is kept). Markdown is used when the notification has some, unless it @mentions a
phone number or everyone: only text messages carry ``mentioned_mobile_list`` and ``@all``,
and a mention matters more than formatting. User ids are mentioned in Markdown as ``<@id>``.

Answer: ``{"errcode": 0, "errmsg": "ok"}``. ``45009`` (more than 20 messages a minute):
``RetriableError(retry_after=60)``; ``-1`` (busy): ``RetriableError``; any other code, such as
``93000`` (the key is wrong): ``PermanentError``.

>>> WeComNotifier(Destination("wecom", "ops", url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K"))
"""

from __future__ import annotations

from typing import Any

from alerts.notifiers.base import (
    DETAILS_LABELS,
    HttpNotifier,
    Notification,
    VendorCodes,
    check_vendor_reply,
    encode_json,
    fit_utf8,
    join_lines,
    post_json,
    query_value,
    split_mentions,
)

TEXT_MAX_BYTES = 2048
MARKDOWN_MAX_BYTES = 4096
CODES = VendorCodes(
    code_fields=("errcode",),
    message_fields=("errmsg",),
    throttled={45009: 60.0},  # the limit is per minute
    busy=frozenset({-1}),
    hints={93000: "the key in the robot's url is wrong or the robot was removed from the group"},
)


def wecom_message(notification: Notification) -> dict[str, Any]:
    """The robot's JSON body for ``notification``: Markdown if it has some and may, else text."""
    mentions = split_mentions(notification.mention)
    if notification.markdown and not mentions.phones and not mentions.everyone:
        tail = []
        if notification.link and notification.link not in notification.markdown:
            tail.append(f"[{DETAILS_LABELS[notification.language]}]({notification.link})")
        if mentions.user_ids:
            tail.append(" ".join(f"<@{who}>" for who in mentions.user_ids))
        ending = "".join(f"\n{part}" for part in tail)
        content = fit_utf8(notification.markdown, MARKDOWN_MAX_BYTES, tail=ending)
        return {"msgtype": "markdown", "markdown": {"content": content}}
    ending = f"\n{notification.link}" if notification.link else ""
    text: dict[str, Any] = {
        "content": fit_utf8(join_lines(notification.title, notification.text), TEXT_MAX_BYTES, tail=ending)
    }
    everyone = ["@all"] if mentions.everyone else []
    if mentions.user_ids or everyone:
        text["mentioned_list"] = [*mentions.user_ids, *everyone]
    if mentions.phones or everyone:
        text["mentioned_mobile_list"] = [*mentions.phones, *everyone]
    return {"msgtype": "text", "text": text}


class WeComNotifier(HttpNotifier):
    """Sends notifications to one WeCom group robot (see module doc)."""

    def url_token(self, url: str) -> str | None:
        return query_value(url, "key")  # "key" is no name redaction knows

    def send(self, notification: Notification, idempotency_key: str) -> None:
        """Nothing once the robot took the message; ``RetriableError``/``PermanentError`` otherwise."""
        body = encode_json(wecom_message(notification))
        headers = {"Idempotency-Key": idempotency_key}
        response = post_json(self.session, str(self.destination.url), body, where=self.where, headers=headers)
        check_vendor_reply(response, self.where, CODES, now=self._clock())
