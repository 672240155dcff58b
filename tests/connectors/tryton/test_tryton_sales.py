"""Sales orders erpsync makes in a real Tryton: warehouse, addresses, quoting and confirming.

Tryton refuses to quote a sale without an invoice address, a shipment address and a warehouse;
these tests make sales through the connector and then drive Tryton's own buttons over RPC.
Tryton runs a confirmed sale's processing at once (the test server has no queue worker), so a
confirmed sale is seen as ``processing``, with the customer shipment and invoice that only a
confirmed sale gets.
"""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from connectors.base import SalesDoc, SalesDocLine
from connectors.tryton import TrytonConnector, TrytonSettings
from core.errors import PermanentError
from tests.connectors.tryton.conftest import Tryton

pytestmark = pytest.mark.tryton

LOCATIONS = {"WH": "WH1", "WH2": "SOUTH"}
SHIP_TO = {
    "name": "张三",
    "phone": "13800138000",
    "country": "CN",
    "province": "广东省",
    "city": "广州市",
    "district": "天河区",
    "street": "体育西路 1 号",
    "postal_code": "510000",
}
SALE_FIELDS = ["state", "warehouse", "shipment_address", "invoice_address", "shipments", "invoices"]


def connector(tryton: Tryton, **sale: Any) -> TrytonConnector:
    settings = {"create_sales": True, "customer_party": tryton.ids["customer"]} | sale
    raw = tryton.settings(location_map=LOCATIONS, sale=settings)
    return TrytonConnector("tryton", TrytonSettings.model_validate(raw))


def doc(ref: str, location: str | None, ship_to: dict[str, str] | None = None) -> SalesDoc:
    lines = (SalesDocLine("WID-1", 1, "9.90"),)
    return SalesDoc(ref, None, "CNY", lines, SHIP_TO if ship_to is None else ship_to, location)


def sale(tryton: Tryton, sale_id: str) -> dict[str, Any]:
    (row,) = tryton.rpc("sale.sale.read", [int(sale_id)], SALE_FIELDS)
    return dict(row)


def test_a_sale_has_the_routed_warehouse_and_the_ship_to_and_tryton_quotes_and_confirms_it(
    tryton: Tryton,
) -> None:
    with capture_logs() as logs:
        sale_id = connector(tryton).create_sales_order(doc("shop/S-1", "SOUTH"))

    made = sale(tryton, sale_id)
    assert made["state"] == "draft"
    assert made["warehouse"] == tryton.ids["WH2"]  # SOUTH is Tryton's WH2 through location_map
    (address,) = tryton.rpc(
        "party.address.read",
        [made["shipment_address"]],
        ["party", "party_name", "street", "city", "postal_code", "contact_mechanisms.value"],
    )
    assert address["party"] == tryton.ids["customer"]
    assert (address["party_name"], address["city"], address["postal_code"]) == ("张三", "广州市", "510000")
    assert address["street"].splitlines() == ["体育西路 1 号", "天河区", "广东省"]
    assert [m["value"] for m in address["contact_mechanisms."]] == ["13800138000"]
    # the party has no address marked for invoices: the buyer's own address is the invoice address
    assert made["invoice_address"] == made["shipment_address"]
    assert not any(value in str(logs) for value in SHIP_TO.values())

    tryton.rpc("sale.sale.quote", [int(sale_id)])
    assert sale(tryton, sale_id)["state"] == "quotation"
    tryton.rpc("sale.sale.confirm", [int(sale_id)])

    confirmed = sale(tryton, sale_id)
    assert confirmed["state"] == "processing"
    (shipment,) = tryton.rpc(
        "stock.shipment.out.read", confirmed["shipments"], ["warehouse", "delivery_address", "state"]
    )
    assert (shipment["warehouse"], shipment["delivery_address"]) == (
        tryton.ids["WH2"],
        made["shipment_address"],
    )
    (invoice,) = tryton.rpc("account.invoice.read", confirmed["invoices"], ["invoice_address"])
    assert invoice["invoice_address"] == made["invoice_address"]


def test_with_confirm_the_connector_confirms_new_sales_and_finishes_one_left_draft(tryton: Tryton) -> None:
    left = connector(tryton).create_sales_order(doc("shop/S-2", "WH1"))
    assert sale(tryton, left)["state"] == "draft"

    confirming = connector(tryton, confirm=True)
    assert confirming.create_sales_order(doc("shop/S-2", "WH1")) == left
    new = confirming.create_sales_order(doc("shop/S-3", "WH1"))

    for sale_id in (left, new):
        made = sale(tryton, sale_id)
        assert made["state"] == "processing", made
        assert made["warehouse"] == tryton.ids["WH"]
        assert len(made["shipments"]) == 1
    assert tryton.rpc("ir.error.search", [], 0, None, None) == []  # processing failed nowhere


def test_the_same_ship_to_reuses_the_address_and_an_invoice_address_of_the_party_is_used(
    tryton: Tryton,
) -> None:
    party = tryton.ids["customer"]
    first = sale(tryton, connector(tryton).create_sales_order(doc("shop/S-4", "WH1")))
    again = sale(tryton, connector(tryton).create_sales_order(doc("shop/S-5", "WH1")))
    other = sale(
        tryton, connector(tryton).create_sales_order(doc("shop/S-6", "WH1", SHIP_TO | {"name": "李四"}))
    )
    assert again["shipment_address"] == first["shipment_address"]
    assert other["shipment_address"] != first["shipment_address"]

    (billing,) = tryton.rpc(
        "party.address.create", [{"party": party, "street": "Billing street 9", "invoice": True}]
    )
    try:
        billed = sale(tryton, connector(tryton).create_sales_order(doc("shop/S-7", "WH1")))
        assert billed["invoice_address"] == billing
        assert billed["shipment_address"] == first["shipment_address"]
    finally:
        tryton.rpc("party.address.write", [billing], {"invoice": False})


def test_a_location_outside_tryton_takes_sale_warehouse_or_is_refused_by_name(tryton: Tryton) -> None:
    with pytest.raises(PermanentError, match="no Tryton warehouse for erpsync location 'DS-GZ'") as caught:
        connector(tryton).create_sales_order(doc("shop/S-8", "DS-GZ"))
    assert (caught.value.external_id, caught.value.stream) == ("shop/S-8", "sales_orders")
    assert tryton.rpc("sale.sale.search", [["reference", "=", "shop/S-8"]], 0, None, None) == []

    made = sale(tryton, connector(tryton, warehouse="WH2").create_sales_order(doc("shop/S-8", "DS-GZ")))
    assert made["warehouse"] == tryton.ids["WH2"]
    unrouted = sale(tryton, connector(tryton, warehouse="WH").create_sales_order(doc("shop/S-9", None)))
    assert unrouted["warehouse"] == tryton.ids["WH"]
    with pytest.raises(PermanentError, match="Tryton has no warehouse with code 'NOPE'"):
        connector(tryton, warehouse="NOPE").create_sales_order(doc("shop/S-10", "DS-GZ"))


def test_a_refused_ship_to_is_reported_without_the_address(tryton: Tryton) -> None:
    bad = SHIP_TO | {"street": "体育西路 2 号", "country": "ZZ"}
    conn = connector(tryton)
    conn.rpc.call("model.party.address.search", [], 0, 1, None)  # log in before the fault
    conn.rpc.call = _refusing_address_create(conn.rpc.call)  # type: ignore[method-assign]

    with capture_logs() as logs, pytest.raises(PermanentError) as caught:
        conn.create_sales_order(doc("shop/S-11", "WH1", bad))

    message = str(caught.value)
    assert "refused the order's ship-to address (fields sent: name, phone, country" in message
    assert not any(value in message or value in str(logs) for value in bad.values())


def _refusing_address_create(call: Any) -> Any:
    """``rpc.call`` refusing ``party.address.create`` the way Tryton does, quoting a value."""

    def refusing(method: str, *params: Any, **kwargs: Any) -> Any:
        if method == "model.party.address.create":
            street = params[0][0]["street"]
            raise PermanentError(f'{method}: The value "{street}" for field "Street" is not valid.')
        return call(method, *params, **kwargs)

    return refusing
