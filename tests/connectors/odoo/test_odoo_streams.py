"""OdooConnector reads over faked JSON-RPC: keyset paging, cursors, stock totals, contract checks.

Payloads follow the Odoo documentation (see README.md): JSON-RPC envelopes of
``external_api.rst`` (Odoo ≤ 18 "External API", ``execute_kw`` with positional domain and keyword
``fields``/``order``/``limit``), many2one values as ``[id, "display name"]``, datetimes as UTC
``YYYY-MM-DD HH:MM:SS``; ``stock.location`` is named by ``complete_name`` (its ``_rec_name`` in
the stock module's source).
"""

from __future__ import annotations

import pytest
import responses

from core.errors import PermanentError
from mapping.fieldmap import FieldMap
from mapping.records import Product, StockLevel
from tests.connectors.contract import check_error_mapping, check_stream, status_everywhere
from tests.connectors.odoo.fake import BASE, KEY, connector, execute_kw, serve

STOCK_PAGE_1 = ("quants_changed_page1", "quants_current_page1", "codes_page1")
STOCK_PAGE_2 = ("quants_changed_page2", "quants_current_page2", "codes_page2")
KEYSET = ["|", ["write_date", ">", "2026-05-01 08:00:00"], "&", ["write_date", "=", "2026-05-01 08:00:00"]]


@responses.activate
def test_products_page_by_write_date_keyset_and_carry_the_cursor() -> None:
    serve("authenticate", "products_page1", "products_page2")

    pages = list(connector().fetch("products", None))

    assert [len(p.records) for p in pages] == [2, 1]
    assert [(p.cursor, p.last) for p in pages] == [
        ("2026-05-01 08:00:00", False),
        ("2026-05-01 09:30:00", True),
    ]
    first = execute_kw(1)
    assert first[:5] == ["prod", 7, KEY, "product.product", "search_read"]
    assert first[5] == [[["active", "in", [True, False]]]]
    assert first[6] == {
        "fields": ["default_code", "name", "uom_id", "barcode", "categ_id", "active", "write_date"],
        "order": "write_date asc, id asc",
        "limit": 2,
    }
    assert execute_kw(2)[5][0][1:] == [*KEYSET, ["id", ">", 12]]
    assert len(responses.calls) == 3


@responses.activate
def test_product_records_are_flat() -> None:
    serve("authenticate", "products_page1", "products_page2")

    desk, chair, lamp = [r for page in connector().fetch("products", None) for r in page.records]

    assert (desk["uom_id"], desk["uom_id_name"]) == (1, "Units")
    assert desk["categ_id_name"] == "All / Saleable"
    assert chair["barcode"] is None  # Odoo's false for an empty field
    assert lamp["active"] is False
    assert lamp["categ_id"] is None


@responses.activate
def test_a_saved_cursor_becomes_an_inclusive_write_date_filter() -> None:
    serve("authenticate", "products_run2")

    pages = list(connector().fetch("products", "2026-05-01T09:30:00"))

    assert execute_kw(1)[5] == [
        [["active", "in", [True, False]], ["write_date", ">=", "2026-05-01 09:30:00"]]
    ]
    assert pages[0].cursor == "2026-05-02 10:00:00"


@responses.activate
def test_paging_refuses_the_same_last_record_twice() -> None:
    serve("authenticate", "products_page1", "products_page1", "products_page1")

    with pytest.raises(
        PermanentError, match=r"page 2 \(after write_date .*\) holds the same records as page 1"
    ):
        list(connector().fetch("products", None))


@responses.activate
def test_stock_sums_lots_per_sku_and_location_of_the_touched_pairs() -> None:
    serve("authenticate", *STOCK_PAGE_1, *STOCK_PAGE_2)

    pages = list(connector().fetch("stock", None))

    assert pages[0].records == [
        {"sku": "SKU-1", "product_id": 11, "location": "WH/Stock", "quantity": 8, "reserved_quantity": 1,
         "write_date": "2026-05-01 10:00:00", "quants": 2},
        {"sku": "SKU-2", "product_id": 12, "location": "WH/Stock", "quantity": 4, "reserved_quantity": 0,
         "write_date": "2026-05-01 10:05:00", "quants": 1},
    ]  # fmt: skip
    assert [(p.cursor, p.last) for p in pages] == [
        ("2026-05-01 10:05:00", False),
        ("2026-05-01 11:00:00", True),
    ]
    reread = execute_kw(2)
    assert reread[3:6] == [
        "stock.quant",
        "search_read",
        [[["location_id.usage", "=", "internal"], ["product_id", "in", [11, 12]]]],
    ]
    assert execute_kw(3)[3:6] == ["product.product", "read", [[11, 12]]]


@responses.activate
def test_a_touched_pair_without_quants_left_reads_zero() -> None:
    serve("authenticate", *STOCK_PAGE_1, *STOCK_PAGE_2)

    last = list(connector().fetch("stock", None))[-1]

    assert last.records == [
        {"sku": "SKU-3", "product_id": 13, "location": "WH/Stock", "quantity": 0, "reserved_quantity": 0,
         "write_date": None, "quants": 0}
    ]  # fmt: skip


@responses.activate
def test_locations_table_renames_and_selects() -> None:
    serve("authenticate", *STOCK_PAGE_1, *STOCK_PAGE_2)

    pages = list(connector(locations={"8": "WH1"}).fetch("stock", None))

    assert {(r["sku"], r["location"]) for p in pages for r in p.records} == {
        ("SKU-1", "WH1"),
        ("SKU-2", "WH1"),
        ("SKU-3", "WH1"),
    }
    responses.reset()
    serve("authenticate", "quants_changed_page1", "quants_changed_page2")
    pages = list(connector(locations={"WH/Stock/Shelf 1": "SHELF"}).fetch("stock", None))
    assert [p.records for p in pages] == [[], []]  # WH/Stock is not in the table: left out, not re-read
    assert len(responses.calls) == 3


@responses.activate
def test_stock_snapshot_reads_from_scratch_without_a_cursor() -> None:
    serve("authenticate", *STOCK_PAGE_1, *STOCK_PAGE_2)

    pages = list(connector().fetch("stock_snapshot", "2026-05-01 10:00:00"))

    assert execute_kw(1)[5] == [[["location_id.usage", "=", "internal"]]]
    assert [p.cursor for p in pages] == [None, None]
    assert connector().streams["stock"].snapshot
    assert connector().streams["stock_snapshot"].snapshot


@responses.activate
def test_contract_products_and_stock() -> None:
    odoo = connector()

    def products(run: int, cursor: str | None) -> None:
        serve(*(["authenticate", "products_page1", "products_page2"] if run == 0 else ["products_run2"]))

    def stock(run: int, cursor: str | None) -> None:
        serve(
            *(
                [*STOCK_PAGE_1, *STOCK_PAGE_2]
                if run == 0
                else ["quants_changed_run2", "quants_current_run2", "codes_run2"]
            )
        )

    runs = check_stream(odoo, "products", products)
    assert runs[1][0].cursor == "2026-05-02 10:00:00"
    check_stream(odoo, "stock", stock)
    assert execute_kw(-3)[5][0][1] == ["write_date", ">=", "2026-05-01 11:00:00"]
    check_error_mapping(connector(), "products", status_everywhere(BASE))
    check_error_mapping(connector(protocol="json2"), "stock", status_everywhere(BASE))


def test_default_mappings_map_the_flat_records() -> None:
    product = FieldMap.compile(connector().default_mappings["products"], Product)
    stock = FieldMap.compile(connector().default_mappings["stock"], StockLevel)
    raw = {"default_code": "SKU-1", "name": "Office Desk", "uom_id_name": "Units", "barcode": None,
           "categ_id_name": "All / Saleable", "active": False}  # fmt: skip

    assert product.to_record(raw) == Product(
        sku="SKU-1", name="Office Desk", uom="Units", category="All / Saleable", active=False
    )
    assert stock.to_record({"sku": "SKU-1", "location": "WH1", "quantity": 8.0}) == StockLevel(
        sku="SKU-1", location="WH1", on_hand=8
    )
