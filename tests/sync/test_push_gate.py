"""No data yet is not zero, and a held snapshot is not the truth: the planner waits for both."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from erpsync.planning import ChannelPlanner
from store import stock
from store.locations import LocationSpec, apply_locations
from store.models import Outbox
from sync.engine import StreamJob, run_stream
from sync.outbound import channel_blockers, plan_and_enqueue
from sync.sellable import ChannelPolicy
from tests.sync.fakes import plain_mapper
from tests.sync.test_stock_sync import Snapshot, level

SHOP = ChannelPolicy("shop", ("WH", "DS"))


@pytest.fixture
def ids(store_engine: Engine) -> dict[str, int]:
    return apply_locations(
        store_engine,
        [
            LocationSpec("WH", "Factory", "warehouse", stock_source="erp"),
            LocationSpec("DS", "Distributor", "distributor", parent="WH", stock_source="wms"),
            LocationSpec("RT", "Shop", "retail", parent="DS"),
        ],
    )


def land(engine: Engine, name: str, rows: list[dict[str, Any]], **kwargs: Any) -> str:
    source = Snapshot(name)
    source.rows = rows
    return run_stream(engine, StreamJob(source, "stock", plain_mapper("stock")), **kwargs).status


def pushed(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        payloads = conn.execute(select(Outbox.payload).order_by(Outbox.id)).scalars()
        return {p["sku"]: p["qty"] for p in payloads}


def test_nothing_is_pushed_until_every_source_location_has_reported(
    store_engine: Engine, ids: dict[str, int]
) -> None:
    assert land(store_engine, "erp", [level("TEA", "WH", 10), level("CUP", "WH", 0)]) == "ok"

    assert plan_and_enqueue(store_engine, [SHOP], "shop") == 0
    assert channel_blockers(store_engine, SHOP) == {"DS": "waiting for first stock report from DS (by wms)"}
    assert pushed(store_engine) == {}

    assert land(store_engine, "wms", [level("TEA", "DS", 2)]) == "ok"

    assert channel_blockers(store_engine, SHOP) == {}
    assert plan_and_enqueue(store_engine, [SHOP], "shop") == 2
    assert pushed(store_engine) == {"CUP": 0, "TEA": 12}


def test_a_complete_snapshot_reports_its_locations_even_when_it_lists_nothing_there(
    store_engine: Engine, ids: dict[str, int]
) -> None:
    assert land(store_engine, "wms", [level("TEA", "WH", 5)]) == "ok"  # not wms's: set aside
    assert "WH" in channel_blockers(store_engine, SHOP)
    assert land(store_engine, "erp", []) == "ok"
    assert "WH" not in channel_blockers(store_engine, SHOP)


def test_a_location_erpsync_keeps_has_reported_once_stock_is_recorded_there(
    store_engine: Engine, ids: dict[str, int]
) -> None:
    retail = ChannelPolicy("retail", ("RT",))
    assert channel_blockers(store_engine, retail) == {"RT": "waiting for first stock report from RT"}
    with store_engine.begin() as conn:
        stock.adjust(conn, "TEA", ids["RT"], 0, ref="opening count: nothing here yet")
    assert channel_blockers(store_engine, retail) == {}


def test_a_held_snapshot_stops_only_the_channels_its_connector_feeds(
    store_engine: Engine, ids: dict[str, int]
) -> None:
    factory, distributor = ChannelPolicy("factory", ("WH",)), ChannelPolicy("distributor", ("DS",))
    land(store_engine, "erp", [level("TEA", "WH", 10), level("CUP", "WH", 3)])
    land(store_engine, "wms", [level("TEA", "DS", 2)])

    assert land(store_engine, "erp", []) == "held"

    [why] = channel_blockers(store_engine, factory).values()
    assert why.startswith("stock of WH is held: a snapshot of erp/stock would zero 2 row(s)")
    assert why.endswith("erpsync sync erp stock --accept-shrink")
    assert plan_and_enqueue(store_engine, [factory, distributor], "factory") == 0
    assert plan_and_enqueue(store_engine, [factory, distributor], "distributor") == 1


def test_the_first_plan_after_a_hold_plans_everything_changed_meanwhile(
    store_engine: Engine, ids: dict[str, int]
) -> None:
    factory = ChannelPolicy("factory", ("WH",))
    planner = ChannelPlanner(store_engine, [factory], "factory", owner="test")
    land(store_engine, "erp", [level("TEA", "WH", 10), level("CUP", "WH", 3), level("POT", "WH", 6)])
    assert planner() == 3

    # TEA rises (landed at once) while CUP and POT vanish: two of three, held
    assert land(store_engine, "erp", [level("TEA", "WH", 20)]) == "held"
    assert planner() == 0
    assert land(store_engine, "erp", [level("TEA", "WH", 20)], accept_shrink=True) == "ok"

    assert planner() == 3  # TEA's rise too, though it landed before the blocked plan
    with store_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Outbox)).scalar_one() == 6
    assert pushed(store_engine) == {"TEA": 20, "CUP": 0, "POT": 0}
