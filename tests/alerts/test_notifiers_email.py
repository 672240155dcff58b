"""E-mail alerts through a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import email
import hashlib
import socket
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from alerts.notifiers.base import Destination, Notification
from alerts.notifiers.email import EmailNotifier, alert_message_id, render_alert_email
from core.errors import PermanentError, RetriableError
from delivery.smtp import SmtpSettings

KEY = "alert:7:opened:buyers"
NOTE = Notification(
    title="Stock shortage — CUP-500 @ DS-GZ",
    text="CRITICAL Stock shortage: CUP-500 <blue> 500ml\nWhat to do: reorder 40 unit(s).",
    severity="critical",
    link="https://erp.example/alerts/7",
)
BUYERS = Destination("email", "buyers", to=["buyer@maker.example", "ops@maker.example"])


class Inbox:
    """An SMTP server's handler: keeps what it accepts, refuses what it is told to."""

    def __init__(self) -> None:
        self.received: list[EmailMessage] = []
        self.refuse: set[str] = set()
        self.data_reply: str | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(message)
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, SmtpSettings]]:
    box, port = Inbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, SmtpSettings("127.0.0.1", port, "none", sender="alerts@maker.example", timeout_s=5)
    controller.stop()


def test_the_email_has_subject_text_and_html(inbox: tuple[Inbox, SmtpSettings]) -> None:
    box, smtp = inbox
    EmailNotifier(BUYERS, smtp).send(NOTE, KEY)
    [mail] = box.received
    assert mail["Subject"] == "[erpsync · Critical] Stock shortage — CUP-500 @ DS-GZ"
    assert (mail["From"], mail["To"]) == ("alerts@maker.example", "buyer@maker.example, ops@maker.example")
    assert mail["Importance"] == "high"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["X-Erpsync-Idempotency-Key"] == KEY
    text = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = mail.get_body(("html",)).get_content()
    assert "CUP-500 <blue> 500ml\nWhat to do: reorder 40 unit(s)." in text
    assert "Details: https://erp.example/alerts/7" in text
    assert "CUP-500 &lt;blue&gt; 500ml" in html  # the text is escaped in the HTML part
    assert "<blue>" not in html
    assert '<a href="https://erp.example/alerts/7">Details</a>' in html


def test_the_message_id_follows_the_idempotency_key(inbox: tuple[Inbox, SmtpSettings]) -> None:
    box, smtp = inbox
    notifier = EmailNotifier(BUYERS, smtp)
    notifier.send(NOTE, KEY)
    notifier.send(NOTE, KEY)  # re-sent after a lost reply: the receiver can keep one copy
    notifier.send(NOTE, "alert:8:opened:buyers")
    ids = [mail["Message-ID"] for mail in box.received]
    digest = hashlib.sha256(KEY.encode()).hexdigest()[:32]
    assert ids[:2] == [f"<{digest}.alert@erpsync>"] * 2
    assert ids[2] != ids[0]
    assert alert_message_id(KEY) == ids[0]


def test_a_chinese_alert_reads_in_chinese() -> None:
    note = Notification(
        "缺货预警 — 保温杯", "可售 3 件", severity="warning", language="zh-CN", link="https://e.example/7"
    )
    mail = render_alert_email(note, sender="a@b.example", to=["c@d.example"], idempotency_key=KEY)
    assert mail["Subject"] == "[erpsync · 预警] 缺货预警 — 保温杯"
    assert mail["Content-Language"] == "zh-CN"
    assert mail["Importance"] is None
    html = mail.get_body(("html",))
    assert html is not None
    assert "查看详情" in html.get_content()
    assert "请勿直接回复" in html.get_content()


def test_the_notifications_own_html_is_used_as_is() -> None:
    note = Notification("Shortage", "plain text", html="<p><b>Shortage</b> table</p>")
    mail = render_alert_email(note, sender="a@b.example", to=["c@d.example"], idempotency_key=KEY)
    html, text = mail.get_body(("html",)), mail.get_body(("plain",))
    assert html is not None
    assert text is not None
    assert html.get_content().strip() == "<p><b>Shortage</b> table</p>"
    assert "plain text" in text.get_content()


def test_without_smtp_settings_the_alert_waits() -> None:
    with pytest.raises(RetriableError, match="needs an SMTP server"):
        EmailNotifier(BUYERS, None).send(NOTE, KEY)


def test_a_server_refusing_the_message_is_permanent(inbox: tuple[Inbox, SmtpSettings]) -> None:
    box, smtp = inbox
    box.data_reply = "554 5.7.1 message rejected as spam"
    with pytest.raises(PermanentError, match="554"):
        EmailNotifier(BUYERS, smtp).send(NOTE, KEY)


def test_a_temporary_smtp_failure_is_retried(inbox: tuple[Inbox, SmtpSettings]) -> None:
    box, smtp = inbox
    box.data_reply = "451 4.3.0 try again later"
    with pytest.raises(RetriableError, match="451"):
        EmailNotifier(BUYERS, smtp).send(NOTE, KEY)


def test_every_recipient_refused_is_permanent(inbox: tuple[Inbox, SmtpSettings]) -> None:
    box, smtp = inbox
    box.refuse = {"buyer@maker.example", "ops@maker.example"}
    with pytest.raises(PermanentError, match=r"buyer@maker\.example"):
        EmailNotifier(BUYERS, smtp).send(NOTE, KEY)


def test_an_unreachable_server_is_retried() -> None:
    smtp = SmtpSettings("127.0.0.1", free_port(), "none", timeout_s=2)
    with pytest.raises(RetriableError, match="unavailable"):
        EmailNotifier(BUYERS, smtp).send(NOTE, KEY)
