"""KingdeeConnector reads and writes over faked WebAPI: paging, lot sums, errors, idempotent Save.

Payloads follow ``shared/docs/channel-protocols.md`` §1 (see README.md): ExecuteBillQuery
bodies ``{"data": {...}}`` answered by rows in ``FieldKeys`` order (§1 "(a) Read stock"), paging by
``StartRow``/``Limit`` to a short page, the failure envelope ``Result.ResponseStatus`` wrapped as
``[[…]]`` for ExecuteBillQuery with MsgCodes 1/4/8/9 (§1 "Errors and throttling"), and the Save
success ``SuccessEntitys[0].Id``.
"""

from __future__ import annotations

import pytest
import responses

from connectors.base import SalesDoc, SalesDocLine
from core.errors import PermanentError, RetriableError
from mapping.fieldmap import FieldMap
from mapping.records import Product, StockLevel
from tests.connectors.contract import check_error_mapping, check_stream, status_everywhere
from tests.connectors.kingdee.fake import BASE, LOGIN, QUERY, SAVE, body, connector, query_data, serve

STOCK_KEYS = "FMaterialId.FNumber,FStockId.FNumber,FStockOrgId.FNumber,FLot.FNumber,FBaseQty"
DOC = SalesDoc("shop/10'01", None, "CNY", (SalesDocLine("MAT001", 2, "199.00"),))


@responses.activate
def test_stock_pages_by_startrow_to_a_short_page_and_sums_lots_across_pages() -> None:
    serve(QUERY, "stock_page1", "stock_page2")

    pages = list(connector().fetch("stock", None))

    assert [p.last for p in pages] == [True]
    assert pages[0].cursor is None
    assert sorted(pages[0].records, key=lambda r: (r["sku"], r["location"])) == [
        {"sku": "MAT001", "location": "CK01", "stock": "CK01", "qty": 30, "lots": 2},
        {"sku": "MAT001", "location": "CK02", "stock": "CK02", "qty": 12, "lots": 1},
        {"sku": "MAT002", "location": "CK01", "stock": "CK01", "qty": 10.5, "lots": 2},
    ]
    first, second = query_data(0), query_data(1)
    assert first == {
        "FormId": "STK_Inventory",
        "FieldKeys": STOCK_KEYS,
        "FilterString": "FBaseQty <> 0 and FStockOrgId.FNumber = '100'",
        "OrderString": "FMaterialId.FNumber ASC, FStockId.FNumber ASC, FLot.FNumber ASC",
        "TopRowCount": 0,
        "StartRow": 0,
        "Limit": 3,
    }
    assert (second["StartRow"], second["Limit"]) == (3, 3)
    assert len(responses.calls) == 2


@responses.activate
def test_stock_is_emitted_in_pages_with_only_the_final_one_last() -> None:
    responses.post(QUERY, json=[["A", "CK01", "100", "", 1.0], ["B", "CK01", "100", "", 2.0]])
    responses.post(QUERY, json=[["C", "CK01", "100", "", 3.0]])

    pages = list(connector(page_size=2).fetch("stock", None))

    assert [(len(p.records), p.last) for p in pages] == [(2, False), (1, True)]


@responses.activate
def test_empty_inventory_is_one_empty_last_page() -> None:
    serve(QUERY, "sale_query_none")

    assert [(p.records, p.last) for p in connector().fetch("stock", None)] == [([], True)]


@responses.activate
def test_warehouses_table_maps_by_stock_or_org_and_stock_and_leaves_out_the_rest() -> None:
    serve(QUERY, "stock_page1", "stock_page2")
    kd = connector(warehouses={"100/CK01": "WH1"}, stock_filter="FStockStatusId.FNumber = 'KCZT01_SYS'")

    records = [r for p in kd.fetch("stock", None) for r in p.records]

    assert {(r["sku"], r["location"]) for r in records} == {("MAT001", "WH1"), ("MAT002", "WH1")}
    assert query_data(0)["FilterString"].endswith(" and (FStockStatusId.FNumber = 'KCZT01_SYS')")


@responses.activate
def test_products_page_by_modify_date_and_carry_the_cursor() -> None:
    serve(QUERY, "products_page1", "products_page2")

    pages = list(connector(page_size=2).fetch("products", None))

    assert [(p.cursor, p.last) for p in pages] == [
        ("2026-05-01T09:00:00", False),
        ("2026-05-01T10:00:00", True),
    ]
    assert pages[0].records[0] == {
        "FNumber": "MAT001",
        "FName": "办公桌",
        "FBaseUnitId_FNumber": "Pcs",
        "FModifyDate": "2026-05-01T08:00:00.57",
        "FMATERIALID": 100101,
    }
    first = query_data(0)
    assert first["FieldKeys"] == "FNumber,FName,FBaseUnitId.FNumber,FModifyDate,FMATERIALID"
    assert first["OrderString"] == "FModifyDate ASC, FMATERIALID ASC"
    assert first["FilterString"] == "FUseOrgId.FNumber = '100'"
    assert query_data(1)["StartRow"] == 2


@responses.activate
def test_a_saved_cursor_becomes_an_inclusive_modify_date_filter() -> None:
    serve(QUERY, "products_run2")

    list(connector(org_number=None).fetch("products", "2026-05-01T09:00:00.570000"))

    assert query_data(0)["FilterString"] == "FModifyDate >= '2026-05-01T09:00:00.570'"


def test_a_cursor_that_is_no_date_is_permanent() -> None:
    with pytest.raises(PermanentError, match="not a date-time"):
        list(connector().fetch("products", "page-2"))


@pytest.mark.parametrize(
    ("reply", "said"), [("error_msgcode9", "FNoSuchField"), ("error_msgcode4", "STK_NoSuchForm")]
)
@responses.activate
def test_wrapped_query_failures_are_permanent_and_quote_kingdee(reply: str, said: str) -> None:
    serve(QUERY, reply)

    with pytest.raises(PermanentError, match=said) as caught:
        list(connector().fetch("stock", None))

    assert (caught.value.connector, caught.value.stream) == ("kingdee", "stock")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("response_error:System.TimeoutException: 操作超时", RetriableError),
        ("response_error:Object reference not set to an instance of an object.", PermanentError),
    ],
)
@responses.activate
def test_response_error_bodies(text: str, error: type[Exception]) -> None:
    responses.post(QUERY, body=text)

    with pytest.raises(error, match="ExecuteBillQuery failed"):
        list(connector().fetch("stock", None))


@responses.activate
def test_save_is_skipped_when_an_order_already_carries_the_ref() -> None:
    serve(QUERY, "sale_query_found")

    kd = connector(create_sales=True, customer_number="CUST0001")
    assert kd.create_sales_order(DOC) == "100230"

    assert query_data(0)["FilterString"] == "FNote = 'shop/10''01'"
    assert (query_data(0)["FormId"], query_data(0)["FieldKeys"]) == ("SAL_SaleOrder", "FID")
    assert len(responses.calls) == 1


@responses.activate
def test_save_creates_the_order_with_the_ref_and_answers_its_id() -> None:
    serve(QUERY, "sale_query_none")
    serve(SAVE, "save_ok")

    kd = connector(create_sales=True, customer_number="CUST0001", ref_field="F_PAEZ_Ref")
    assert kd.create_sales_order(DOC) == "100234"

    sent = body(1)
    assert sent["formid"] == "SAL_SaleOrder"
    model = sent["data"]["Model"]
    assert model["F_PAEZ_Ref"] == "shop/10'01"
    assert (model["FCustId"], model["FSaleOrgId"]) == ({"FNumber": "CUST0001"}, {"FNumber": "100"})
    assert model["FSaleOrderEntry"] == [{"FMaterialId": {"FNumber": "MAT001"}, "FQty": 2, "FTaxPrice": 199.0}]


@responses.activate
def test_a_refused_save_is_permanent_names_the_field_and_the_order() -> None:
    serve(QUERY, "sale_query_none")
    serve(SAVE, "save_unknown_field")

    with pytest.raises(PermanentError, match="F_PAEZ_Ref: 元数据中标识为F_PAEZ_Ref的字段不存在") as caught:
        connector(create_sales=True, customer_number="C1", ref_field="F_PAEZ_Ref").create_sales_order(DOC)

    assert caught.value.external_id == "shop/10'01"


def test_sales_orders_need_the_setting() -> None:
    with pytest.raises(PermanentError, match="creating sales orders is off"):
        connector().create_sales_order(DOC)


@responses.activate
def test_contract_products_and_stock_signed_and_session() -> None:
    kd = connector(page_size=2)

    def products(run: int, cursor: str | None) -> None:
        serve(QUERY, *(["products_page1", "products_page2"] if run == 0 else ["products_run2"]))

    def stock(run: int, cursor: str | None) -> None:
        responses.reset()
        serve(QUERY, "stock_page2", "sale_query_none")

    runs = check_stream(kd, "products", products)
    assert runs[1][0].cursor == "2026-05-02T10:00:00"
    assert (
        query_data(2)["FilterString"] == "FUseOrgId.FNumber = '100' and FModifyDate >= '2026-05-01T10:00:00'"
    )
    check_stream(kd, "stock", stock)
    check_error_mapping(connector(), "stock", status_everywhere(BASE))
    check_error_mapping(connector(auth="session"), "products", status_everywhere(BASE))


@responses.activate
def test_check_runs_a_one_row_query() -> None:
    serve(LOGIN, "login_ok")
    serve(QUERY, "sale_query_none")

    connector(auth="session").check()

    sent = query_data(1)
    assert (sent["FormId"], sent["FieldKeys"], sent["FilterString"], sent["Limit"]) == (
        "BD_MATERIAL",
        "FNumber",
        "",
        1,
    )


def test_default_mappings_map_the_flat_records() -> None:
    product = FieldMap.compile(connector().default_mappings["products"], Product)
    stock = FieldMap.compile(connector().default_mappings["stock"], StockLevel)

    raw = {"FNumber": "MAT001", "FName": "办公桌", "FBaseUnitId_FNumber": "Pcs", "FModifyDate": None}
    assert product.to_record(raw) == Product(sku="MAT001", name="办公桌", uom="Pcs")
    assert stock.to_record({"sku": "MAT001", "location": "WH1", "qty": 30}) == StockLevel(
        sku="MAT001", location="WH1", on_hand=30
    )
