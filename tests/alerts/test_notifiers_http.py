"""Chat and webhook notifiers against fake vendors on loopback that check signatures independently."""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from alerts.notifiers import base
from alerts.notifiers.base import Destination, Notification, Notifier
from alerts.notifiers.dingtalk import DingTalkNotifier
from alerts.notifiers.feishu import FeishuNotifier
from alerts.notifiers.slack import SlackNotifier
from alerts.notifiers.webhook import WebhookNotifier
from alerts.notifiers.wecom import WeComNotifier
from core.errors import PermanentError, RetriableError
from delivery.signing import NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from tests.alerts.notifier_receivers import (
    Receiver,
    dingtalk_robot,
    feishu_bot,
    reply,
    serve,
    signed_webhook,
    slack_webhook,
    wecom_robot,
)

KEY = "alert:7:opened:ops"
DT_TOKEN, DT_SECRET = "dt-token-5f2a9c1e7b", "SECdingtalk-secret-0a1b2c3d"
WECOM_KEY = "693a91f6-7aoc-4bc4-97a0-0ec2sifa5aaa"
FEISHU_SECRET = "feishu-secret-9z8y7x"
SLACK_PATH = "/services/T000/B000/slacksecretXYZ123"
WEBHOOK_SECRET = "whsec_alerts_4d5e6f7a"
NOTE = Notification(
    title="缺货预警 — CUP-500 @ DS-GZ",
    text="【严重】保温杯 CUP-500 可售 3 < 安全库存 10\n建议：补货 40 件",
    severity="critical",
    language="zh-CN",
    mention=("13800001111",),
    link="https://erp.example/alerts/7",
)


def session() -> requests.Session:
    http = requests.Session()
    http.trust_env = False  # no proxy between us and loopback
    return http


def dingtalk(url: str, secret: str = DT_SECRET, clock: Callable[[], float] = time.time) -> DingTalkNotifier:
    destination = Destination("dingtalk", "ops", url=f"{url}?access_token={DT_TOKEN}", secret=secret)
    return DingTalkNotifier(destination, session=session(), clock=clock)


def wecom(url: str, key: str = WECOM_KEY) -> WeComNotifier:
    return WeComNotifier(Destination("wecom", "ops", url=f"{url}?key={key}"), session=session())


def feishu(url: str, secret: str | None = FEISHU_SECRET) -> FeishuNotifier:
    return FeishuNotifier(Destination("feishu", "ops", url=url, secret=secret), session=session())


def slack(url: str) -> SlackNotifier:
    return SlackNotifier(Destination("slack", "ops", url=url), session=session())


def webhook(url: str, secret: str = WEBHOOK_SECRET) -> WebhookNotifier:
    return WebhookNotifier(Destination("webhook", "ops", url=url, secret=secret), session=session())


@pytest.fixture
def dingtalk_receiver() -> Iterator[Receiver]:
    with serve(dingtalk_robot(DT_TOKEN, DT_SECRET), "/robot/send") as receiver:
        yield receiver


@pytest.fixture
def wecom_receiver() -> Iterator[Receiver]:
    with serve(wecom_robot(WECOM_KEY), "/cgi-bin/webhook/send") as receiver:
        yield receiver


@pytest.fixture
def feishu_receiver() -> Iterator[Receiver]:
    with serve(feishu_bot(FEISHU_SECRET), "/open-apis/bot/v2/hook/0f1e2d3c-hook-id") as receiver:
        yield receiver


@pytest.fixture
def slack_receiver() -> Iterator[Receiver]:
    with serve(slack_webhook(SLACK_PATH), SLACK_PATH) as receiver:
        yield receiver


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    with serve(signed_webhook(WEBHOOK_SECRET), "/hooks/erpsync") as receiver:
        yield receiver


# --- DingTalk -------------------------------------------------------------------------------------


def test_dingtalk_gets_a_signed_text_with_mentions(dingtalk_receiver: Receiver) -> None:
    dingtalk(dingtalk_receiver.url).send(NOTE, KEY)
    [request] = dingtalk_receiver.requests
    assert dingtalk_receiver.refused == 0  # the robot recomputed the signature and accepted it
    query = request.query
    assert query["access_token"] == DT_TOKEN
    assert abs(int(query["timestamp"]) - time.time() * 1000) < 60_000
    assert request.headers["Idempotency-Key"] == KEY
    assert request.headers["Content-Type"].startswith("application/json")
    body = request.json()
    assert body["msgtype"] == "text"
    assert body["text"]["content"].startswith("缺货预警 — CUP-500 @ DS-GZ\n【严重】")
    assert body["text"]["content"].endswith("https://erp.example/alerts/7\n@13800001111")
    assert body["at"] == {"atMobiles": ["13800001111"], "atUserIds": [], "isAtAll": False}


def test_dingtalk_refusing_the_signature_is_permanent_and_names_no_secret(
    dingtalk_receiver: Receiver,
) -> None:
    with pytest.raises(PermanentError) as caught:
        dingtalk(dingtalk_receiver.url, secret="SECnot-the-robots-secret").send(NOTE, KEY)
    assert dingtalk_receiver.refused == 1
    text = str(caught.value)
    assert "code 310000" in text
    assert "加签" in text  # says what to check
    for secret in (DT_TOKEN, "SECnot-the-robots-secret", "sign=", "CUP-500"):
        assert secret not in text.replace("sign=***", ""), secret


@pytest.mark.parametrize(
    "answer",
    [
        {"errcode": 130101, "errmsg": "send too fast"},
        {"errcode": 410100, "errmsg": "send too fast, exceed 20 times per minute"},
    ],
)
def test_dingtalk_throttling_waits_ten_minutes(dingtalk_receiver: Receiver, answer: dict[str, Any]) -> None:
    dingtalk_receiver.script.append(reply(200, answer))
    with pytest.raises(RetriableError) as caught:
        dingtalk(dingtalk_receiver.url).send(NOTE, KEY)
    assert caught.value.retry_after == 600


def test_dingtalk_markdown_is_sent_as_markdown(dingtalk_receiver: Receiver) -> None:
    note = Notification(title="Shortage", text="plain", markdown="### Shortage\n- **CUP-500**: 3 left")
    dingtalk(dingtalk_receiver.url).send(note, KEY)
    body = dingtalk_receiver.requests[0].json()
    assert body["msgtype"] == "markdown"
    assert body["markdown"] == {"title": "Shortage", "text": "### Shortage\n- **CUP-500**: 3 left"}


# --- WeCom ----------------------------------------------------------------------------------------


def test_wecom_gets_text_with_mentioned_mobiles(wecom_receiver: Receiver) -> None:
    wecom(wecom_receiver.url).send(NOTE, KEY)
    [request] = wecom_receiver.requests
    assert wecom_receiver.refused == 0
    body = request.json()
    assert body["msgtype"] == "text"
    assert body["text"]["mentioned_mobile_list"] == ["13800001111"]
    assert request.headers["Idempotency-Key"] == KEY


def test_wecom_long_text_is_cut_to_what_the_robot_takes(wecom_receiver: Receiver) -> None:
    long = Notification(title="缺货预警", text="库存不足，请尽快补货。" * 200, link="https://erp.example/a/7")
    wecom(wecom_receiver.url).send(long, KEY)
    assert wecom_receiver.refused == 0
    content = wecom_receiver.requests[0].json()["text"]["content"]
    assert content.endswith("…\nhttps://erp.example/a/7")


def test_wecom_throttling_is_retried_after_a_minute(wecom_receiver: Receiver) -> None:
    wecom_receiver.script.append(reply(200, {"errcode": 45009, "errmsg": "api freq out of limit"}))
    with pytest.raises(RetriableError) as caught:
        wecom(wecom_receiver.url).send(NOTE, KEY)
    assert caught.value.retry_after == 60


def test_wecom_wrong_key_is_permanent_and_the_key_stays_masked(wecom_receiver: Receiver) -> None:
    wrong = "0b1c2d3e-wrong-key-4f5a6b7c"
    with pytest.raises(PermanentError) as caught:
        wecom(wecom_receiver.url, key=wrong).send(NOTE, KEY)
    assert "code 93000" in str(caught.value)
    assert wrong not in str(caught.value)
    assert "key=***" in str(caught.value)


# --- Feishu ---------------------------------------------------------------------------------------


def test_feishu_gets_a_signed_post(feishu_receiver: Receiver) -> None:
    feishu(feishu_receiver.url).send(NOTE, KEY)
    [request] = feishu_receiver.requests
    assert feishu_receiver.refused == 0
    body = request.json()
    assert abs(int(body["timestamp"]) - time.time()) < 60
    assert body["msg_type"] == "post"
    assert body["content"]["post"]["zh_cn"]["title"] == NOTE.title


def test_feishu_without_a_secret_sends_no_signature() -> None:
    with serve(feishu_bot(None), "/open-apis/bot/v2/hook/abc") as receiver:
        feishu(receiver.url, secret=None).send(NOTE, KEY)
    body = receiver.requests[0].json()
    assert "sign" not in body
    assert "timestamp" not in body


def test_feishu_bad_signature_is_permanent(feishu_receiver: Receiver) -> None:
    with pytest.raises(PermanentError) as caught:
        feishu(feishu_receiver.url, secret="not-the-bots-secret").send(NOTE, KEY)
    assert "code 19021" in str(caught.value)
    assert "clock" in str(caught.value)  # the hint
    assert "0f1e2d3c-hook-id" not in str(caught.value)


def test_feishu_rate_limit_is_retried(feishu_receiver: Receiver) -> None:
    feishu_receiver.script.append(
        reply(200, {"code": 11232, "msg": "frequency limited psm[...]", "data": {}})
    )
    with pytest.raises(RetriableError) as caught:
        feishu(feishu_receiver.url).send(NOTE, KEY)
    assert caught.value.retry_after == 60


def test_feishu_legacy_status_code_answer_counts_as_sent(feishu_receiver: Receiver) -> None:
    feishu_receiver.script.append(reply(200, {"Extra": None, "StatusCode": 0, "StatusMessage": "success"}))
    feishu(feishu_receiver.url).send(NOTE, KEY)


# --- Slack ----------------------------------------------------------------------------------------


def test_slack_gets_text_and_blocks(slack_receiver: Receiver) -> None:
    slack(slack_receiver.url).send(NOTE, KEY)
    body = slack_receiver.requests[0].json()
    assert slack_receiver.refused == 0
    assert body["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": NOTE.title}}
    assert body["text"].startswith(NOTE.title)


def test_slack_channel_not_found_is_permanent(slack_receiver: Receiver) -> None:
    slack_receiver.script.append(reply(404, "channel_not_found"))
    with pytest.raises(PermanentError) as caught:
        slack(slack_receiver.url).send(NOTE, KEY)
    text = str(caught.value)
    assert "404" in text
    assert "channel_not_found" in text
    assert "new incoming webhook" in text
    assert "slacksecretXYZ123" not in text


@pytest.mark.parametrize(
    ("answer", "after"),
    [
        (reply(429, "rate_limited", {"Retry-After": "7"}), 7.0),
        (reply(503, "service unavailable"), None),
        (reply(200, "<html>proxy login</html>"), None),
    ],
)
def test_slack_transient_answers_are_retried(
    slack_receiver: Receiver, answer: tuple[int, dict[str, str], bytes], after: float | None
) -> None:
    slack_receiver.script.append(answer)
    with pytest.raises(RetriableError) as caught:
        slack(slack_receiver.url).send(NOTE, KEY)
    assert caught.value.retry_after == after


# --- generic webhook ------------------------------------------------------------------------------


def test_webhook_is_signed_for_delivery_signing_verify(webhook_receiver: Receiver) -> None:
    webhook(webhook_receiver.url).send(NOTE, KEY)
    [request] = webhook_receiver.requests
    assert webhook_receiver.refused == 0  # verify() accepted it
    assert request.json() == {**NOTE.to_payload(), "idempotency_key": KEY}
    assert request.headers["Idempotency-Key"] == KEY
    # The same scheme, recomputed by hand from the canonical string in docs/api.md.
    stamp, nonce = request.headers[TIMESTAMP_HEADER], request.headers[NONCE_HEADER]
    canonical = "\n".join(["POST", request.path, stamp, nonce, hashlib.sha256(request.body).hexdigest()])
    mac = hmac.new(WEBHOOK_SECRET.encode(), canonical.encode(), hashlib.sha256)
    assert request.headers[SIGNATURE_HEADER] == "sha256=" + mac.hexdigest()


def test_webhook_each_attempt_gets_a_fresh_nonce(webhook_receiver: Receiver) -> None:
    notifier = webhook(webhook_receiver.url)
    notifier.send(NOTE, KEY)
    notifier.send(NOTE, KEY)  # a re-send must not look like a replay
    assert webhook_receiver.refused == 0
    nonces = {r.headers[NONCE_HEADER] for r in webhook_receiver.requests}
    assert len(nonces) == 2


def test_webhook_wrong_secret_is_permanent(webhook_receiver: Receiver) -> None:
    with pytest.raises(PermanentError, match="401"):
        webhook(webhook_receiver.url, secret="whsec_someone_else").send(NOTE, KEY)


def test_webhook_server_errors_are_retried(webhook_receiver: Receiver) -> None:
    webhook_receiver.script.append(reply(500, "boom"))
    with pytest.raises(RetriableError, match="500"):
        webhook(webhook_receiver.url).send(NOTE, KEY)


# --- transport failures, for every HTTP channel -------------------------------------------------


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


BUILDERS: dict[str, Callable[[str], Notifier]] = {
    "dingtalk": dingtalk,
    "wecom": wecom,
    "feishu": feishu,
    "slack": slack,
    "webhook": webhook,
}


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_connection_refused_is_retried_and_names_no_token(kind: str) -> None:
    with pytest.raises(RetriableError) as caught:
        BUILDERS[kind](closed_port_url()).send(NOTE, KEY)
    text = str(caught.value)
    assert "ConnectionError" in text
    for secret in (DT_TOKEN, WECOM_KEY):
        assert secret not in text


@contextmanager
def slow_server(delay: float) -> Iterator[str]:
    class Slow(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            time.sleep(delay)
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_receiver_that_does_not_answer_in_time_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "TIMEOUT", (1.0, 0.2))
    with slow_server(1.0) as url, pytest.raises(RetriableError, match="did not answer"):
        slack(url).send(NOTE, KEY)


def test_redirects_are_not_followed() -> None:
    with serve(signed_webhook(WEBHOOK_SECRET)) as receiver:
        receiver.script.append(reply(302, b"", {"Location": "http://127.0.0.1:1/elsewhere"}))
        with pytest.raises(PermanentError, match="302"):
            webhook(receiver.url).send(NOTE, KEY)
    assert len(receiver.requests) == 1
