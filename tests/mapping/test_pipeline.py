"""The mapper: one record, whole pages with bad records in them, binding per page, record keys."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from core.errors import RecordError
from mapping.fieldmap import FieldMap
from mapping.pipeline import Mapper, bind_page, record_key
from mapping.records import Order, OrderLine, StockLevel
from mapping.skus import Binder, SkuBinding, external_skus
from tests.mapping.shopify import ORDER_SPEC, order

STOCK = FieldMap.compile(
    {"sku": "FNumber", "location": "FStockId", "on_hand": {"path": "FQty", "convert": ["int"]}}, StockLevel
)


def key_of(raw: dict[str, Any]) -> str:
    return record_key(raw, ("FNumber", "FStockId"))


def stock(sku: str | None, qty: Any, location: str = "WH1") -> dict[str, Any]:
    return {"FNumber": sku, "FStockId": location, "FQty": qty}


def test_map_one_binds_a_pack_of_six() -> None:
    binder = Binder("shopify", {"IPOD2008RED": SkuBinding("shopify", "IPOD2008RED", "IPOD-R", 6)}, "identity")
    payload = order()
    payload["line_items"][1]["price"] = "60"
    record = Mapper(Order, FieldMap.compile(ORDER_SPEC, Order), binder).map_one(payload)
    assert isinstance(record, Order)
    assert record.lines[0].sku == "IPOD2008GREEN"
    assert record.lines[1] == OrderLine(
        sku="IPOD-R", qty=12, unit_price=Decimal(10), external_line_id="518995019", description="IPod Nano"
    )


def test_map_one_unmapped_sku_in_bound_mode() -> None:
    mapper = Mapper(Order, FieldMap.compile(ORDER_SPEC, Order), Binder("shopify", {}, "bound"))
    with pytest.raises(RecordError) as caught:
        mapper.map_one(order())
    assert caught.value.code == "unmapped_sku"
    assert caught.value.field == "lines[0].sku"
    assert "shopify:IPOD2008GREEN" in caught.value.message


def test_a_bad_record_never_stops_the_page() -> None:
    raws = [stock("A", "5"), stock("B", "2.5"), stock(None, "1"), stock("C", 0, location="WH2")]
    page = Mapper(StockLevel, STOCK).map_page(raws, key_of)
    assert page.records == [
        StockLevel(sku="A", location="WH1", on_hand=5),
        StockLevel(sku="C", location="WH2", on_hand=0),
    ]
    assert [(f.key, f.error.code, f.error.field) for f in page.failures] == [
        ("B/WH1", "invalid", "on_hand"),
        (key_of(raws[2]), "missing_field", "sku"),
    ]
    assert page.failures[1].key.startswith("sha256:")
    assert page.failures[0].raw is raws[1]
    assert (
        str(page.failures[0].error) == "on_hand: int cannot convert '2.5': not a whole number [record=B/WH1]"
    )


def test_bind_page_after_loading_only_the_needed_bindings() -> None:
    raws = [stock("P6", "2"), stock("X", "1"), stock("bad", "x")]
    page = Mapper(StockLevel, STOCK).map_page(raws, key_of)
    needed = external_skus(page.records)
    assert needed == {"P6", "X"}
    known = {"P6": SkuBinding("k3", "P6", "A-1", 6), "Q": SkuBinding("k3", "Q", "B-1")}
    bound = bind_page(page, Binder("k3", {s: known[s] for s in needed if s in known}, "bound"), key_of)
    assert bound.records == [StockLevel(sku="A-1", location="WH1", on_hand=12)]
    assert [(f.key, f.error.code) for f in bound.failures] == [
        ("bad/WH1", "invalid"),
        ("X/WH1", "unmapped_sku"),
    ]
    assert bound.raws == [raws[0]]


def test_mapper_refuses_a_field_map_of_another_type() -> None:
    with pytest.raises(ValueError, match="the field map builds StockLevel, not Order"):
        Mapper(Order, STOCK)


def test_record_key() -> None:
    assert record_key({"id": 7, "loc": "WH"}, ("id", "loc")) == "7/WH"
    assert record_key({"a": {"b": "x"}}, ("a.b",)) == "x"
    digest = record_key({"name": "no id", "n": 1}, ("id",))
    assert digest.startswith("sha256:")
    assert len(digest) == len("sha256:") + 16
    assert digest == record_key({"n": 1, "name": "no id"}, ("id",))  # key order does not matter
    assert digest != record_key({"n": 2, "name": "no id"}, ("id",))
    assert record_key({"id": ""}, ("id",)).startswith("sha256:")
