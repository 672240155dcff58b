"""Keys compare the same on every backend: "A1" and "A1 " are one SKU, a tab in a key is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from mapping.fieldmap import FieldMap
from mapping.pipeline import Mapper
from mapping.records import Order, Product, StockLevel
from mapping.skus import SkuBinding, read_bindings_csv
from store.bindings import load_bindings, save_bindings
from store.locations import LocationSpec, apply_locations
from store.models import OrderLine, Quarantine, SalesOrder, StockMovement
from store.models import Product as ProductRow
from store.models import StockLevel as StockRow
from sync.engine import StreamJob, run_stream
from sync.mapper import StreamMapper
from sync.order_sync import reconcile_orders
from sync.reconcile import PageContext, reconcile_products
from tests.sync.fakes import ListSource

STOCK_MAP = {"sku": "sku", "location": "wh", "on_hand": "qty"}


def stock_job(rows: list[dict[str, Any]], size: int = 10) -> StreamJob:
    mapper = StreamMapper("erp", Mapper(StockLevel, FieldMap.compile(STOCK_MAP, StockLevel)), ("id",))
    return StreamJob(ListSource("erp", {"stock": rows}, size=size), "stock", mapper)


def reading(n: int, sku: str, qty: int, wh: str = "WH1") -> dict[str, Any]:
    return {"id": f"r{n}", "updated": f"2026-01-01T00:00:0{n}", "sku": sku, "wh": wh, "qty": qty}


@pytest.fixture
def store(store_engine: Engine) -> Engine:
    apply_locations(store_engine, [LocationSpec("WH1", "Factory", "warehouse")])
    return store_engine


def levels_and_ledger(engine: Engine) -> tuple[dict[str, int], dict[str, tuple[int, int]]]:
    with engine.connect() as conn:
        levels = dict(conn.execute(select(StockRow.sku, StockRow.on_hand)).tuples().all())
        ledger = conn.execute(
            select(StockMovement.sku, func.sum(StockMovement.delta_on_hand), func.count()).group_by(
                StockMovement.sku
            )
        ).all()
    return levels, {sku: (int(total), int(n)) for sku, total, n in ledger}


@pytest.mark.parametrize("page_size", [10, 1], ids=["one page", "two pages"])
def test_trailing_space_sku_is_the_same_row_and_the_ledger_adds_up(store: Engine, page_size: int) -> None:
    rows = [reading(1, "A1", 5), reading(2, "A1 ", 7, wh=" WH1"), reading(3, "\u3000B2", 3)]
    assert run_stream(store, stock_job(rows, size=page_size)).status == "ok"
    levels, ledger = levels_and_ledger(store)
    assert levels == {"A1": 7, "B2": 3}
    # the ledger re-derives every level: two readings of A1, one of B2
    assert ledger == {"A1": (7, 2), "B2": (3, 1)}


def test_a_key_with_a_control_character_is_quarantined_naming_the_field(store: Engine) -> None:
    rows = [reading(1, "A\t1", 5), reading(2, "A1", 4)]
    result = run_stream(store, stock_job(rows))
    assert (result.status, result.changed, result.quarantined) == ("ok", 1, 1)
    with store.connect() as conn:
        q = conn.execute(select(Quarantine.record_key, Quarantine.reason)).one()
    assert q.record_key == "r1"
    assert q.reason.startswith("sku: contains the control character U+0009")


def test_products_and_orders_with_padded_keys_are_one_row(store: Engine) -> None:
    products = [Product(sku="P1", name="Tea"), Product(sku="P1  ", name="Green tea")]
    orders = [
        Order.model_validate({"channel": "shop", "external_id": eid, "status": "paid", "lines": [line]})
        for eid, line in (("O1", {"sku": "P1", "qty": 1}), (" O1 ", {"sku": "P1 ", "qty": 2}))
    ]
    with store.begin() as conn:
        reconcile_products(conn, products, PageContext("erp", 1))
        reconcile_orders(conn, orders, PageContext("shop", 1))
    with store.connect() as conn:
        assert conn.execute(select(ProductRow.sku, ProductRow.name)).tuples().all() == [("P1", "Green tea")]
        lines = conn.execute(select(SalesOrder.external_id, OrderLine.sku, OrderLine.qty).join(OrderLine))
        assert lines.tuples().all() == [("O1", "P1", 2)]


def test_bindings_from_csv_and_code_follow_the_key_rule(store: Engine, tmp_path: Path) -> None:
    path = tmp_path / "bindings.csv"
    path.write_text("system,external_sku,sku,uom_factor\nshop, P6 ,A1 ,6\n", encoding="utf-8")
    with store.begin() as conn:
        save_bindings(conn, read_bindings_csv(path))
        save_bindings(conn, [SkuBinding("shop", "P12 ", " A1", 12)])
    with store.connect() as conn:
        found = load_bindings(conn, "shop", ["P6", "P12"])
    assert found == {"P6": SkuBinding("shop", "P6", "A1", 6), "P12": SkuBinding("shop", "P12", "A1", 12)}

    path.write_text('system,external_sku,sku\nshop,"P\t6",A1\n', encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"bindings.csv:2 external_sku: contains the control character U\+0009"
    ):
        read_bindings_csv(path)
