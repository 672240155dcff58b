"""Alert notifiers: each sends one alert message to one destination; together, the alert.notify handler.

:class:`NotifyHandler` is the outbox handler of the ``alert.notify`` topic. A message's
``partition`` names the destination, its ``key`` is the idempotency key and its ``payload`` a
:class:`~alerts.notifiers.base.Notification` as a dict. Each :class:`Destination` kind has its
notifier, one module each: :mod:`~alerts.notifiers.email` (SMTP),
:mod:`~alerts.notifiers.dingtalk`, :mod:`~alerts.notifiers.wecom`,
:mod:`~alerts.notifiers.feishu`, :mod:`~alerts.notifiers.slack` and
:mod:`~alerts.notifiers.webhook` (generic, signed); :mod:`~alerts.notifiers.base` holds what
they share, including the errors a notifier raises.

What becomes of a message:

- sent: ``Delivered``;
- ``RetriableError`` (network, timeout, 429/5xx, a vendor's throttle code): ``Retry``, after the
  wait the vendor asks for or documents (DingTalk 10 minutes, WeCom and Feishu a minute, Slack
  ``Retry-After``), else the worker's backoff; ``AuthError``: ``Retry`` as well;
- ``PermanentError`` (bad signature or keyword, unknown robot, other 4xx): ``Failed``, a dead
  letter to requeue once the destination is fixed; so is a payload that is not a notification;
- a destination that is not configured: ``Retry`` (it may be added to the config later).

A batch stops at its first ``Retry``, so each destination gets its alerts in order. Chat robots
do not deduplicate: a message reaches them twice only when the worker stops between sending and
recording it. Log lines name the destination and key, never a secret, a token or the text.

>>> handler = NotifyHandler({"ops": Destination("dingtalk", "ops", url=robot_url, secret="SEC…")}, smtp)
>>> worker = OutboxWorker(engine, {TOPIC: handler})
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import requests
import structlog

from alerts.notifiers.base import Destination, Notification, Notifier, protect
from alerts.notifiers.dingtalk import DingTalkNotifier
from alerts.notifiers.email import EmailNotifier
from alerts.notifiers.feishu import FeishuNotifier
from alerts.notifiers.slack import SlackNotifier
from alerts.notifiers.webhook import WebhookNotifier
from alerts.notifiers.wecom import WeComNotifier
from core.errors import ConnectorError, PermanentError, RetriableError
from core.http import new_session
from core.redact import redact_text
from delivery.outcomes import Delivered, Failed, Outcome, Retry
from delivery.smtp import SmtpSettings
from store.outbox import Message

log = structlog.get_logger("erpsync.alerts")

TOPIC = "alert.notify"


def notifier_for(
    destination: Destination,
    smtp: SmtpSettings | None,
    *,
    session: requests.Session,
    clock: Callable[[], float] = time.time,
) -> Notifier:
    """The notifier that sends to ``destination`` (its kind picks the channel)."""
    match destination.kind:
        case "email":
            return EmailNotifier(destination, smtp)
        case "dingtalk":
            return DingTalkNotifier(destination, session=session, clock=clock)
        case "wecom":
            return WeComNotifier(destination, session=session, clock=clock)
        case "feishu":
            return FeishuNotifier(destination, session=session, clock=clock)
        case "slack":
            return SlackNotifier(destination, session=session, clock=clock)
        case "webhook":
            return WebhookNotifier(destination, session=session, clock=clock)


class NotifyHandler:
    """The outbox handler sending ``alert.notify`` messages to their destinations (see module doc)."""

    def __init__(
        self,
        destinations: Mapping[str, Destination],
        smtp: SmtpSettings | None,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.session = session or new_session()
        self.destinations = dict(destinations)
        self.notifiers = {
            name: notifier_for(destination, smtp, session=self.session, clock=clock)
            for name, destination in self.destinations.items()
        }
        protect(smtp.password if smtp else None)

    def __call__(self, messages: list[Message]) -> list[Outcome]:
        """One outcome per message, in order; after the first ``Retry`` every later one waits."""
        outcomes: list[Outcome] = []
        for message in messages:
            try:
                outcome = self.deliver(message)
            except Exception as exc:
                if not outcomes:
                    raise  # nothing sent yet: the worker retries the batch and logs the traceback
                # Raising now would make the worker re-send the alerts already delivered in this
                # batch, and chat robots do not deduplicate: keep them, retry from this one.
                log.error("alert notifier raised", **_where(message), exc_info=exc)
                outcome = Retry(f"{type(exc).__name__}: {redact_text(str(exc))}")
            outcomes.append(outcome)
            if isinstance(outcome, Retry):
                waiting = Retry(f"waiting for {message.key} to be delivered first")
                return outcomes + [waiting] * (len(messages) - len(outcomes))
        return outcomes

    def deliver(self, message: Message) -> Outcome:
        """What became of one alert message sent to its destination."""
        notifier = self.notifiers.get(message.partition)
        if notifier is None:
            return Retry(
                f"no alert destination named {message.partition!r} is configured: add it to the "
                "alerts destinations (the message waits for it) or requeue the message elsewhere"
            )
        try:
            notification = Notification.from_payload(message.payload)
        except (TypeError, ValueError) as exc:
            return Failed(f"alert payload is not a notification: {exc}")
        outcome = _send(notifier, notification, message.key)
        where = {**_where(message), "kind": self.destinations[message.partition].kind}
        if isinstance(outcome, Delivered):
            log.info("alert delivered", **where)
        else:  # the worker logs it as a warning
            log.debug("alert not delivered", **where, error=outcome.error)
        return outcome


def _send(notifier: Notifier, notification: Notification, key: str) -> Outcome:
    try:
        notifier.send(notification, key)
    except PermanentError as err:
        return Failed(str(err))
    except RetriableError as err:
        return Retry(str(err), err.retry_after)
    except ConnectorError as err:  # AuthError: the credentials may be fixed meanwhile
        return Retry(str(err))
    return Delivered()


def _where(message: Message) -> dict[str, object]:
    return {"destination": message.partition, "key": message.key, "attempts": message.attempts}


__all__ = [
    "TOPIC",
    "Destination",
    "DingTalkNotifier",
    "EmailNotifier",
    "FeishuNotifier",
    "Notification",
    "Notifier",
    "NotifyHandler",
    "SlackNotifier",
    "WeComNotifier",
    "WebhookNotifier",
    "notifier_for",
]
