"""Sends one e-mail through the configured SMTP server and says what became of it.

Dispatch instructions (``routing.delivery``) and alert e-mails (``alerts.notifiers.email``) both
go through :func:`send_mail`, so they share one SMTP conversation and one error mapping:

- accepted (also when only some recipients were): ``Delivered``; the refused ones are logged;
- a 4xx reply, a server that cannot be reached, refused credentials: ``Retry`` (credentials may
  be fixed in the config meanwhile; the message waits for them);
- a 5xx reply, a server refusing every recipient (named in the error): ``Failed``.

:class:`SmtpSettings` is the ``email:`` section of the config: ``security`` is ``starttls``
(port 587), ``ssl`` (465) or ``none``; the password is never shown in a repr or a log line.
Error texts quote the server's reply redacted and cut to 300 characters.

>>> send_mail(message, SmtpSettings(host="smtp.example.com", username="erpsync", password="…"))
Delivered()
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Literal

import structlog

from core.excerpt import shorten
from core.redact import redact_text
from delivery.outcomes import Delivered, Failed, Outcome, Retry

log = structlog.get_logger("erpsync.dispatch")


@dataclass(frozen=True)
class SmtpSettings:
    """The SMTP server e-mails go through (dispatch instructions and alert notifications alike)."""

    host: str = "localhost"
    port: int = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "erpsync@localhost"
    timeout_s: float = 30.0


def send_mail(mail: EmailMessage, smtp: SmtpSettings) -> Outcome:
    """Send one message through the SMTP server: Delivered, Retry (4xx, no server) or Failed (5xx)."""
    try:
        client = _connect(smtp)
        try:
            refused = client.send_message(mail)
        finally:
            _quit(client)
    except smtplib.SMTPRecipientsRefused as exc:
        return Failed(f"SMTP server refused every recipient: {', '.join(sorted(exc.recipients))}")
    except smtplib.SMTPAuthenticationError as exc:
        # The credentials are wrong, not the message: keep it until the config is fixed.
        return Retry(f"SMTP login refused ({exc.smtp_code}); check the email: username and password")
    except smtplib.SMTPResponseException as exc:
        error = exc.smtp_error
        reply = redact_text(error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error))
        reply = " ".join(reply.split())
        what = shorten(f"SMTP {smtp.host}:{smtp.port} answered {exc.smtp_code} {reply}", 300)
        return Failed(what) if 500 <= exc.smtp_code < 600 else Retry(what)
    except (smtplib.SMTPException, OSError) as exc:
        return Retry(f"SMTP {smtp.host}:{smtp.port} unavailable: {type(exc).__name__}: {exc}")
    if refused:
        log.warning("e-mail not accepted for some recipients", refused=sorted(refused))
    return Delivered()


def _quit(client: smtplib.SMTP) -> None:
    # A failing QUIT must not turn a message the server already accepted into an error.
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def _connect(smtp: SmtpSettings) -> smtplib.SMTP:
    context = ssl.create_default_context()
    client = (
        smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout_s, context=context)
        if smtp.security == "ssl"
        else smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s)
    )
    try:
        if smtp.security == "starttls":
            client.starttls(context=context)
        if smtp.username:
            client.login(smtp.username, smtp.password or "")
    except BaseException:
        client.close()
        raise
    return client
