"""Stock pushes: only changes are queued; a channel outage delays, never drops or duplicates;
compare-and-set conflicts never overwrite a channel's own sales."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
import responses
from sqlalchemy import Engine, func, select

from connectors.rest import RestConnector, RestSettings
from core.clock import utcnow
from core.errors import RetriableError
from core.ports import PushResult, StockUpdate
from delivery.worker import OutboxWorker
from mapping.skus import SkuBinding
from store import stock
from store.bindings import save_bindings
from store.locations import LocationSpec, apply_locations
from store.models import ChannelListing, Outbox
from sync.outbound import TOPIC, plan, plan_and_enqueue
from sync.sellable import ChannelPolicy, Override, Rule
from sync.stock_push import PushHandler


class FakeChannel:
    """A channel that keeps quantities, supports compare-and-set and can be 'down'."""

    name = "shop"
    push_batch_limit = 2

    def __init__(self) -> None:
        self.shown: dict[str, int] = {}
        self.requests: list[list[StockUpdate]] = []
        self.down_for = 0

    def push_stock(self, updates: list[StockUpdate]) -> list[PushResult]:
        if self.down_for > 0:
            self.down_for -= 1
            raise RetriableError(
                "GET https://shop.example/stock returned 503 Service Unavailable", connector="shop"
            )
        self.requests.append(list(updates))
        results = []
        for u in updates:
            current = self.shown.get(u.sku)
            if u.expected is not None and current is not None and current != u.expected:
                results.append(PushResult(u.sku, "conflict", current, "expected no longer holds"))
            else:
                self.shown[u.sku] = u.quantity
                results.append(PushResult(u.sku, "ok", u.quantity))
        return results

    def read_stock(self, skus: list[str]) -> dict[str, int]:
        return {s: self.shown[s] for s in skus if s in self.shown}

    def received(self, sku: str) -> list[int]:
        return [u.quantity for batch in self.requests for u in batch if u.sku == sku]


POLICY = ChannelPolicy("shop", ("WH", "DS"), Rule(), (Override(Rule(max=20), sku="CUP"),))
OTHER = ChannelPolicy("b2b", ("WH",), Rule(percent=50))


@pytest.fixture
def engine(store_engine: Engine) -> Engine:
    ids = apply_locations(
        store_engine,
        [
            LocationSpec("WH", "Factory", "warehouse"),
            LocationSpec("DS", "Distributor", "distributor", parent="WH"),
        ],
    )
    with store_engine.begin() as conn:
        stock.adjust(conn, "TEA", ids["WH"], 30, ref="count")
        stock.adjust(conn, "TEA", ids["DS"], 5, ref="count")
        stock.adjust(conn, "CUP", ids["WH"], 100, ref="count")
    return store_engine


def set_stock(engine: Engine, sku: str, loc: str, delta: int) -> None:
    from store.models import Location

    with engine.begin() as conn:
        loc_id = conn.execute(select(Location.id).where(Location.code == loc)).scalar_one()
        stock.adjust(conn, sku, loc_id, delta, ref="test")


def outbox_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Outbox)).scalar_one())


def test_only_changes_are_planned_and_queued_once(engine: Engine) -> None:
    planned = {p.sku: p.sellable.qty for p in plan(engine, [POLICY, OTHER], "shop")}
    assert planned == {"TEA": 35, "CUP": 20}  # CUP limited by its rule
    assert plan_and_enqueue(engine, [POLICY, OTHER], "shop") == 2
    assert list(plan(engine, [POLICY, OTHER], "shop")) == []
    assert plan_and_enqueue(engine, [POLICY, OTHER], "shop") == 0
    assert outbox_count(engine) == 2

    set_stock(engine, "TEA", "DS", -2)
    since = utcnow() - timedelta(seconds=5)
    assert [(p.sku, p.sellable.qty, p.previous) for p in plan(engine, [POLICY], "shop", since=since)] == [
        ("TEA", 33, 35)
    ]
    set_stock(engine, "CUP", "WH", -50)  # 50 left, still capped at 20: nothing to push
    assert [p.sku for p in plan(engine, [POLICY], "shop")] == ["TEA"]


def _deliver(engine: Engine, channel: FakeChannel, now: datetime) -> None:
    worker = OutboxWorker(
        engine, {TOPIC: PushHandler(engine, {"shop": channel})}, per_partition={TOPIC: 10}, clock=lambda: now
    )
    worker.run_once(now)


def test_a_channel_down_for_a_while_gets_every_change_once_in_order(engine: Engine) -> None:
    channel = FakeChannel()
    plan_and_enqueue(engine, [POLICY], "shop")
    _deliver(engine, channel, utcnow())
    assert channel.received("TEA") == [35]

    channel.down_for = 3
    for delta in (-5, -4, -6):  # three changes while the channel is down
        set_stock(engine, "TEA", "WH", delta)
        plan_and_enqueue(engine, [POLICY], "shop")
    now = utcnow()
    for attempt in range(6):  # the worker keeps trying; backoff moves the clock on
        _deliver(engine, channel, now + timedelta(minutes=attempt * 20))
    assert channel.received("TEA") == [35, 30, 26, 20]
    with engine.connect() as conn:
        pending = conn.execute(select(func.count()).where(Outbox.delivered_at.is_(None))).scalar_one()
        keys = conn.execute(select(Outbox.key).order_by(Outbox.id)).scalars().all()
        attempts = conn.execute(select(func.max(Outbox.attempts))).scalar_one()
    assert pending == 0
    assert attempts == 3
    assert keys == [
        f"{TOPIC}:shop:CUP:1",
        f"{TOPIC}:shop:TEA:1",
        f"{TOPIC}:shop:TEA:2",
        f"{TOPIC}:shop:TEA:3",
        f"{TOPIC}:shop:TEA:4",
    ]
    # each version went out once: no request carries the same (sku, ref) twice
    refs = [u.ref for batch in channel.requests for u in batch]
    assert len(refs) == len(set(refs))


def test_compare_and_set_conflict_never_shows_more_than_the_channel_has(engine: Engine) -> None:
    channel = FakeChannel()
    plan_and_enqueue(engine, [POLICY], "shop")
    _deliver(engine, channel, utcnow())
    channel.shown["TEA"] = 31  # the shop sold 4 units we have not imported yet
    set_stock(engine, "TEA", "WH", -1)  # meanwhile the ERP reports one fewer: we plan 34
    plan_and_enqueue(engine, [POLICY], "shop")
    _deliver(engine, channel, utcnow())
    last = channel.requests[-2:]
    assert [(u.quantity, u.expected) for batch in last for u in batch if u.sku == "TEA"] == [
        (34, 35),
        (31, 31),
    ]
    assert channel.shown["TEA"] == 31
    with engine.connect() as conn:
        pushed = conn.execute(
            select(ChannelListing.last_pushed_qty).where(ChannelListing.sku == "TEA")
        ).scalar_one()
    assert pushed == 31


def test_channel_skus_and_pack_units_come_from_the_bindings(engine: Engine) -> None:
    with engine.begin() as conn:
        save_bindings(conn, [SkuBinding("shop", "CUP-6PK", "CUP", 6)])
    channel = FakeChannel()
    plan_and_enqueue(engine, [ChannelPolicy("shop", ("WH",))], "shop")
    _deliver(engine, channel, utcnow())
    assert channel.shown == {"CUP-6PK": 16, "TEA": 30}  # 100 cups = 16 packs of 6


@responses.activate
def test_rest_channel_push_protocol(engine: Engine) -> None:
    settings = RestSettings.model_validate(
        {
            "base_url": "https://shop.example/api/",
            "max_attempts": 1,
            "auth": {"type": "bearer", "token": "tok-123456"},
            "stock_push": {"path": "stock/push", "batch": 10},
        }
    )
    channel = RestConnector("shop", settings)
    responses.post("https://shop.example/api/stock/push", status=503)
    responses.post(
        "https://shop.example/api/stock/push",
        json={
            "results": [
                {"sku": "CUP", "status": "ok", "actual": 20},
                {"sku": "TEA", "status": "ok", "actual": 35},
            ]
        },
    )
    plan_and_enqueue(engine, [POLICY], "shop")
    now = utcnow()
    _deliver(engine, channel, now)  # 503: nothing delivered, retried later
    assert outbox_count(engine) == 2
    _deliver(engine, channel, now + timedelta(minutes=5))
    body = json.loads(responses.calls[-1].request.body)
    assert body == {
        "updates": [
            {"sku": "CUP", "quantity": 20, "expected": None, "ref": f"{TOPIC}:shop:CUP:1"},
            {"sku": "TEA", "quantity": 35, "expected": None, "ref": f"{TOPIC}:shop:TEA:1"},
        ]
    }
    assert responses.calls[-1].request.headers["Authorization"] == "Bearer tok-123456"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).where(Outbox.delivered_at.is_not(None))).scalar_one() == 2


def test_a_product_moved_to_another_category_is_planned_again(engine: Engine) -> None:
    from sqlalchemy import insert, update

    from store.models import Product

    halved = ChannelPolicy("shop", ("WH", "DS"), Rule(), (Override(Rule(percent=50), category="tea"),))
    with engine.begin() as conn:
        conn.execute(
            insert(Product).values(
                sku="TEA", name="Tea", category="cups", created_at=utcnow(), updated_at=utcnow()
            )
        )
    assert plan_and_enqueue(engine, [halved], "shop") == 2
    since = utcnow()
    with engine.begin() as conn:
        conn.execute(update(Product).where(Product.sku == "TEA").values(category="tea", updated_at=utcnow()))
    assert [(p.sku, p.sellable.qty) for p in plan(engine, [halved], "shop", since=since)] == [("TEA", 17)]
