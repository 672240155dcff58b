"""An alert's words: one language throughout, and a waiting message that says what the alert says now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, update

from alerts import texts
from alerts.evaluate import AlertSettings, evaluate
from alerts.notify import AlertPolicy, RouteRule
from alerts.shortage import Rule
from store.locations import LocationSpec, apply_locations
from store.models import Alert, Outbox
from tests.alerts.test_shortage_lifecycle import set_level

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
RULES = (Rule(warning=40, critical=10, lead_time_days=5),)


def settings(language: str) -> AlertSettings:
    routes = (RouteRule(("head-office",), min_severity="warning"),)
    return AlertSettings(policy=AlertPolicy(routes=routes, language=language), rules=RULES)


@pytest.mark.parametrize(
    ("severity", "details", "en", "zh"),
    [
        ("out_of_stock", {"available": 0, "threshold": 10}, "nothing left to sell", "已无可售库存"),
        (
            "critical",
            {"available": 6, "threshold": 10},
            "6 left (critical at 10)",
            "剩余 6 件（严重阈值 10）",
        ),
        (
            "warning",
            {"available": 30, "threshold": 40},
            "30 left (warning at 40)",
            "剩余 30 件（预警阈值 40）",
        ),
        (
            "warning",
            {"available": 50, "threshold": 40, "cover_days": 4.2, "cover_target": 14, "velocity": 12.0},
            "4.2 days of cover at 12.0/day (want 14)",
            "按每天 12.0 件的销量仅够 4.2 天（目标 14 天）",
        ),
    ],
)
def test_a_shortage_reason_is_made_from_its_numbers_in_each_language(severity, details, en, zh) -> None:
    assert texts.reason("shortage", severity, details, "en") == en
    assert texts.reason("shortage", severity, details, "zh-CN") == zh


def test_what_to_do_in_each_language() -> None:
    details = {"suggestion": {"reorder_qty": 34, "transfer_from": "WH-SH", "transfer_qty": 20}}
    assert texts.what_to_do(details, "en") == "reorder 34 unit(s), or transfer 20 from WH-SH"
    assert texts.what_to_do(details, "zh-CN") == "补货 34 件，或从 WH-SH 调拨 20 件"
    assert texts.what_to_do({"suggestion": {"reorder_qty": 0}}, "en") == ""


def test_an_alert_without_its_numbers_keeps_its_stored_reason() -> None:
    stored = {"subject": "erp/stock", "reason": "3 runs failed: credentials refused"}
    assert texts.reason("sync_failing", "critical", stored, "zh-CN") == stored["reason"]
    assert texts.reason("shortage", "critical", {"reason": "5 left"}, "zh-CN") == "5 left"


@pytest.fixture
def ds(store_engine: Engine) -> int:
    ids = apply_locations(
        store_engine,
        [
            LocationSpec("WH", "Factory", "warehouse"),
            LocationSpec("DS", "Guangzhou", "distributor", parent="WH", regions=("广东省",)),
        ],
    )
    set_level(store_engine, ids["WH"], "CUP", 500)
    return ids["DS"]


def _alert_and_messages(engine: Engine) -> tuple[dict, list[dict]]:
    with engine.connect() as conn:
        details = conn.execute(select(Alert.details)).scalar_one()
        payloads = list(conn.execute(select(Outbox.payload).order_by(Outbox.id)).scalars())
    return details, payloads


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_a_waiting_message_follows_the_alert_it_is_about(store_engine: Engine, ds: int, language) -> None:
    set_level(store_engine, ds, "CUP", 6)
    evaluate(store_engine, settings(language), now=T0)
    set_level(store_engine, ds, "CUP", 1)  # worse numbers, same severity: no new message
    evaluate(store_engine, settings(language), now=T0 + timedelta(minutes=1))
    details, payloads = _alert_and_messages(store_engine)
    assert details["available"] == 1
    assert len(payloads) == 1
    reason = texts.reason("shortage", "critical", details, language)
    todo = texts.what_to_do(details, language)
    assert reason.startswith("1 left" if language == "en" else "剩余 1 件")
    assert reason in payloads[0]["text"]
    assert todo in payloads[0]["text"]
    assert payloads[0]["language"] == language


def test_a_delivered_or_claimed_message_is_left_as_it_was(store_engine: Engine, ds: int) -> None:
    set_level(store_engine, ds, "CUP", 6)
    evaluate(store_engine, settings("en"), now=T0)
    for claim in (
        {"claimed_by": "worker-1", "claimed_until": T0 + timedelta(hours=1)},
        {"delivered_at": T0},
    ):
        with store_engine.begin() as conn:
            conn.execute(update(Outbox).values(**claim))
        set_level(store_engine, ds, "CUP", 2 if "delivered_at" in claim else 1)
        evaluate(store_engine, settings("en"), now=T0 + timedelta(minutes=1))
        details, payloads = _alert_and_messages(store_engine)
        assert details["available"] in (1, 2)
        assert "6 left (critical at 10)" in payloads[0]["text"]
