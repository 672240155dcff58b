"""Drift checks compare what a channel shows with what erpsync last pushed there, not with today's
sellable quantity: a stock change erpsync has not pushed yet is not drift, and a push still on its
way is not compared at all."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from alerts.evaluate import AlertSettings
from core.ports import PushResult, StockUpdate
from delivery.worker import OutboxWorker
from erpsync.alerting import DriftAlerts
from mapping.skus import SkuBinding
from store import stock
from store.bindings import save_bindings
from store.locations import LocationSpec, apply_locations
from store.models import Alert, ChannelListing, Location
from sync.drift import check_drift
from sync.outbound import TOPIC, plan_and_enqueue
from sync.sellable import ChannelPolicy
from sync.stock_push import PushHandler

POLICY = ChannelPolicy("shop", ("WH",))


class Shop:
    """A channel that shows what it was last sent, unless a person edits ``shown``."""

    name = "shop"
    push_batch_limit = 10

    def __init__(self) -> None:
        self.shown: dict[str, int] = {}

    def push_stock(self, updates: list[StockUpdate]) -> list[PushResult]:
        for u in updates:
            self.shown[u.sku] = u.quantity
        return [PushResult(u.sku, "ok", u.quantity) for u in updates]

    def read_stock(self, skus: list[str]) -> dict[str, int]:
        return {s: self.shown[s] for s in skus if s in self.shown}


@pytest.fixture
def engine(store_engine: Engine) -> Engine:
    ids = apply_locations(store_engine, [LocationSpec("WH", "Factory", "warehouse")])
    with store_engine.begin() as conn:
        stock.adjust(conn, "TEA", ids["WH"], 30, ref="count")
        stock.adjust(conn, "CUP", ids["WH"], 60, ref="count")
        save_bindings(conn, [SkuBinding("shop", "CUP-6PK", "CUP", 6)])
    return store_engine


def adjust(engine: Engine, sku: str, delta: int) -> None:
    with engine.begin() as conn:
        wh = conn.execute(select(Location.id).where(Location.code == "WH")).scalar_one()
        stock.adjust(conn, sku, wh, delta, ref="test")


def deliver(engine: Engine, shop: Shop) -> None:
    OutboxWorker(engine, {TOPIC: PushHandler(engine, {"shop": shop})}, per_partition={TOPIC: 10}).run_once()


def push(engine: Engine, shop: Shop) -> None:
    plan_and_enqueue(engine, [POLICY], "shop")
    deliver(engine, shop)


def test_a_stock_change_not_pushed_yet_is_not_drift(engine: Engine) -> None:
    shop = Shop()
    push(engine, shop)
    assert shop.shown == {"TEA": 30, "CUP-6PK": 10}

    adjust(engine, "TEA", -7)  # sold in the shop's own back office or counted: the planner's job

    report = check_drift(engine, [POLICY], shop)
    assert report.drifts == []
    assert (report.compared, report.in_flight, report.never_pushed) == (2, 0, 0)


def test_a_push_still_queued_is_skipped_and_an_edit_by_hand_is_drift_from_the_last_push(
    engine: Engine,
) -> None:
    shop = Shop()
    push(engine, shop)
    adjust(engine, "TEA", -7)
    plan_and_enqueue(engine, [POLICY], "shop")  # 23 queued, not delivered yet
    shop.shown["CUP-6PK"] = 12  # someone edits the shop by hand: 12 packs

    report = check_drift(engine, [POLICY], shop, correct=True)

    assert [(d.sku, d.channel_sku, d.expected, d.actual, d.difference) for d in report.drifts] == [
        ("CUP", "CUP-6PK", 10, 12, 2)  # in packs of 6, as pushed
    ]
    assert (report.compared, report.in_flight, report.never_pushed) == (1, 1, 0)
    deliver(engine, shop)
    assert shop.shown == {"TEA": 23, "CUP-6PK": 10}
    assert check_drift(engine, [POLICY], shop).drifts == []


def test_a_listing_never_pushed_is_counted_not_compared(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(ChannelListing.__table__.insert().values(channel="shop", sku="TEA", push_version=0))

    report = check_drift(engine, [POLICY], Shop())

    assert (report.drifts, report.compared, report.in_flight, report.never_pushed) == ([], 0, 0, 1)


def test_drift_alerts_name_the_last_pushed_quantity(engine: Engine) -> None:
    shop = Shop()
    push(engine, shop)
    adjust(engine, "TEA", 5)  # more stock, not pushed yet: no alert
    alerts = DriftAlerts(engine, AlertSettings(), [POLICY], shop, tolerance=0, correct=False)
    assert alerts() == 0

    shop.shown["TEA"] = 3
    assert alerts() == 1
    with engine.connect() as conn:
        details = conn.execute(select(Alert.details).where(Alert.kind == "drift")).scalar_one()
    assert "shop shows 3 for TEA, erpsync last pushed 30" in str(details)
