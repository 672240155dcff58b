"""An alert reaches each receiver once: a mail server that is down delays it, and a worker
killed after sending but before recording it does not make a receiver keep a second copy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select

import store.outbox as outbox_store
from alerts.evaluate import AlertSettings, evaluate
from alerts.notifiers import NotifyHandler
from alerts.notifiers.base import Destination
from alerts.notify import TOPIC, AlertPolicy, RouteRule
from alerts.shortage import Rule
from core.clock import utcnow
from delivery.smtp import SmtpSettings
from delivery.worker import OutboxWorker
from store import stock
from store.locations import LocationSpec, apply_locations
from store.models import Outbox
from tests.alerts.notifier_receivers import serve, signed_webhook
from tests.alerts.test_notifiers_email import Inbox, free_port

SETTINGS = AlertSettings(
    policy=AlertPolicy(routes=(RouteRule(("dest",), min_severity="warning"),)),
    rules=(Rule(warning=10, critical=3),),
)


def raise_shortage(engine: Engine) -> None:
    ids = apply_locations(engine, [LocationSpec("DS", "Distributor", "distributor")])
    with engine.begin() as conn:
        stock.adjust(conn, "TEA", ids["DS"], 2, ref="count")
    evaluate(engine, SETTINGS)


def delivered(engine: Engine) -> list[bool]:
    with engine.connect() as conn:
        return [
            d is not None
            for d in conn.execute(select(Outbox.delivered_at).where(Outbox.topic == TOPIC)).scalars()
        ]


def test_mail_server_down_for_a_while_then_the_alert_arrives_once(store_engine: Engine) -> None:
    port = free_port()
    smtp = SmtpSettings("127.0.0.1", port, "none", sender="erpsync@maker.example", timeout_s=5)
    handler = NotifyHandler({"dest": Destination("email", "dest", to=("buyer@maker.example",))}, smtp)
    raise_shortage(store_engine)
    now = utcnow()
    worker = OutboxWorker(store_engine, {TOPIC: handler}, clock=lambda: now)
    for minutes in (0, 1, 5):  # the server is down: nothing is lost, it waits
        assert worker.run_once(now + timedelta(minutes=minutes)).delivered == 0
    assert delivered(store_engine) == [False]

    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        later = now + timedelta(hours=1)
        assert worker.run_once(later).delivered == 1
        assert worker.run_once(later + timedelta(hours=1)).delivered == 0
    finally:
        controller.stop()
    assert len(box.received) == 1
    assert "TEA @ DS" in box.received[0]["Subject"]
    assert delivered(store_engine) == [True]


def test_killed_after_sending_before_recording_the_receiver_keeps_one_copy(
    store_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "hook-secret-0001"
    with serve(signed_webhook(secret)) as receiver:
        handler = NotifyHandler(
            {"dest": Destination("webhook", "dest", url=receiver.url, secret=secret)}, None
        )
        raise_shortage(store_engine)
        now = utcnow()
        worker = OutboxWorker(store_engine, {TOPIC: handler}, ttl=timedelta(minutes=2), clock=lambda: now)

        def killed(*args: object, **kwargs: object) -> int:
            raise SystemExit("worker killed after the send, before the commit")

        with monkeypatch.context() as patch:
            patch.setattr(outbox_store, "mark_delivered", killed)
            with pytest.raises(SystemExit):
                worker.run_once(now)
        assert delivered(store_engine) == [False]  # the delivery was never recorded

        # another worker picks the message up once the claim has expired, and sends it again
        fresh = OutboxWorker(store_engine, {TOPIC: handler}, ttl=timedelta(minutes=2))
        assert fresh.run_once(now + timedelta(minutes=3)).delivered == 1
        assert fresh.run_once(now + timedelta(minutes=10)).delivered == 0

    calls = len(receiver.requests)
    keys = {r.headers.get("Idempotency-Key") for r in receiver.requests}
    assert calls == 2  # the receiver was called twice ...
    assert len(keys) == 1  # ... with the same idempotency key, so a deduping receiver keeps one
    assert keys == {"alert:1:opened:dest"}
    assert receiver.refused == 0  # each call carried a fresh, valid signature
    assert delivered(store_engine) == [True]
