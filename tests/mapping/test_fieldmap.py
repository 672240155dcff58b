"""Field maps: compiling specs, building canonical dicts and records, and naming what is wrong."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from core.errors import RecordError
from mapping.fieldmap import FieldMap
from mapping.records import Address, Order, OrderLine, Product, StockLevel
from tests.mapping.shopify import ORDER_SPEC, order

STOCK_SPEC: dict[str, Any] = {
    "sku": {"path": "item.code", "convert": ["str", "strip"]},
    "location": {"path": "warehouse", "convert": [{"default": "MAIN"}, "upper"]},
    "on_hand": {"path": "qty", "convert": ["int"]},
    "as_of": {"path": "modified", "convert": [{"datetime": {"tz": "Asia/Shanghai"}}]},
}


def test_full_shopify_order() -> None:
    record = FieldMap.compile(ORDER_SPEC, Order).to_record(order())
    assert isinstance(record, Order)
    assert record.external_id == "450789469"
    assert record.customer_ref == "#1001"
    assert record.status == "paid"
    assert record.currency == "USD"
    assert record.total == Decimal("598.94")
    assert record.updated_at == datetime(2008, 1, 10, 16, 0, tzinfo=UTC)
    assert record.placed_at == datetime(2008, 1, 10, 15, 55, tzinfo=UTC)
    assert record.ship_to == Address(
        name="Bob Norman",
        phone="+1(502)-459-2181",
        street="Chestnut Street 92",
        city="Louisville",
        province="Kentucky",
        country="US",
        postal_code="40202",
    )
    assert record.lines == (
        OrderLine(
            sku="IPOD2008GREEN",
            qty=1,
            unit_price=Decimal("199.00"),
            external_line_id="466157049",
            description="IPod Nano",
        ),
        OrderLine(
            sku="IPOD2008RED",
            qty=2,
            unit_price=Decimal("199.97"),
            external_line_id="518995019",
            description="IPod Nano",
        ),
    )


def test_apply_leaves_out_fields_without_value_and_uses_defaults() -> None:
    payload = order(currency=None, financial_status="unknown")
    del payload["shipping_address"]
    canonical = FieldMap.compile(ORDER_SPEC, Order).apply(payload)
    assert canonical["currency"] == "CNY"
    assert canonical["status"] == "open"
    assert "ship_to" not in canonical
    assert canonical["lines"][1] == {
        "sku": "IPOD2008RED",
        "qty": 2,
        "unit_price": Decimal("199.97"),
        "external_line_id": "518995019",
        "description": "IPod Nano",
    }


def test_stock_with_nested_path_default_and_tz() -> None:
    fieldmap = FieldMap.compile(STOCK_SPEC, StockLevel)
    record = fieldmap.to_record({"item": {"code": " A-1 "}, "qty": "7", "modified": "2024-05-01 10:00:00"})
    assert record == StockLevel(
        sku="A-1", location="MAIN", on_hand=7, as_of=datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
    )


def test_richer_jmespath_expressions_work() -> None:
    spec = {
        "sku": "codes[0]",
        "name": "join(' ', [brand, title])",
        "barcode": "barcodes[?primary].code | [0]",
    }
    record = FieldMap.compile(spec, Product).to_record(
        {
            "codes": ["P-1"],
            "brand": "Acme",
            "title": "Kettle",
            "barcodes": [{"code": "1", "primary": False}, {"code": "690123", "primary": True}],
        }
    )
    assert record == Product(sku="P-1", name="Acme Kettle", barcode="690123")


def test_missing_required_line_field_names_field_and_path() -> None:
    payload = order()
    del payload["line_items"][0]["quantity"]
    with pytest.raises(RecordError) as caught:
        FieldMap.compile(ORDER_SPEC, Order).to_record(payload)
    assert caught.value.code == "missing_field"
    assert caught.value.field == "lines[0].qty"
    assert caught.value.message == 'lines[0].qty: field required (path "line_items[0].quantity" gave nothing)'


def test_missing_top_level_field() -> None:
    with pytest.raises(RecordError) as caught:
        FieldMap.compile(ORDER_SPEC, Order).to_record(order(id=None))
    assert caught.value.code == "missing_field"
    assert caught.value.field == "external_id"
    assert 'path "id" gave nothing' in caught.value.message


def test_required_flag_refuses_optional_field_without_value() -> None:
    spec = {**STOCK_SPEC, "as_of": {"path": "modified", "convert": ["datetime"], "required": True}}
    with pytest.raises(RecordError) as caught:
        FieldMap.compile(spec, StockLevel).apply({"item": {"code": "A"}, "qty": 1})
    assert caught.value.code == "missing_field"
    assert caught.value.message == 'as_of: field required (path "modified" gave nothing)'


def test_converter_failure_names_field_value_and_converter() -> None:
    payload = order()
    payload["line_items"][1]["quantity"] = "2.5"
    with pytest.raises(RecordError) as caught:
        FieldMap.compile(ORDER_SPEC, Order).to_record(payload)
    assert caught.value.code == "invalid"
    assert caught.value.field == "lines[1].qty"
    assert caught.value.message == "lines[1].qty: int cannot convert '2.5': not a whole number"


def test_converter_failure_truncates_long_values() -> None:
    with pytest.raises(RecordError) as caught:
        FieldMap.compile(STOCK_SPEC, StockLevel).apply({"item": {"code": "A"}, "qty": "x" * 500})
    value = caught.value.message.split("cannot convert ")[1].split(": not a number")[0]
    assert len(value) == 80
    assert value.endswith("…")


def test_model_validation_error_names_field_value_and_path() -> None:
    payload = order()
    payload["line_items"][0]["quantity"] = 0
    with pytest.raises(RecordError) as caught:
        FieldMap.compile(ORDER_SPEC, Order).to_record(payload)
    assert caught.value.code == "invalid"
    assert caught.value.field == "lines[0].qty"
    assert caught.value.message == (
        'lines[0].qty: input should be greater than 0 (got 0 from path "line_items[0].quantity")'
    )


def test_naive_datetime_without_tz_is_refused_with_a_hint() -> None:
    spec = {**STOCK_SPEC, "as_of": {"path": "modified", "convert": ["datetime"]}}
    with pytest.raises(RecordError) as caught:
        FieldMap.compile(spec, StockLevel).to_record(
            {"item": {"code": "A"}, "qty": 1, "modified": "2024-05-01"}
        )
    assert caught.value.field == "as_of"
    assert "add a tz converter" in caught.value.message


def test_lines_that_are_not_a_list() -> None:
    with pytest.raises(RecordError) as caught:
        FieldMap.compile(ORDER_SPEC, Order).apply(order(line_items={"sku": "A"}))
    assert caught.value.field == "lines"
    assert 'path "line_items" gave dict, not a list' in caught.value.message


def test_empty_lines_are_refused() -> None:
    with pytest.raises(RecordError) as caught:
        FieldMap.compile(ORDER_SPEC, Order).to_record(order(line_items=[]))
    assert caught.value.field == "lines"
    assert "at least 1 item" in caught.value.message


def test_fields_without_path_read_from_the_root() -> None:
    spec = {**ORDER_SPEC, "ship_to": {"fields": {"name": "shipping_address.name", "country": "ship_country"}}}
    record = FieldMap.compile(spec, Order).to_record(order(ship_country="CN"))
    assert isinstance(record, Order)
    assert record.ship_to == Address(name="Bob Norman", country="CN")


# -- compile-time errors ----------------------------------------------------------------------


def compile_error(spec: dict[str, Any], record_type: Any = StockLevel) -> str:
    with pytest.raises(ValueError) as caught:  # noqa: PT011 - the message is checked by the callers
        FieldMap.compile(spec, record_type)
    return str(caught.value)


def test_invalid_jmespath_names_the_field() -> None:
    message = compile_error({**STOCK_SPEC, "sku": "item.[code"})
    assert message.startswith("sku: invalid JMESPath 'item.[code'")
    assert "on_hand" not in message


def test_unknown_jmespath_function_is_a_compile_error() -> None:
    message = compile_error({**STOCK_SPEC, "on_hand": {"path": "to_int(qty)"}})
    assert message == "on_hand: invalid JMESPath 'to_int(qty)': unknown function(s) to_int"


def test_unknown_field_names_the_field() -> None:
    message = compile_error({**STOCK_SPEC, "quantity": "qty"})
    assert message.startswith("quantity: StockLevel has no such field (known: sku, location, on_hand, as_of)")


def test_unknown_nested_field_names_the_full_path() -> None:
    spec = {
        **ORDER_SPEC,
        "lines": {"path": "line_items", "each": {"sku": "sku", "qty": "quantity", "price": "p"}},
    }
    assert compile_error(spec, Order).startswith("lines.price: OrderLine has no such field")


def test_every_problem_is_reported_at_once() -> None:
    spec = {"sku": "a[", "on_hand": {"path": "q", "convert": ["integer"]}, "qty": "q"}
    lines = compile_error(spec).splitlines()
    assert [line.split(":")[0] for line in lines] == ["sku", "on_hand", "qty", "location"]
    assert "unknown converter 'integer'" in lines[1]
    assert lines[3] == "location: required by StockLevel but not mapped"


@pytest.mark.parametrize(
    ("field", "spec", "message"),
    [
        ("sku", {"path": "a", "convert": "nope"}, "sku: unknown converter 'nope'"),
        ("sku", {"const": "A", "path": "x"}, "sku: const takes no other keys"),
        ("sku", {"path": "a", "fields": {}}, "sku: is not a sub-record"),
        ("sku", {"convert": ["int"]}, "sku: needs path, const, fields or each"),
        ("sku", {"path": "a", "requierd": True}, "sku: unknown key(s) requierd"),
        ("sku", {"path": "a", "required": "yes"}, "sku: required must be true or false"),
        ("sku", 5, "sku: expected a JMESPath string or a mapping"),
    ],
)
def test_bad_field_specs(field: str, spec: Any, message: str) -> None:
    assert compile_error({**STOCK_SPEC, field: spec}).startswith(message)


def test_each_and_fields_must_match_the_model() -> None:
    assert compile_error(
        {**ORDER_SPEC, "lines": {"path": "line_items", "fields": {"sku": "sku"}}}, Order
    ) == ("lines: use each (a list of records)")
    assert compile_error({**ORDER_SPEC, "ship_to": {"path": "a", "each": {}}}, Order) == (
        "ship_to: use fields (one record)"
    )
    assert compile_error({**ORDER_SPEC, "lines": {"each": {"sku": "sku", "qty": "q"}}}, Order) == (
        "lines: each needs a path to the list"
    )


def test_sub_record_required_fields_are_checked() -> None:
    spec = {**ORDER_SPEC, "lines": {"path": "line_items", "each": {"sku": "sku"}}}
    assert compile_error(spec, Order) == "lines.qty: required by OrderLine but not mapped"


def test_a_failed_only_line_reports_the_line_not_the_empty_list() -> None:
    payload = order(line_items=[{"id": 1, "sku": "A", "price": "1"}])
    with pytest.raises(RecordError) as caught:
        FieldMap.compile(ORDER_SPEC, Order).to_record(payload)
    assert caught.value.message == 'lines[0].qty: field required (path "line_items[0].quantity" gave nothing)'


def test_several_model_errors_are_listed_together() -> None:
    payload = order(id=None, financial_status=None)
    payload["line_items"][0]["sku"] = ""
    spec = {**ORDER_SPEC, "status": "financial_status"}
    with pytest.raises(RecordError) as caught:
        FieldMap.compile(spec, Order).to_record(payload)
    parts = caught.value.message.split("; ")
    assert [part.split(":")[0] for part in parts] == ["external_id", "status", "lines[0].sku"]
    assert caught.value.field == "external_id"


def test_plain_paths_through_non_objects_give_nothing() -> None:
    fieldmap = FieldMap.compile(STOCK_SPEC, StockLevel)
    with pytest.raises(RecordError) as caught:
        fieldmap.to_record({"item": ["code"], "qty": 1})
    assert caught.value.message == 'sku: field required (path "item.code" gave nothing)'
