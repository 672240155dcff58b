"""A channel whose connector has ``skus: bound`` is planned, pushed and drift-checked only for SKUs
with a binding for it: an unbound SKU is skipped and counted, never sent under our own SKU, and
planned as soon as its binding arrives."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from structlog.testing import capture_logs

from core.clock import utcnow
from core.ports import PushResult, StockUpdate
from delivery.worker import OutboxWorker
from mapping.skus import SkuBinding
from store import stock
from store.bindings import save_bindings
from store.locations import LocationSpec, apply_locations
from store.models import ChannelListing, Outbox
from sync.drift import check_drift
from sync.outbound import TOPIC, PlannedPush, enqueue, plan, plan_and_enqueue
from sync.sellable import ChannelPolicy, compute, load_inputs
from sync.stock_push import PushHandler

BOUND = ChannelPolicy("shop", ("WH",), bound=True)


class Shop:
    name = "shop"
    push_batch_limit = 10

    def __init__(self) -> None:
        self.shown: dict[str, int] = {}

    def push_stock(self, updates: list[StockUpdate]) -> list[PushResult]:
        self.shown |= {u.sku: u.quantity for u in updates}
        return [PushResult(u.sku, "ok", u.quantity) for u in updates]

    def read_stock(self, skus: list[str]) -> dict[str, int]:
        return {s: self.shown[s] for s in skus if s in self.shown}


@pytest.fixture
def engine(store_engine: Engine) -> Engine:
    ids = apply_locations(store_engine, [LocationSpec("WH", "Factory", "warehouse")])
    with store_engine.begin() as conn:
        for sku, qty in (("TEA", 30), ("CUP", 60), ("POT", 4)):
            stock.adjust(conn, sku, ids["WH"], qty, ref="count")
        save_bindings(conn, [SkuBinding("shop", "CUP-6PK", "CUP", 6), SkuBinding("other", "T", "TEA", 1)])
    return store_engine


def deliver(engine: Engine, shop: Shop) -> None:
    handler = PushHandler(engine, {"shop": shop}, bound={"shop"})
    OutboxWorker(engine, {TOPIC: handler}, per_partition={TOPIC: 10}).run_once()


def test_only_bound_skus_are_planned_and_the_others_are_counted_and_logged(engine: Engine) -> None:
    unbound: list[str] = []
    with capture_logs() as logs:
        planned = [p.sku for p in plan(engine, [BOUND], "shop", unbound=unbound)]

    assert planned == ["CUP"]
    assert unbound == ["POT", "TEA"]  # TEA's binding is another system's
    [said] = [e for e in logs if e["event"] == "stock plan skipped SKUs without a binding"]
    assert (said["channel"], said["count"]) == ("shop", 2)
    identity = ChannelPolicy("shop", ("WH",))
    assert [p.sku for p in plan(engine, [identity], "shop")] == ["CUP", "POT", "TEA"]


def test_an_unbound_sku_is_never_sent_and_is_pushed_once_its_binding_arrives(engine: Engine) -> None:
    shop = Shop()
    assert plan_and_enqueue(engine, [BOUND], "shop") == 1
    deliver(engine, shop)
    assert shop.shown == {"CUP-6PK": 10}

    since = utcnow()  # after the stock changed: only the new binding makes TEA a candidate
    with engine.begin() as conn:
        save_bindings(conn, [SkuBinding("shop", "TEA-SHOP", "TEA", 1)])
    assert [(p.sku, p.sellable.qty) for p in plan(engine, [BOUND], "shop", since=since)] == [("TEA", 30)]
    plan_and_enqueue(engine, [BOUND], "shop", since=since)
    deliver(engine, shop)
    assert shop.shown == {"CUP-6PK": 10, "TEA-SHOP": 30}


def test_a_queued_change_of_an_unbound_sku_fails_unsent_and_is_planned_again(engine: Engine) -> None:
    with engine.connect() as conn:
        inputs = load_inputs(conn, ["POT"], BOUND.sources)
    enqueue(engine, [PlannedPush(compute(BOUND, "POT", inputs["POT"], 0), None)])  # e.g. before the fix
    shop = Shop()

    deliver(engine, shop)

    assert shop.shown == {}
    with engine.connect() as conn:
        error = conn.execute(select(Outbox.last_error).where(Outbox.failed_at.is_not(None))).scalar_one()
        planned = conn.execute(select(ChannelListing.planned_qty).where(ChannelListing.sku == "POT")).scalar()
    assert error == "POT: no SKU binding for channel shop (skus: bound); not sent"
    assert planned is None
    with engine.begin() as conn:
        save_bindings(conn, [SkuBinding("shop", "POT-S", "POT", 1)])
    assert [p.sku for p in plan(engine, [BOUND], "shop")] == ["CUP", "POT"]


def test_drift_skips_unbound_skus_of_a_bound_channel(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            ChannelListing.__table__.insert(),
            [
                {"channel": "shop", "sku": "POT", "last_pushed_qty": 4, "push_version": 0},
                {"channel": "shop", "sku": "CUP", "last_pushed_qty": 10, "push_version": 0},
            ],
        )
    shop = Shop()
    shop.shown = {"POT": 9, "CUP-6PK": 10}

    report = check_drift(engine, [BOUND], shop)

    assert (report.drifts, report.compared, report.unbound) == ([], 1, 1)
