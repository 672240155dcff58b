"""Shortage alerts over a sequence of stock levels: dedupe, hysteresis, escalation, resolution;
velocity and days of cover against a hand calculation."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, insert, select

from alerts.evaluate import AlertSettings, escalate_due, evaluate
from alerts.lifecycle import acknowledge
from alerts.notify import AlertPolicy, Quiet, RouteRule, Where, destinations_for
from alerts.shortage import Rule
from alerts.velocity import days_of_cover, ewma_velocity, reorder_qty
from core.clock import utcnow
from store import stock
from store.locations import LocationSpec, apply_locations
from store.models import Alert, Allocation, OrderLine, Outbox, SalesOrder

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # 17:00 in Shanghai
ROUTES = (
    RouteRule(("south-chat",), regions=("广东省",), min_severity="warning"),
    RouteRule(("head-office",), min_severity="critical"),
)
SETTINGS = AlertSettings(
    policy=AlertPolicy(routes=ROUTES, escalate_after=timedelta(hours=2), hysteresis=0.2),
    rules=(Rule(warning=10, critical=3),),
)


@pytest.fixture
def ids(store_engine: Engine) -> dict[str, int]:
    return apply_locations(
        store_engine,
        [
            LocationSpec("WH", "Factory", "warehouse"),
            LocationSpec("GA", "South agent", "agent", parent="WH", regions=("广东省",)),
            LocationSpec("DS", "Guangzhou", "distributor", parent="GA"),  # serves its agent's region
        ],
    )


def set_level(engine: Engine, loc: int, sku: str, target: int) -> None:
    with engine.begin() as conn:
        current = (
            conn.execute(
                select(stock.StockLevel.on_hand).where(
                    stock.StockLevel.sku == sku, stock.StockLevel.location_id == loc
                )
            ).scalar()
            or 0
        )
        stock.adjust(conn, sku, loc, target - current, ref="test")


def messages(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [
            (k.split(":")[2], p)
            for k, p in conn.execute(select(Outbox.key, Outbox.partition_key).order_by(Outbox.id))
        ]


def alert_state(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(Alert.severity, Alert.state).order_by(Alert.id))]


def test_sequence_of_levels_dedupes_resists_flapping_escalates_and_resolves(
    store_engine: Engine, ids: dict[str, int]
) -> None:
    ds = ids["DS"]
    steps = [
        (30, []),  # fine
        (9, [("opened", "south-chat")]),  # warning: the region's chat hears
        (8, []),  # still short: no second message
        (11, []),  # above 10 but not by 20 %: stays open
        (9, []),  # back under: same alert, nothing sent
        (2, [("worse", "south-chat"), ("worse", "head-office")]),  # critical: head office too
        (13, [("resolved", "south-chat"), ("resolved", "head-office")]),  # 13 > 10 × 1.2
        (11, []),  # resolved; 11 is above the warning level: no new alert
    ]
    now = T0
    seen = 0
    for level, expected in steps:
        set_level(store_engine, ds, "TEA", level)
        evaluate(store_engine, SETTINGS, since=now - timedelta(seconds=1), now=now)
        got = messages(store_engine)[seen:]
        assert got == expected, f"at level {level}"
        seen += len(got)
        now += timedelta(minutes=5)
    assert alert_state(store_engine) == [("critical", "resolved")]


def test_unacknowledged_critical_alert_escalates_once_per_period(
    store_engine: Engine, ids: dict[str, int]
) -> None:
    set_level(store_engine, ids["WH"], "CUP", 1)
    evaluate(store_engine, SETTINGS, now=T0)
    assert messages(store_engine) == [("opened", "head-office")]  # WH serves no region: only head office
    assert escalate_due(store_engine, SETTINGS, now=T0 + timedelta(hours=1)) == 0
    assert escalate_due(store_engine, SETTINGS, now=T0 + timedelta(hours=2)) == 1
    assert escalate_due(store_engine, SETTINGS, now=T0 + timedelta(hours=3)) == 0
    assert escalate_due(store_engine, SETTINGS, now=T0 + timedelta(hours=4)) == 1
    with store_engine.begin() as conn:
        alert_id = conn.execute(select(Alert.id)).scalar_one()
        assert acknowledge(conn, alert_id, "li.lei", T0)
    assert escalate_due(store_engine, SETTINGS, now=T0 + timedelta(hours=9)) == 0
    assert [m for m, _ in messages(store_engine)] == ["opened", "escalated", "escalated"]


def test_transfer_suggestion_from_the_location_with_surplus(
    store_engine: Engine, ids: dict[str, int]
) -> None:
    set_level(store_engine, ids["WH"], "POT", 200)
    set_level(store_engine, ids["GA"], "POT", 40)
    set_level(store_engine, ids["DS"], "POT", 4)
    evaluate(store_engine, SETTINGS, now=T0)
    with store_engine.connect() as conn:
        details = conn.execute(select(Alert.details)).scalar_one()
    # nothing sold yet: reorder up to the warning level; the warehouse has the most to spare
    assert details["suggestion"] == {"reorder_qty": 6, "transfer_from": "WH", "transfer_qty": 6}


def test_quiet_hours_delay_all_but_critical(store_engine: Engine, ids: dict[str, int]) -> None:
    quiet = Quiet(time(22, 0), time(7, 0), ZoneInfo("Asia/Shanghai"))
    settings = AlertSettings(policy=AlertPolicy(routes=ROUTES, quiet=quiet), rules=SETTINGS.rules)
    night = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    set_level(store_engine, ids["DS"], "TEA", 9)
    set_level(store_engine, ids["DS"], "CUP", 1)
    evaluate(store_engine, settings, now=night)
    with store_engine.connect() as conn:
        rows = conn.execute(select(Outbox.key, Outbox.next_attempt_at).order_by(Outbox.id)).all()
    by_sku = {}
    with store_engine.connect() as conn:
        for alert_id, sku in conn.execute(select(Alert.id, Alert.sku)):
            by_sku[f"alert:{alert_id}"] = sku
    delayed = {by_sku[":".join(k.split(":")[:2])]: at for k, at in rows}
    assert delayed["TEA"] == datetime(2026, 11, 20, 23, 0, tzinfo=UTC)  # 07:00 Shanghai
    assert delayed["CUP"] <= utcnow()  # critical: due at once


def test_routes_by_region_level_and_severity() -> None:
    policy = AlertPolicy(
        routes=(
            RouteRule(("gd",), regions=("广东省",)),
            RouteRule(("dist",), levels=("distributor",)),
            RouteRule(("hq",), min_severity="critical"),
            RouteRule(("it",), kinds=("sync_failing",)),
        )
    )
    gz = Where("DS-GZ", "distributor", ("广东省/广州市",))
    assert destinations_for(policy, "shortage", "warning", gz) == ["gd", "dist"]
    assert destinations_for(policy, "shortage", "critical", gz) == ["gd", "dist", "hq"]
    assert destinations_for(policy, "shortage", "warning", Where("BJ", "agent", ("北京市",))) == []
    assert destinations_for(policy, "sync_failing", "warning", Where()) == ["it"]


def test_velocity_and_days_of_cover_match_a_hand_calculation(
    store_engine: Engine, ids: dict[str, int]
) -> None:
    # hand calculation, window 7 days, half-life 2 days: weights 0.5**(i/2) for i = 0..6
    daily = {0: 6, 1: 4, 3: 10}  # units sold today, yesterday and three days ago
    weights = [1, 0.7071067811865476, 0.5, 0.3535533905932738, 0.25, 0.1767766952966369, 0.125]
    expected = (6 * 1 + 4 * 0.7071067811865476 + 10 * 0.3535533905932738) / sum(weights)  # 12.3640 / 3.1124
    assert ewma_velocity(daily, 7, 2) == pytest.approx(expected)
    assert expected == pytest.approx(3.9724, abs=1e-4)
    assert days_of_cover(20, expected) == pytest.approx(20 / expected)
    assert days_of_cover(5, 0) == math.inf
    assert reorder_qty(20, expected, target_days=10, lead_time_days=4) == math.ceil(expected * 14) - 20  # 36

    # the same sales, as allocations at DS, drive a cover-days alert
    today = T0.date()
    set_level(store_engine, ids["DS"], "TEA", 100)
    with store_engine.begin() as conn:
        order = conn.execute(
            insert(SalesOrder).values(
                channel="shop",
                external_id="x",
                status="allocated",
                currency="CNY",
                created_at=T0,
                updated_at=T0,
            )
        )
        line = conn.execute(
            insert(OrderLine).values(
                order_id=order.inserted_primary_key[0], line_no=1, sku="TEA", qty=20, unit_price=0
            )
        )
        for ago, qty in daily.items():
            at = datetime.combine(today - timedelta(days=ago), time(10, 0), tzinfo=UTC)
            conn.execute(
                insert(Allocation).values(
                    order_line_id=line.inserted_primary_key[0],
                    location_id=ids["DS"],
                    qty=qty,
                    status="shipped",
                    created_at=at,
                    updated_at=at,
                )
            )
    settings = AlertSettings(
        policy=AlertPolicy(routes=ROUTES),
        rules=(Rule(warning=5, cover_days=30),),
        window_days=7,
        half_life_days=2,
    )
    evaluate(store_engine, settings, now=datetime.combine(today, time(12), tzinfo=UTC))
    with store_engine.connect() as conn:
        details = conn.execute(select(Alert.details)).scalar_one()
    assert details["velocity"] == pytest.approx(expected, abs=1e-3)
    assert details["cover_days"] == pytest.approx(100 / expected, abs=0.01)  # 25.39 days < 30
    assert details["suggestion"]["reorder_qty"] == math.ceil(expected * (30 + 7)) - 100
    assert date.today() >= today  # the fixture's dates are in the past or today


def test_daily_digest_lists_open_alerts_once_per_day(store_engine: Engine, ids: dict[str, int]) -> None:
    from alerts.digest import send_digest
    from alerts.evaluate import places

    policy = AlertPolicy(routes=(RouteRule(("morning-mail",), min_severity="warning", digest=True),))
    settings = AlertSettings(policy=policy, rules=SETTINGS.rules)
    set_level(store_engine, ids["DS"], "TEA", 9)
    set_level(store_engine, ids["GA"], "CUP", 0)
    evaluate(store_engine, settings, now=T0)
    assert messages(store_engine) == []  # digest routes send nothing per event
    with store_engine.begin() as conn:
        _, by_id = places(conn)
        assert send_digest(conn, policy, by_id, T0) == 1
        assert send_digest(conn, policy, by_id, T0 + timedelta(hours=1)) == 0  # once per day
    with store_engine.connect() as conn:
        payload = conn.execute(select(Outbox.payload)).scalar_one()
    assert payload["title"] == "erpsync daily digest: 2 open alert(s)"
    lines = payload["text"].splitlines()[1:]
    assert lines[0].startswith("#")
    assert "out_of_stock: CUP @ GA" in lines[0]
    assert "warning: TEA @ DS" in lines[1]
