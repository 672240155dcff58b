"""Slack incoming webhook: a ``POST`` of ``{"text": …, "blocks": […]}`` to the webhook URL.

Request: ``POST https://hooks.slack.com/services/T…/B…/<secret>``; the last path segment is the
credential and is masked wherever the URL is shown. No signature.

Body: ``text`` (the notification fallback: mentions, title and text, Slack ``mrkdwn``-escaped)
and ``blocks``: a ``header`` with the title (≤ 150 characters), a ``section`` with the plain text
(≤ 3000 characters), the link as ``<url|Details>`` and the user ids to @mention (``<@U…>``;
``@all`` becomes ``<!channel>``). Slack's ``mrkdwn`` is not Markdown, so the plain text is sent
and ``markdown`` is not used; phone numbers cannot be mentioned and are left out.

Answer: HTTP 200 with the body ``ok``. 429 (about one message a second per webhook) and 5xx:
``RetriableError``, after ``Retry-After`` when given. Other statuses come with a plain-text
error (``invalid_payload``, ``channel_not_found``, ``channel_is_archived``, ``no_service``…):
``PermanentError`` naming it. A 200 with another body did not come from Slack (a proxy):
``RetriableError``.

>>> SlackNotifier(Destination("slack", "ops", url="https://hooks.slack.com/services/T1/B2/XYZ"))
"""

from __future__ import annotations

from typing import Any

from alerts.notifiers.base import (
    DETAILS_LABELS,
    HttpNotifier,
    Notification,
    encode_json,
    join_lines,
    last_path_segment,
    post_json,
    raise_for_transient,
    refusal,
    split_mentions,
    truncate_chars,
)
from core.errors import RetriableError
from core.http import answered, body_excerpt

HEADER_MAX_CHARS = 150
SECTION_MAX_CHARS = 3000
FALLBACK_MAX_CHARS = 3000
_GONE = "the webhook's channel or app is gone: create a new incoming webhook and update the url"
HINTS = {
    "invalid_payload": "Slack could not read the message",
    "channel_not_found": _GONE,
    "channel_is_archived": _GONE,
    "no_service": _GONE,
    "action_prohibited": "a Slack admin restricted posting to this channel",
}


def escape_mrkdwn(text: str) -> str:
    """``text`` with the three characters Slack's ``mrkdwn`` reserves (``& < >``) escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(notification: Notification) -> dict[str, Any]:
    """The webhook's JSON body for ``notification``: fallback text and blocks."""
    mentions = split_mentions(notification.mention)
    tags = " ".join(
        [f"<@{who}>" for who in mentions.user_ids] + (["<!channel>"] if mentions.everyone else [])
    )
    fallback = join_lines(tags, escape_mrkdwn(join_lines(notification.title, notification.text)))
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": truncate_chars(notification.title, HEADER_MAX_CHARS)},
        },
    ]
    if notification.text.strip():
        text = truncate_chars(notification.text, SECTION_MAX_CHARS)
        blocks.append({"type": "section", "text": {"type": "plain_text", "text": text}})
    if notification.link:
        link = f"<{escape_mrkdwn(notification.link)}|{DETAILS_LABELS[notification.language]}>"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": link}})
    if tags:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": tags}]})
    return {"text": truncate_chars(fallback, FALLBACK_MAX_CHARS), "blocks": blocks}


class SlackNotifier(HttpNotifier):
    """Sends notifications to one Slack incoming webhook (see module doc)."""

    def url_token(self, url: str) -> str | None:
        return last_path_segment(url)

    def send(self, notification: Notification, idempotency_key: str) -> None:
        """Nothing once Slack answered ``ok``; ``RetriableError``/``PermanentError`` otherwise."""
        body = encode_json(slack_message(notification))
        headers = {"Idempotency-Key": idempotency_key}
        response = post_json(self.session, str(self.destination.url), body, where=self.where, headers=headers)
        raise_for_transient(response, self.where, now=self._clock())
        reply = response.text.strip()
        if 200 <= response.status_code < 300:
            if reply != "ok":  # Slack answers exactly "ok": this came from something in between
                raise RetriableError(f"{answered(response, self.where)} but not ok: {body_excerpt(response)}")
            return
        raise refusal(response, self.where, HINTS.get(reply))
