"""OdooConnector calls over faked HTTP: login, error classification, sales orders, JSON-2.

Shapes follow the Odoo documentation (see README.md): the JSON-RPC error member of
``serialize_exception`` (``error.data.name`` is the exception's qualified name), ``create``
answering the new ids for a list of values, and for Odoo 19 the "External JSON-2 API" page
(``external_api.rst``): ``POST /json/2/<model>/<method>``, ``Authorization: bearer``,
``X-Odoo-Database``, named arguments with record ``ids``, 4xx/5xx error bodies such as the
documented ``401 Invalid apikey``, and ``res.users/context_get`` for the calling user.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
import responses
from pydantic import ValidationError

from connectors.base import SalesDoc, SalesDocLine, SalesOrderSink
from core.errors import AuthError, ConnectorError, PermanentError, RetriableError
from tests.connectors.odoo.fake import BASE, KEY, body, connector, execute_kw, fixture, serve

DOC = SalesDoc(
    ref="shop/1001",
    customer=None,
    currency="CNY",
    lines=(SalesDocLine("SKU-1", 2, "199.00"), SalesDocLine("SKU-2", 1, "89.50")),
)


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("error_access_error", AuthError),
        ("error_access_denied", AuthError),
        ("error_validation", PermanentError),
        ("error_user_error", PermanentError),
        ("error_missing", PermanentError),
        ("error_serialization", RetriableError),
    ],
)
@responses.activate
def test_rpc_errors_are_classified_by_data_name(reply: str, error: type[ConnectorError]) -> None:
    serve("authenticate", reply)

    with pytest.raises(error) as caught:
        list(connector().fetch("stock", None))

    name = fixture(reply)["error"]["data"]["name"]
    assert name in str(caught.value)
    assert "Traceback" not in str(caught.value)
    assert (caught.value.connector, caught.value.stream) == ("odoo", "stock")


@responses.activate
def test_check_authenticates_and_a_false_uid_is_an_auth_error() -> None:
    serve("authenticate")
    connector().check()
    assert body(0)["params"] == {
        "service": "common",
        "method": "authenticate",
        "args": ["prod", "bot@example.com", KEY, {}],
    }

    responses.reset()
    serve("authenticate_refused")
    with pytest.raises(AuthError, match=r"refused login 'bot@example\.com'"):
        connector().check()


@responses.activate
def test_the_api_key_never_shows_in_an_error() -> None:
    responses.post(f"{BASE}/jsonrpc", status=400, body=f"bad request for key {KEY}")

    with pytest.raises(PermanentError) as caught:
        connector().check()

    assert KEY not in str(caught.value)


@responses.activate
def test_sales_order_already_made_for_the_ref_is_returned() -> None:
    serve("authenticate", "sale_search_found")

    assert connector(create_sales=True, partner_id=9).create_sales_order(DOC) == "42"

    assert execute_kw(1)[3:] == [
        "sale.order",
        "search",
        [[["client_order_ref", "=", "shop/1001"]]],
        {"limit": 1},
    ]
    assert len(responses.calls) == 2


@responses.activate
def test_sales_order_is_created_with_one_line_per_doc_line() -> None:
    serve("authenticate", "sale_search_none", "sale_products", "sale_create")

    odoo = connector(create_sales=True, partner_id=9)
    assert isinstance(odoo, SalesOrderSink)
    assert odoo.create_sales_order(DOC) == "57"

    assert execute_kw(2)[5] == [[["default_code", "in", ["SKU-1", "SKU-2"]]]]
    model, method, args, kwargs = execute_kw(3)[3:]
    assert (model, method, kwargs) == ("sale.order", "create", {})
    assert args == [
        [
            {
                "partner_id": 9,
                "client_order_ref": "shop/1001",
                "order_line": [
                    [0, 0, {"product_id": 11, "product_uom_qty": 2, "price_unit": 199.0}],
                    [0, 0, {"product_id": 12, "product_uom_qty": 1, "price_unit": float(Decimal("89.50"))}],
                ],
            }
        ]
    ]


@responses.activate
def test_sales_order_with_an_unknown_sku_is_permanent_and_names_it() -> None:
    serve("authenticate", "sale_search_none", "sale_products_partial")

    with pytest.raises(PermanentError, match="SKU-2") as caught:
        connector(create_sales=True, partner_id=9).create_sales_order(DOC)

    assert caught.value.external_id == "shop/1001"
    assert len(responses.calls) == 3  # nothing created


def test_sales_orders_need_the_setting_and_a_partner() -> None:
    with pytest.raises(PermanentError, match="creating sales orders is off"):
        connector().create_sales_order(DOC)
    with pytest.raises(ValidationError, match="create_sales needs partner_id"):
        connector(create_sales=True)


@responses.activate
def test_json2_sends_named_arguments_with_the_bearer_key() -> None:
    responses.post(f"{BASE}/json/2/product.product/search_read", json=fixture("json2_products"))

    pages = list(connector(protocol="json2").fetch("products", "2026-05-01 00:00:00"))

    assert pages[0].records[0]["default_code"] == "SKU-1"
    request = responses.calls[0].request
    assert request.headers["Authorization"] == f"bearer {KEY}"
    assert request.headers["X-Odoo-Database"] == "prod"
    assert body(0) == {
        "domain": [["active", "in", [True, False]], ["write_date", ">=", "2026-05-01 00:00:00"]],
        "fields": ["default_code", "name", "uom_id", "barcode", "categ_id", "active", "write_date"],
        "order": "write_date asc, id asc",
        "limit": 2,
    }


@responses.activate
def test_json2_reads_record_ids_and_checks_with_context_get() -> None:
    responses.post(f"{BASE}/json/2/res.users/context_get", json=fixture("json2_context"))
    connector(protocol="json2").check()
    assert body(0) == {}

    responses.post(f"{BASE}/json/2/stock.quant/search_read", json=fixture("quants_changed_page2")["result"])
    responses.post(f"{BASE}/json/2/stock.quant/search_read", json=[])
    responses.post(f"{BASE}/json/2/product.product/read", json=fixture("codes_page2")["result"])
    pages = list(connector(protocol="json2").fetch("stock", None))

    assert pages[0].records[0]["sku"] == "SKU-3"
    assert body(3) == {"ids": [13], "fields": ["default_code"]}


@responses.activate
def test_json2_401_is_an_auth_error() -> None:
    responses.post(f"{BASE}/json/2/res.users/context_get", status=401, json=fixture("json2_unauthorized"))

    with pytest.raises(AuthError, match="Invalid apikey"):
        connector(protocol="json2").check()
