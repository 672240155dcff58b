"""Held orders are validated again when what they waited for lands: the product (from a products
stream), a SKU binding of their channel (imported later), or free stock for a ``no_stock`` hold —
and only then, so a hold that still stands is not churned on every pass."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select

from mapping.skus import SkuBinding
from routing.process import OrderSettings, process_orders
from store import stock
from store.bindings import save_bindings
from store.locations import LocationSpec, apply_locations
from store.models import OrderLine, SalesOrder
from sync.engine import StreamJob, run_stream
from tests.sync.fakes import ListSource, plain_mapper

ADDRESS = {
    "name": "王小明",
    "phone": "13800000000",
    "province": "广东省",
    "city": "广州市",
    "district": "天河区",
    "street": "科技路 1 号",
    "postal_code": "510000",
}


def order(ext: str, lines: list[tuple[str, int, str]], status: str = "paid") -> dict[str, Any]:
    data = {"channel": "shop", "external_id": ext, "status": status, "ship_to": ADDRESS}
    data["lines"] = [{"sku": s, "qty": q, "unit_price": p} for s, q, p in lines]
    return {"id": ext, "updated": "t1", "data": data}


def product(sku: str) -> dict[str, Any]:
    return {"id": sku, "updated": "t1", "data": {"sku": sku, "name": sku.title()}}


@pytest.fixture
def wh(store_engine: Engine) -> int:
    ids = apply_locations(store_engine, [LocationSpec("WH", "Factory", "warehouse")])
    with store_engine.begin() as conn:
        for sku in ("TEA", "CUP", "POT"):
            stock.adjust(conn, sku, ids["WH"], 100, ref="count")
    land_products(store_engine, "TEA", "CUP")
    return ids["WH"]


def land_products(engine: Engine, *skus: str) -> None:
    source = ListSource("erp", {"products": [product(sku) for sku in skus]})
    run_stream(engine, StreamJob(source, "products", plain_mapper("products")), full=True)


def import_orders(engine: Engine, *rows: dict[str, Any]) -> None:
    source = ListSource("shop", {"orders": list(rows)})
    run_stream(engine, StreamJob(source, "orders", plain_mapper("orders")), full=True)


def state(engine: Engine, ext: str) -> tuple[str, str | None]:
    with engine.connect() as conn:
        row = conn.execute(
            select(SalesOrder.status, SalesOrder.hold_reason).where(SalesOrder.external_id == ext)
        ).one()
    return row.status, row.hold_reason


def test_an_order_held_for_an_unknown_sku_goes_on_once_the_product_lands(
    store_engine: Engine, wh: int
) -> None:
    import_orders(store_engine, order("1", [("TEA", 1, "10"), ("POT", 2, "30")]))
    assert process_orders(store_engine, OrderSettings()).held == 1
    assert state(store_engine, "1")[1] == (
        "unknown SKU: POT (not in the product list from the ERP, nor bound to one)"
    )

    land_products(store_engine, "POT")
    stats = process_orders(store_engine, OrderSettings())

    assert (stats.revalidated, stats.dispatched) == (1, 1)
    assert state(store_engine, "1") == ("dispatched", None)


def test_an_order_held_for_a_channel_sku_goes_on_bound_once_its_binding_is_imported(
    store_engine: Engine, wh: int
) -> None:
    import_orders(store_engine, order("2", [("CUP-6PK", 2, "90.00"), ("TEA", 1, "10")]))
    process_orders(store_engine, OrderSettings())
    assert state(store_engine, "2")[0] == "on_hold"

    with store_engine.begin() as conn:
        save_bindings(conn, [SkuBinding("shop", "CUP-6PK", "CUP", 6), SkuBinding("erp", "TEA", "POT", 1)])
    stats = process_orders(store_engine, OrderSettings())

    assert (stats.revalidated, stats.dispatched) == (1, 1)
    assert state(store_engine, "2") == ("dispatched", None)
    with store_engine.connect() as conn:
        lines = conn.execute(
            select(OrderLine.sku, OrderLine.qty, OrderLine.unit_price).order_by(OrderLine.line_no)
        ).all()
    # 2 packs of 6 at 90.00 are 12 cups at 15.00; TEA is ours already (and "erp" is another system)
    assert [tuple(line) for line in lines] == [
        ("CUP", 12, Decimal("15.0000")),
        ("TEA", 1, Decimal("10.0000")),
    ]


def test_an_order_still_missing_a_sku_stays_held_untouched(store_engine: Engine, wh: int) -> None:
    import_orders(store_engine, order("3", [("POT", 1, "30"), ("MUG", 1, "5")]))
    process_orders(store_engine, OrderSettings())
    with store_engine.connect() as conn:
        held_at = conn.execute(select(SalesOrder.updated_at)).scalar_one()

    land_products(store_engine, "POT")  # MUG is still unknown
    with store_engine.begin() as conn:
        save_bindings(conn, [SkuBinding("shop", "MUG", "MUG-X", 1)])  # bound to no product of ours
    stats = process_orders(store_engine, OrderSettings())

    assert stats.revalidated == 0
    assert state(store_engine, "3") == (
        "on_hold",
        "unknown SKU: MUG, POT (not in the product list from the ERP, nor bound to one)",
    )
    with store_engine.connect() as conn:
        assert conn.execute(select(SalesOrder.updated_at)).scalar_one() == held_at


@pytest.mark.parametrize(("regions", "hold"), [(("广东省",), "no_stock:"), ((), "no_location:")])
def test_a_routing_hold_is_routed_again_when_free_stock_arrives_and_not_before(
    store_engine: Engine, wh: int, regions: tuple[str, ...], hold: str
) -> None:
    # the warehouse covers the address (no_stock), or no place does and it is the fallback (no_location)
    apply_locations(store_engine, [LocationSpec("WH", "Factory", "warehouse", regions=regions)])
    import_orders(
        store_engine,
        order("4", [("TEA", 150, "10")]),
        order("5", [("TEA", 1, "10")], status="pending"),  # held awaiting payment: not this module's
    )
    process_orders(store_engine, OrderSettings())
    assert state(store_engine, "4")[1].startswith(hold)  # type: ignore[union-attr]
    assert process_orders(store_engine, OrderSettings()).revalidated == 0

    with store_engine.begin() as conn:
        stock.adjust(conn, "CUP", wh, 10, ref="count")  # another SKU: nothing to do with it
    assert process_orders(store_engine, OrderSettings()).revalidated == 0
    with store_engine.begin() as conn:
        stock.adjust(conn, "TEA", wh, 20, ref="count")  # 120 now: still short, held again
    assert process_orders(store_engine, OrderSettings()).revalidated == 1
    assert state(store_engine, "4")[0] == "on_hold"
    assert process_orders(store_engine, OrderSettings()).revalidated == 0
    with store_engine.begin() as conn:
        stock.adjust(conn, "TEA", wh, 30, ref="delivery")

    stats = process_orders(store_engine, OrderSettings())

    assert (stats.revalidated, stats.dispatched) == (1, 1)
    assert state(store_engine, "4") == ("dispatched", None)
    assert state(store_engine, "5") == ("on_hold", "awaiting payment (channel status pending)")
