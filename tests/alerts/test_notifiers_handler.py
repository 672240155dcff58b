"""NotifyHandler: alert.notify outbox messages to their destinations, outcomes per message, in order."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from sqlalchemy import Engine
from structlog.testing import capture_logs

from alerts.notifiers import TOPIC, NotifyHandler
from alerts.notifiers.base import Destination, Notification
from delivery.outcomes import Delivered, Failed, Outcome, Retry
from delivery.worker import Backoff, OutboxWorker
from store import outbox as store_outbox
from store import queries
from store.outbox import Message
from tests.alerts.notifier_receivers import (
    Receiver,
    Reply,
    dingtalk_robot,
    feishu_bot,
    reply,
    serve,
    signed_webhook,
    slack_webhook,
    wecom_robot,
)

# The DingTalk vector of the channel protocol reference (section 12).
DT_SECRET, DT_SIGN_URL = "SECtestsecret", "7LVwF0dAF3%2F%2BMRRulbpE4y72Ogzykc6bS2nG4I99T4s%3D"
DT_TOKEN = "b7e3a1c9d5f24e6a8c0b1d2e3f4a5b6c"
WECOM_KEY = "5a6b7c8d-1e2f-4a3b-9c8d-7e6f5a4b3c2d"
FEISHU_SECRET, FEISHU_HOOK = (
    "fs-secret-55aa66bb",
    "/open-apis/bot/v2/hook/2c9d7e1f-aaaa-bbbb-cccc-0123456789ab",
)
SLACK_PATH = "/services/T0AAAAAAA/B0BBBBBBB/xoxslackhooksecret42"
WEBHOOK_SECRET = "whsec_alert_handler_77"
PAYLOAD = {
    "title": "缺货预警 — CUP-500 @ DS-GZ",
    "text": "【严重】缺货预警：CUP-500\n可售 3 件，安全库存 10 件\n建议：补货 40 件",
    "markdown": None,
    "html": None,
    "severity": "critical",
    "language": "zh-CN",
    "mention": ["13800001111"],
    "link": None,
}


class FakeClock:
    """Unix time that moves only when told; the fake vendors read the same clock."""

    def __init__(self, now: float = 1700000000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


def session() -> requests.Session:
    http = requests.Session()
    http.trust_env = False
    return http


def message(
    key: str = "alert:7:opened:ops", *, partition: str = "ops", id: int = 1, **payload: Any
) -> Message:
    return Message(id, TOPIC, partition, key, {**PAYLOAD, **payload}, 0, datetime.now(UTC))


def destination(kind: str, url: str) -> Destination:
    """The destination ``ops`` of ``kind`` pointing at a fake vendor at ``url``."""
    if kind == "dingtalk":
        return Destination("dingtalk", "ops", url=f"{url}?access_token={DT_TOKEN}", secret=DT_SECRET)
    if kind == "wecom":
        return Destination("wecom", "ops", url=f"{url}?key={WECOM_KEY}")
    if kind == "feishu":
        return Destination("feishu", "ops", url=url, secret=FEISHU_SECRET)
    if kind == "slack":
        return Destination("slack", "ops", url=url)
    return Destination("webhook", "ops", url=url, secret=WEBHOOK_SECRET)


def vendor(kind: str, clock: FakeClock) -> AbstractContextManager[Receiver]:
    """A running fake of ``kind`` that checks requests against ``clock``."""
    if kind == "dingtalk":
        return serve(dingtalk_robot(DT_TOKEN, DT_SECRET, clock), "/robot/send")
    if kind == "wecom":
        return serve(wecom_robot(WECOM_KEY), "/cgi-bin/webhook/send")
    if kind == "feishu":
        return serve(feishu_bot(FEISHU_SECRET, clock), FEISHU_HOOK)
    if kind == "slack":
        return serve(slack_webhook(SLACK_PATH), SLACK_PATH)
    return serve(signed_webhook(WEBHOOK_SECRET, clock), "/hooks/erpsync")


def handler_for(kind: str, url: str, clock: FakeClock) -> NotifyHandler:
    return NotifyHandler({"ops": destination(kind, url)}, None, session=session(), clock=clock)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def dingtalk(clock: FakeClock) -> Iterator[Receiver]:
    with vendor("dingtalk", clock) as receiver:
        yield receiver


def test_a_throttled_robot_gets_the_alert_after_ten_minutes(clock: FakeClock, dingtalk: Receiver) -> None:
    handler = handler_for("dingtalk", dingtalk.url, clock)
    dingtalk.script.append(reply(200, {"errcode": 130101, "errmsg": "send too fast"}))
    [first] = handler([message()])
    assert isinstance(first, Retry)
    assert first.after == 600
    assert "code 130101" in first.error
    clock.now += 600
    assert handler([message()]) == [Delivered()]
    assert dingtalk.refused == 0  # both requests signed as the robot recomputes it
    assert f"timestamp=1700000000000&sign={DT_SIGN_URL}" in dingtalk.requests[0].raw_query
    assert dingtalk.requests[1].query["timestamp"] == "1700000600000"


@pytest.mark.parametrize(
    ("kind", "answer", "expected", "after"),
    [
        ("dingtalk", reply(200, {"errcode": 310000, "errmsg": "keywords not in content"}), Failed, None),
        ("dingtalk", reply(200, {"errcode": 130101, "errmsg": "send too fast"}), Retry, 600),
        ("dingtalk", reply(200, {"errcode": -1, "errmsg": "系统繁忙"}), Retry, None),
        ("wecom", reply(200, {"errcode": 45009, "errmsg": "api freq out of limit"}), Retry, 60),
        ("wecom", reply(200, {"errcode": 93000, "errmsg": "invalid webhook url"}), Failed, None),
        ("feishu", reply(200, {"code": 19021, "msg": "sign match fail", "data": {}}), Failed, None),
        ("feishu", reply(400, {"code": 19024, "msg": "Key Words Not Found"}), Failed, None),
        ("feishu", reply(200, {"code": 11232, "msg": "frequency limited", "data": {}}), Retry, 60),
        ("slack", reply(404, "channel_not_found"), Failed, None),
        ("slack", reply(410, "channel_is_archived"), Failed, None),
        ("slack", reply(503, "unavailable"), Retry, None),
        ("slack", reply(429, "rate_limited", {"Retry-After": "30"}), Retry, 30),
        ("webhook", reply(422, {"error": "unknown severity"}), Failed, None),
        ("webhook", reply(502, b""), Retry, None),
    ],
)
def test_vendor_answers_become_outcomes(
    clock: FakeClock, kind: str, answer: Reply, expected: type[Outcome], after: float | None
) -> None:
    with vendor(kind, clock) as receiver:
        receiver.script.append(answer)
        [outcome] = handler_for(kind, receiver.url, clock)([message()])
    assert receiver.refused == 0
    assert isinstance(outcome, expected), outcome
    if isinstance(outcome, Retry):
        assert outcome.after == after


@pytest.mark.parametrize("kind", ["dingtalk", "wecom", "feishu", "slack", "webhook"])
def test_every_channel_delivers(clock: FakeClock, kind: str) -> None:
    with vendor(kind, clock) as receiver:
        assert handler_for(kind, receiver.url, clock)([message()]) == [Delivered()]
    assert receiver.refused == 0
    assert receiver.requests[0].headers["Idempotency-Key"] == "alert:7:opened:ops"


@pytest.mark.parametrize("kind", ["dingtalk", "wecom", "feishu", "slack", "webhook"])
def test_a_receiver_that_is_down_means_retry(clock: FakeClock, kind: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/hook"
    [outcome] = handler_for(kind, url, clock)([message()])
    assert isinstance(outcome, Retry)
    assert "ConnectionError" in outcome.error


def test_a_batch_stops_at_its_first_retry(clock: FakeClock) -> None:
    with vendor("webhook", clock) as receiver:
        receiver.script += [reply(204, b""), reply(503, b"")]
        outcomes = handler_for("webhook", receiver.url, clock)(
            [message(f"alert:{n}:opened:ops", id=n) for n in (1, 2, 3)]
        )
    assert outcomes == [
        Delivered(),
        outcomes[1],
        Retry("waiting for alert:2:opened:ops to be delivered first"),
    ]
    assert isinstance(outcomes[1], Retry)
    assert "503" in outcomes[1].error
    assert [r.headers["Idempotency-Key"] for r in receiver.requests] == [
        "alert:1:opened:ops",
        "alert:2:opened:ops",
    ]


def test_an_unknown_destination_waits_with_a_clear_error(clock: FakeClock, dingtalk: Receiver) -> None:
    [outcome] = handler_for("dingtalk", dingtalk.url, clock)([message(partition="buyers-feishu")])
    assert isinstance(outcome, Retry)
    assert "no alert destination named 'buyers-feishu' is configured" in outcome.error
    assert dingtalk.requests == []


def test_a_payload_that_is_not_a_notification_is_a_dead_letter(clock: FakeClock, dingtalk: Receiver) -> None:
    [outcome] = handler_for("dingtalk", dingtalk.url, clock)([message(severity="urgent")])
    assert outcome == Failed(
        "alert payload is not a notification: severity 'urgent' is not one of info, warning, critical"
    )


class Exploding:
    """A notifier with a bug: the ``n``-th send raises."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def send(self, notification: Notification, idempotency_key: str) -> None:
        self.calls += 1
        if self.calls == self.n:
            raise KeyError("bug")


def test_a_bug_after_a_delivery_keeps_the_delivery(clock: FakeClock, dingtalk: Receiver) -> None:
    handler = handler_for("dingtalk", dingtalk.url, clock)
    handler.notifiers["ops"] = Exploding(2)
    with capture_logs() as logs:
        outcomes = handler([message(f"alert:{n}:opened:ops", id=n) for n in (1, 2, 3)])
    assert outcomes[0] == Delivered()
    assert isinstance(outcomes[1], Retry)
    assert "KeyError" in outcomes[1].error
    assert isinstance(outcomes[2], Retry)
    assert [log["event"] for log in logs if log["log_level"] == "error"] == ["alert notifier raised"]


def test_a_bug_before_any_delivery_goes_to_the_worker(clock: FakeClock, dingtalk: Receiver) -> None:
    handler = handler_for("dingtalk", dingtalk.url, clock)
    handler.notifiers["ops"] = Exploding(1)
    with pytest.raises(KeyError):
        handler([message()])


def test_logs_name_destination_and_key_but_no_secret_or_text(clock: FakeClock) -> None:
    with vendor("wecom", clock) as receiver, capture_logs() as logs:
        handler = handler_for("wecom", receiver.url, clock)
        receiver.script.append(reply(200, {"errcode": 45009, "errmsg": "api freq out of limit"}))
        handler([message()])
        handler([message()])
    assert [log["event"] for log in logs] == ["alert not delivered", "alert delivered"]
    assert logs[1] | {"log_level": "info"} == logs[1]
    assert (logs[1]["destination"], logs[1]["key"], logs[1]["kind"]) == ("ops", "alert:7:opened:ops", "wecom")
    dump = repr(logs)
    for secret in (WECOM_KEY, "CUP-500", "13800001111"):
        assert secret not in dump


def test_through_the_outbox_a_throttled_alert_arrives_once(
    store_engine: Engine, clock: FakeClock, dingtalk: Receiver
) -> None:
    with store_engine.begin() as conn:
        # Due at the fake clock's time (the clock stands in 2023 to sign with the documented vector).
        due = clock.datetime()
        store_outbox.enqueue(conn, TOPIC, "alert:7:opened:ops", PAYLOAD, partition="ops", not_before=due)
    dingtalk.script.append(reply(200, {"errcode": 130101, "errmsg": "send too fast"}))
    handler = handler_for("dingtalk", dingtalk.url, clock)
    worker = OutboxWorker(store_engine, {TOPIC: handler}, clock=clock.datetime, backoff=Backoff(jitter=0))
    assert worker.run_once().retried == 1
    clock.now += 599
    assert worker.run_once().total == 0  # DingTalk's ten minutes are not over
    clock.now += 1
    assert worker.run_once().delivered == 1
    assert len(dingtalk.requests) == 2
    with store_engine.connect() as conn:
        [info] = queries.list_messages(conn, topic=TOPIC)
    assert (info.status, info.attempts) == ("delivered", 1)
