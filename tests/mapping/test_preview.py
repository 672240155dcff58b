"""Mapping preview rows and loading sample payload files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mapping.fieldmap import FieldMap
from mapping.pipeline import Mapper, record_key
from mapping.preview import PreviewRow, load_sample, preview
from mapping.records import Order
from mapping.skus import Binder, SkuBinding
from tests.mapping.shopify import ORDER_SPEC, order


def key_of(raw: dict[str, Any]) -> str:
    return record_key(raw, ("id",))


def test_preview_rows_for_good_and_bad_records() -> None:
    binding = SkuBinding("shopify", "IPOD2008GREEN", "IPOD-G")
    binder = Binder("shopify", {"IPOD2008GREEN": binding}, "bound")
    mapper = Mapper(Order, FieldMap.compile(ORDER_SPEC, Order), binder)
    good = order(line_items=[{"id": 1, "sku": "IPOD2008GREEN", "quantity": 3, "price": "9.50"}])
    no_status_map = order(id=2, line_items=[{"id": 2, "sku": "IPOD2008GREEN", "price": "1"}])
    unmapped = order(id=3)

    rows = preview([good, no_status_map, unmapped], mapper, key_of)

    assert [(row.key, row.ok) for row in rows] == [("450789469", True), ("2", False), ("3", False)]
    record = rows[0].record
    assert record is not None
    assert record["lines"] == [
        {"sku": "IPOD-G", "qty": 3, "unit_price": "9.50", "external_line_id": "1", "description": None}
    ]
    assert record["updated_at"] == "2008-01-10T16:00:00Z"
    assert rows[0].reason is None
    assert rows[1] == PreviewRow(
        "2",
        False,
        None,
        'missing_field: lines[0].qty: field required (path "line_items[0].quantity" gave nothing)',
    )
    assert rows[2].reason == (
        "unmapped_sku: no SKU binding for shopify:IPOD2008RED; "
        "add it with `erpsync mapping import-skus` or in the config"
    )


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "payload.json"
    path.write_text(json.dumps(data))
    return path


def test_load_sample_list(tmp_path: Path) -> None:
    assert load_sample(write(tmp_path, [{"id": 1}, {"id": 2}])) == [{"id": 1}, {"id": 2}]


def test_load_sample_with_record_path(tmp_path: Path) -> None:
    path = write(tmp_path, {"data": {"items": [{"id": 1}]}, "page": 1})
    assert load_sample(path, "data.items") == [{"id": 1}]


def test_load_sample_finds_the_single_list_and_takes_one_object(tmp_path: Path) -> None:
    assert load_sample(write(tmp_path, {"orders": [{"id": 1}]})) == [{"id": 1}]
    assert load_sample(write(tmp_path, {"id": 1, "line_items": []})) == [{"id": 1, "line_items": []}]


def test_load_sample_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": 1},]')
    with pytest.raises(ValueError, match=r"bad\.json:1:12: not valid JSON: Expecting value"):
        load_sample(bad)
    with pytest.raises(ValueError, match=r"missing\.json: cannot read the sample"):
        load_sample(tmp_path / "missing.json")
    path = write(tmp_path, {"data": [1, 2]})
    with pytest.raises(ValueError, match=r"payload\.json: record 0 from record_path 'data' is a int"):
        load_sample(path, "data")
    with pytest.raises(ValueError, match=r"payload\.json: record_path 'nope' gave nothing"):
        load_sample(path, "nope")
    with pytest.raises(ValueError, match=r"payload\.json: record_path 'data\[' is not valid JMESPath"):
        load_sample(path, "data[")
