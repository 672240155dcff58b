"""TrytonConnector against a real Tryton server: login, errors, products, stock snapshots, sales."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select

from connectors.base import Page, SalesDoc, SalesDocLine
from connectors.tryton import TrytonConnector, TrytonSettings
from core.errors import AuthError, PermanentError
from mapping.fieldmap import FieldMap
from mapping.pipeline import Mapper
from mapping.records import Product, Record, StockLevel
from mapping.skus import SkuBinding
from store.bindings import save_bindings
from store.locations import LocationSpec, apply_locations
from store.models import Location, Quarantine
from store.models import Product as ProductRow
from store.models import StockLevel as StockRow
from sync.engine import StreamJob, run_stream
from sync.mapper import StreamMapper
from tests.connectors.tryton.conftest import Tryton

pytestmark = pytest.mark.tryton

LOCATIONS = {"WH": "WH1", "WH2": "SOUTH"}


def connector(tryton: Tryton, **overrides: Any) -> TrytonConnector:
    settings = tryton.settings(location_map=LOCATIONS) | overrides
    return TrytonConnector("tryton", TrytonSettings.model_validate(settings))


def read(conn: TrytonConnector, stream: str, cursor: str | None = None) -> list[Page]:
    return list(conn.fetch(stream, cursor))


def changed_since(tryton: Tryton, cursor: str) -> set[str]:
    """Codes of the products changed at or after ``cursor``, as Tryton says (not the connector)."""
    since = datetime.fromisoformat(cursor).astimezone(UTC).replace(tzinfo=None)
    fields = ["code", "write_date", "create_date", "template.write_date"]
    rows = tryton.rpc("product.product.search_read", [], 0, None, None, fields, active_test=False)
    return {
        row["code"]
        for row in rows
        if max(row["write_date"] or row["create_date"], row["template."]["write_date"] or datetime.min)
        >= since
    }


def test_check_logs_in_and_refuses_a_wrong_password(tryton: Tryton) -> None:
    connector(tryton).check()
    connector(tryton, version="8").check()
    with pytest.raises(AuthError, match="refused the login of 'admin'") as caught:
        connector(tryton, password="bad-pass-7f3k").check()
    assert caught.value.connector == "tryton"
    assert "bad-pass-7f3k" not in str(caught.value)


def test_wrong_version_or_database_is_permanent(tryton: Tryton) -> None:
    with pytest.raises(PermanentError, match="HTTP 405"):
        connector(tryton, version="7").check()  # an 8.x server has no /<db>/ endpoint
    with pytest.raises(PermanentError, match="no database 'nope'"):
        connector(tryton, database="nope").check()


def test_an_expired_session_logs_in_again(tryton: Tryton) -> None:
    conn = connector(tryton)
    conn.check()
    stale = base64.b64encode(b"admin:1:0123456789abcdef").decode()
    conn.rpc._headers["Authorization"] = f"Session {stale}"
    assert {record["code"] for page in read(conn, "products") for record in page.records} >= {"WID-1"}
    assert conn.rpc._headers["Authorization"] != f"Session {stale}"


def test_rpc_errors_are_mapped(tryton: Tryton) -> None:
    conn = connector(tryton)
    with pytest.raises(PermanentError, match="don't exist"):
        conn.rpc.call("model.product.product.read", [999999], ["code"])
    with pytest.raises(PermanentError, match="HTTP 403, not callable over RPC"):
        conn.rpc.call("model.product.product.products_by_location", [1])
    with pytest.raises(PermanentError, match="Tryton has no warehouse with code NOPE") as caught:
        read(connector(tryton, warehouses=["WH", "NOPE"]), "stock")
    assert caught.value.stream == "stock"


def test_products_read_then_only_changes_from_the_cursor(tryton: Tryton) -> None:
    tryton.settle()
    conn = connector(tryton, page_size=2)
    pages = read(conn, "products")
    assert [page.last for page in pages] == [False] * (len(pages) - 1) + [True]
    assert all(page.cursor is None for page in pages[:-1])  # pages go by id, not by date
    products = {record["code"]: record for page in pages for record in page.records}
    assert {"WID-1", "BOX-6", "KG-1"} <= set(products)
    assert products["BOX-6"] | {"updated_at": None} == {
        "id": tryton.ids["BOX-6"],
        "code": "BOX-6",
        "name": "Boxed thing",
        "uom": "u",
        "active": True,
        "updated_at": None,
    }
    first = pages[-1].cursor
    assert first is not None
    assert read(conn, "products", first)[-1].cursor == first  # nothing changed: the cursor stays

    (template,) = tryton.rpc("product.product.read", [tryton.ids["WID-1"]], ["template"])
    tryton.rpc("product.template.write", [template["template"]], {"name": "Widget Pro"})
    pages = read(conn, "products", first)
    changed = {record["code"]: record for page in pages for record in page.records}
    assert changed["WID-1"]["name"] == "Widget Pro"
    assert set(changed) == changed_since(tryton, first)
    assert "BOX-6" not in changed  # created before the cursor, not changed since
    second = pages[-1].cursor
    assert second is not None
    assert datetime.fromisoformat(second) > datetime.fromisoformat(first)


def test_stock_snapshot_equals_tryton_quantities(tryton: Tryton) -> None:
    conn = connector(tryton, page_size=2)
    pages = read(conn, "stock")
    assert [page.last for page in pages] == [False] * (len(pages) - 1) + [True]
    assert all(page.cursor is None for page in pages)
    assert conn.streams["stock"].snapshot
    records = [record for page in pages for record in page.records]
    got = {(r["sku"], r["location"]): r["quantity"] for r in records}
    for code, location in LOCATIONS.items():
        expected = tryton.quantities(code)
        assert {sku: qty for (sku, loc), qty in got.items() if loc == location} == expected
    box = next(r for r in records if r["sku"] == "BOX-6" and r["location"] == "WH1")
    assert (box["quantity"], box["unit"], box["warehouse"]) == (18, "u", "WH")  # 3 boxes of 6, in units
    assert got[("KG-1", "WH1")] == 2.5  # not whole: left for the SKU's unit factor
    assert isinstance(got[("WID-1", "SOUTH")], int)
    as_of = datetime.fromisoformat(box["as_of"])
    assert abs(as_of - datetime.now(UTC)) < timedelta(minutes=1)


def test_one_warehouse_and_default_location_codes(tryton: Tryton) -> None:
    records = [
        r
        for page in read(connector(tryton, location_map={}, warehouses=["WH2"]), "stock")
        for r in page.records
    ]
    assert {r["location"] for r in records} == {"WH2"}
    assert {r["sku"]: r["quantity"] for r in records} == tryton.quantities("WH2")


def job(conn: TrytonConnector, stream: str, record_type: type[Record]) -> StreamJob:
    fieldmap = FieldMap.compile(TrytonConnector.default_mappings[stream], record_type)
    mapper = StreamMapper(conn.name, Mapper(record_type, fieldmap), conn.streams[stream].primary_key)
    return StreamJob(conn, stream, mapper)


def store_levels(engine: Engine) -> dict[tuple[str, str], int]:
    with engine.connect() as db:
        rows = db.execute(select(StockRow.sku, Location.code, StockRow.on_hand).join(Location))
        return {(sku, location): on_hand for sku, location, on_hand in rows}


def tryton_levels(tryton: Tryton) -> dict[tuple[str, str], float]:
    return {(sku, LOCATIONS[wh]): qty for wh in LOCATIONS for sku, qty in tryton.quantities(wh).items()}


def test_engine_keeps_the_store_equal_to_tryton(tryton: Tryton, store_engine: Engine) -> None:
    apply_locations(
        store_engine, [LocationSpec("WH1", "Main", "warehouse"), LocationSpec("SOUTH", "South", "warehouse")]
    )
    conn = connector(tryton, page_size=2)
    stock = job(conn, "stock", StockLevel)

    first = run_stream(store_engine, stock)
    assert (first.status, first.quarantined) == ("ok", 1)
    expected = {key: int(qty) for key, qty in tryton_levels(tryton).items() if key != ("KG-1", "WH1")}
    assert store_levels(store_engine) == expected
    assert "on_hand: 2.5 of SKU KG-1 is not a whole number of base units" in kg_reason(store_engine)

    # more stock moves in Tryton; the next poll re-reads the snapshot and the store follows
    tryton.receive("WID-1", 5)
    tryton.count("WID-1", tryton.quantities("WH2")["WID-1"] - 1, "storage2")
    tryton.receive("BOX-6", 1, unit="box")
    again = run_stream(store_engine, stock)
    assert (again.status, again.changed) == ("ok", 3)
    expected = {key: int(qty) for key, qty in tryton_levels(tryton).items() if key != ("KG-1", "WH1")}
    assert store_levels(store_engine) == expected
    assert run_stream(store_engine, stock).changed == 0

    products = run_stream(store_engine, job(conn, "products", Product))
    assert products.status == "ok"
    with store_engine.connect() as db:
        rows = dict(db.execute(select(ProductRow.sku, ProductRow.uom)).tuples().all())
    assert {"WID-1": "u", "BOX-6": "u", "KG-1": "kg"}.items() <= rows.items()

    # with the product known the reason names its unit; binding it with uom_factor 1000 counts kg
    # as g, and the 2.5 kg land as 2500
    assert run_stream(store_engine, stock).quarantined == 1
    assert kg_reason(store_engine).startswith(
        "on_hand: 2.5 kg of SKU KG-1 is not a whole number of base units; stock is counted in whole "
        "base units: bind tryton:KG-1 with a uom_factor that makes it whole (1000 counts kg as g)"
    )
    with store_engine.begin() as db:
        save_bindings(db, [SkuBinding("tryton", "KG-1", "KG-1", 1000)])
    assert run_stream(store_engine, stock).quarantined == 0
    assert store_levels(store_engine)[("KG-1", "WH1")] == 2500
    with store_engine.connect() as db:
        assert db.execute(select(Quarantine.status)).scalars().all() == ["resolved"]


def kg_reason(engine: Engine) -> str:
    with engine.connect() as db:
        return str(
            db.execute(select(Quarantine.reason).where(Quarantine.record_key == "KG-1/WH1")).scalar_one()
        )


def sale_lines(tryton: Tryton, sale_id: str) -> list[tuple[str, float, str, Decimal]]:
    fields = ["product.code", "quantity", "unit.symbol", "unit_price"]
    rows = tryton.rpc(
        "sale.line.search_read", [["sale", "=", int(sale_id)]], 0, None, [["id", "ASC"]], fields
    )
    return [(r["product."]["code"], r["quantity"], r["unit."]["symbol"], r["unit_price"]) for r in rows]


def test_create_sales_order_once_per_ref(tryton: Tryton) -> None:
    sale = {"create_sales": True, "customer_party": tryton.ids["customer"]}
    conn = connector(tryton, sale=sale)
    lines = (
        SalesDocLine("WID-1", 3, "9.90"),
        SalesDocLine("BOX-6", 12, "3.00"),
        SalesDocLine("BOX-6", 7, "3.00"),
    )
    doc = SalesDoc(ref="shop/1001", customer=None, currency="CNY", lines=lines, location="WH1")

    sale_id = conn.create_sales_order(doc)
    assert conn.create_sales_order(doc) == sale_id
    found = tryton.rpc(
        "sale.sale.search_read", [["reference", "=", "shop/1001"]], 0, None, None, ["party", "state"]
    )
    assert found == [{"id": int(sale_id), "party": tryton.ids["customer"], "state": "draft"}]
    assert sale_lines(tryton, sale_id) == [
        ("WID-1", 3.0, "u", Decimal("9.90")),
        ("BOX-6", 2.0, "bx6", Decimal("18.00")),  # 12 units are 2 boxes, the box costs 6 units
        ("BOX-6", 7.0, "u", Decimal("3.00")),  # 7 units are not whole boxes: sold in units
    ]


def test_sales_order_refusals(tryton: Tryton) -> None:
    doc = SalesDoc(ref="shop/2002", customer=None, currency="CNY", lines=(SalesDocLine("NOPE-1", 1, "1"),))
    with pytest.raises(PermanentError, match="creating sales orders is off"):
        connector(tryton).create_sales_order(doc)
    conn = connector(tryton, sale={"create_sales": True, "customer_party": tryton.ids["customer"]})
    with pytest.raises(PermanentError, match="no product with code NOPE-1") as caught:
        conn.create_sales_order(doc)
    assert (caught.value.external_id, caught.value.stream) == ("shop/2002", "sales_orders")
    assert tryton.rpc("sale.sale.search", [["reference", "=", "shop/2002"]], 0, None, None) == []
