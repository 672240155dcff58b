"""E-mail alerts through the SMTP server dispatch e-mails use (:mod:`delivery.smtp`).

Each notification becomes one e-mail to the destination's ``to`` list: subject
``[erpsync · <severity>] <title>``, a plain-text part and an HTML alternative (the
notification's own ``html`` when it has one, else the ``alert_email.html.j2`` template with the
text escaped), in the notification's language. ``Message-ID`` is derived from the idempotency
key (:func:`alert_message_id`), so a re-send after a lost SMTP reply carries the same id and a
receiver that dedupes by Message-ID keeps one copy; ``X-Erpsync-Idempotency-Key`` carries the
key itself. Critical alerts are marked ``Importance: high``; every alert is
``Auto-Submitted: auto-generated`` so that out-of-office replies stay away.

Errors (the same mapping as dispatch e-mails): SMTP 4xx replies, network errors and refused
credentials: ``RetriableError``; other 5xx replies and a server refusing every recipient:
``PermanentError``. Without SMTP settings every send is retried: the ``email:`` section may be
filled in later.

>>> EmailNotifier(Destination("email", "buyers", to=["buyer@maker.example"]), smtp).send(note, key)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate
from functools import cache
from pathlib import Path

import jinja2

from alerts.notifiers.base import DETAILS_LABELS, SEVERITY_LABELS, Destination, Notification
from core.errors import PermanentError, RetriableError
from delivery.outcomes import Failed, Retry
from delivery.smtp import SmtpSettings, send_mail

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
FOOTERS = {
    "en": "Sent by erpsync; replies to this address reach no one.",
    "zh-CN": "此邮件由 erpsync 自动发送，请勿直接回复。",
}


@cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def alert_message_id(idempotency_key: str) -> str:
    """The ``Message-ID`` of the e-mail sent for ``idempotency_key``: the same for every re-send."""
    return f"<{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}.alert@erpsync>"


def render_alert_email(
    notification: Notification, *, sender: str, to: Sequence[str], idempotency_key: str
) -> EmailMessage:
    """The notification as an e-mail: subject, text part, HTML alternative, idempotent Message-ID."""
    language, severity = notification.language, notification.severity
    view = {
        "title": notification.title,
        "text": notification.text,
        "link": notification.link,
        "severity": severity,
        "severity_label": SEVERITY_LABELS[language][severity],
        "details_label": DETAILS_LABELS[language],
        "language": language,
        "footer": FOOTERS[language],
    }
    mail = EmailMessage()
    mail["Subject"] = " ".join(f"[erpsync · {view['severity_label']}] {notification.title}".split())
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = alert_message_id(idempotency_key)
    mail["X-Erpsync-Idempotency-Key"] = idempotency_key
    mail["Auto-Submitted"] = "auto-generated"
    if severity == "critical":
        mail["Importance"] = "high"
    templates = _templates()
    mail.set_content(templates.get_template("alert_email.txt.j2").render(view))
    html = notification.html or templates.get_template("alert_email.html.j2").render(view)
    mail.add_alternative(html, subtype="html")
    mail["Content-Language"] = language  # after the body: setting content clears Content-* headers
    return mail


class EmailNotifier:
    """Sends notifications by e-mail to one destination's recipients (see module doc)."""

    def __init__(self, destination: Destination, smtp: SmtpSettings | None) -> None:
        self.destination = destination
        self.smtp = smtp

    def send(self, notification: Notification, idempotency_key: str) -> None:
        """Nothing once the SMTP server took the e-mail; ``RetriableError``/``PermanentError`` otherwise."""
        if self.smtp is None:
            raise RetriableError(
                f"{self.destination.describe()} needs an SMTP server (the email: section of the config)"
            )
        mail = render_alert_email(
            notification, sender=self.smtp.sender, to=self.destination.to, idempotency_key=idempotency_key
        )
        # The SMTP conversation and its error mapping are shared with dispatch e-mails.
        outcome = send_mail(mail, self.smtp)
        where = self.destination.describe()
        if isinstance(outcome, Retry):
            raise RetriableError(f"{where}: {outcome.error}", retry_after=outcome.after)
        if isinstance(outcome, Failed):
            raise PermanentError(f"{where}: {outcome.error}")
