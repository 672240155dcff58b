"""Notifications, destinations, signatures and message shapes: the notifier parts without I/O."""

from __future__ import annotations

from typing import Any

import pytest

from alerts.notifiers.base import (
    Destination,
    Mentions,
    Notification,
    fit_utf8,
    split_mentions,
    truncate_utf8,
)
from alerts.notifiers.dingtalk import dingtalk_message, dingtalk_sign, signed_url
from alerts.notifiers.feishu import feishu_message, feishu_sign
from alerts.notifiers.slack import slack_message
from alerts.notifiers.wecom import wecom_message

# Vectors from the channel protocol reference (section 12).
DINGTALK_SECRET, DINGTALK_MS = "SECtestsecret", 1700000000000
DINGTALK_SIGN = "7LVwF0dAF3/+MRRulbpE4y72Ogzykc6bS2nG4I99T4s="
DINGTALK_SIGN_URL = "7LVwF0dAF3%2F%2BMRRulbpE4y72Ogzykc6bS2nG4I99T4s%3D"
FEISHU_SECRET, FEISHU_S, FEISHU_SIGN = (
    "testsecret",
    1700000000,
    "AOc8oJ7//5OlQlfWC3nRL0R+IkuzcD1FKcAyibRK9Q8=",
)


def note(**fields: Any) -> Notification:
    return Notification(**{"title": "缺货预警 — CUP-500", "text": "On hand 3, safety 10", **fields})


def test_dingtalk_signature_matches_the_documented_vector() -> None:
    assert dingtalk_sign(DINGTALK_SECRET, DINGTALK_MS) == DINGTALK_SIGN
    url = signed_url("https://oapi.dingtalk.com/robot/send?access_token=T", DINGTALK_SECRET, DINGTALK_MS)
    assert url == (
        f"https://oapi.dingtalk.com/robot/send?access_token=T&timestamp={DINGTALK_MS}&sign={DINGTALK_SIGN_URL}"
    )


def test_feishu_signature_matches_the_documented_vector() -> None:
    assert feishu_sign(FEISHU_SECRET, FEISHU_S) == FEISHU_SIGN


@pytest.mark.parametrize("limit", range(1, 40))
def test_truncation_cuts_on_a_character_boundary(limit: int) -> None:
    text = "库存不足：保温杯 CUP-500 蓝色"  # 3-byte and 1-byte characters mixed
    cut = truncate_utf8(text, limit)
    assert len(cut.encode()) <= max(limit, 3)
    if len(text.encode()) <= limit:
        assert cut == text
    else:
        assert cut.endswith("…")
        assert text.startswith(cut[:-1])


def test_fit_keeps_the_tail_and_cuts_the_body() -> None:
    body, tail = "缺" * 1000, "\nhttps://erp.example/alerts/7"
    fitted = fit_utf8(body, 2048, tail=tail)
    assert fitted.endswith("…" + tail)
    assert len(fitted.encode()) <= 2048
    assert fit_utf8("short", 2048, tail=tail) == "short" + tail


def test_mentions_split_into_phones_user_ids_and_everyone() -> None:
    mentions = split_mentions(["13800001111", "+86 139 0000 2222", "ou_7d8a6e", "@all", "13800001111", " "])
    assert mentions == Mentions(("13800001111", "+86 139 0000 2222"), ("ou_7d8a6e",), everyone=True)
    assert split_mentions([]) == Mentions()


def test_a_notification_comes_from_the_outbox_payload_and_goes_back() -> None:
    payload = {
        "title": "Stock shortage — CUP-500 @ DS-GZ",
        "text": "CRITICAL Stock shortage\nWhat to do: reorder 40 unit(s).",
        "markdown": None,
        "html": None,
        "severity": "critical",
        "language": "en",
        "mention": ["13800001111"],
        "link": None,
    }
    notification = Notification.from_payload(payload)
    assert notification.mention == ("13800001111",)
    assert notification.to_payload() == payload
    assert Notification.from_payload({"title": "t", "text": "x"}) == Notification("t", "x")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"text": "x"}, "'title'"),
        ({"title": "t", "text": 3}, "'text'"),
        ({"title": "t", "text": "x", "mention": "13800001111"}, "'mention'"),
        ({"title": "t", "text": "x", "severity": "urgent"}, "severity 'urgent'"),
        ({"title": "t", "text": "x", "language": "fr"}, "language 'fr'"),
        ({"title": "t", "text": "x", "link": "javascript:alert(1)"}, "link"),
        ({"title": " ", "text": "x"}, "title"),
    ],
)
def test_a_malformed_payload_is_refused_naming_the_field(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Notification.from_payload(payload)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"kind": "email"}, "needs to"),
        ({"kind": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send?access_token=T"}, "needs secret"),
        (
            {"kind": "dingtalk", "url": "https://x.example/?access_token=T", "secret": "T"},
            "starting with SEC",
        ),
        ({"kind": "webhook", "url": "ftp://x.example/", "secret": "s3cret"}, "https://"),
        ({"kind": "pager", "url": "https://x.example/"}, "unknown kind"),
    ],
)
def test_a_destination_says_what_it_lacks(fields: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Destination(name="ops", **fields)


def test_a_destination_hides_its_url_and_secret() -> None:
    url = "https://oapi.dingtalk.com/robot/send?access_token=tok-123456"
    destination = Destination("dingtalk", "ops", url=url, secret="SECabcdef")
    assert "tok-123456" not in repr(destination)
    assert "SECabcdef" not in repr(destination)
    assert "tok-123456" not in destination.describe()
    assert Destination("email", "buyers", to="a@b.example").to == ("a@b.example",)


def test_dingtalk_sends_markdown_when_given_and_mentions_in_the_text() -> None:
    body = dingtalk_message(
        note(markdown="### 缺货\n- CUP-500", link="https://erp.example/a/7", mention=("13800001111",))
    )
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == "缺货预警 — CUP-500"
    assert (
        body["markdown"]["text"]
        == "### 缺货\n- CUP-500\n\n[Details](https://erp.example/a/7)\n\n@13800001111"
    )
    assert body["at"] == {"atMobiles": ["13800001111"], "atUserIds": [], "isAtAll": False}
    text = dingtalk_message(note(mention=("@all", "manager01")))
    assert text["msgtype"] == "text"
    assert text["text"]["content"] == "缺货预警 — CUP-500\nOn hand 3, safety 10\n@manager01"
    assert text["at"] == {"atMobiles": [], "atUserIds": ["manager01"], "isAtAll": True}


def test_wecom_falls_back_to_text_to_mention_a_phone() -> None:
    markdown = wecom_message(note(markdown="**缺货**", mention=("zhangsan",)))
    assert markdown == {"msgtype": "markdown", "markdown": {"content": "**缺货**\n<@zhangsan>"}}
    text = wecom_message(
        note(markdown="**缺货**", mention=("13800001111", "@all"), link="https://erp.example/a/7")
    )
    assert text["msgtype"] == "text"
    assert text["text"] == {
        "content": "缺货预警 — CUP-500\nOn hand 3, safety 10\nhttps://erp.example/a/7",
        "mentioned_list": ["@all"],
        "mentioned_mobile_list": ["13800001111", "@all"],
    }


def test_wecom_text_stays_within_2048_bytes_and_keeps_the_link() -> None:
    body = wecom_message(note(text="库存不足。" * 300, link="https://erp.example/a/7"))
    content = body["text"]["content"]
    assert len(content.encode()) <= 2048
    assert content.endswith("…\nhttps://erp.example/a/7")
    content.encode().decode("utf-8")  # whole characters only


def test_feishu_sends_a_post_in_the_notification_language() -> None:
    body = feishu_message(
        note(
            text="行一\n行二",
            language="zh-CN",
            link="https://erp.example/a/7",
            mention=("ou_1", "13800001111"),
        )
    )
    assert body == {
        "msg_type": "post",
        "content": {
            "post": {
                "zh_cn": {
                    "title": "缺货预警 — CUP-500",
                    "content": [
                        [{"tag": "text", "text": "行一"}],
                        [{"tag": "text", "text": "行二"}],
                        [{"tag": "a", "text": "查看详情", "href": "https://erp.example/a/7"}],
                        [{"tag": "at", "user_id": "ou_1"}],
                    ],
                }
            }
        },
    }


def test_slack_blocks_fit_the_limits_and_escape_mrkdwn() -> None:
    body = slack_message(
        note(title="T" * 200, text="a < b & c", link="https://erp.example/a?x=1&y=2", mention=("U1",))
    )
    header, section, link, context = body["blocks"]
    assert len(header["text"]["text"]) == 150
    assert section["text"] == {"type": "plain_text", "text": "a < b & c"}
    assert link["text"]["text"] == "<https://erp.example/a?x=1&amp;y=2|Details>"
    assert context["elements"][0]["text"] == "<@U1>"
    assert body["text"].startswith("<@U1>\n")
    assert "a &lt; b &amp; c" in body["text"]
