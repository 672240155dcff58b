"""Sales orders into Tryton: one ``sale.sale`` per ``SalesDoc.ref``, ready to be quoted and confirmed.

Tryton quotes a sale only with an invoice address, a shipment address and a warehouse, so the
sale is made with all three:

* **warehouse**: the Tryton warehouse of the location the order was routed to. The stock stream
  names erpsync locations after Tryton warehouse codes through ``location_map`` (a code not in it
  names the location of the same code); the sale reads that map backwards: the warehouse whose
  code maps to the routed location, the lowest code when several do. An order routed to a
  location that is no Tryton warehouse (a distributor) gets the warehouse ``sale.warehouse``
  names; without that setting it is refused (``PermanentError`` naming the location). A document
  routed nowhere gets ``sale.warehouse``, else Tryton's default (its only warehouse).
* **shipment address**: the order's ship-to, as an address of the customer party
  (``sale.customer_party``): the recipient as the address's name, street and district (and the
  province, which has no free-text field in Tryton) as the street lines, city, postal code,
  country when Tryton has it, and the phone as a contact mechanism of the address. An identical
  address of the party is used again; an order without ship-to uses the party's delivery address.
* **invoice address**: the party's address marked for invoices, else the shipment address (never
  another buyer's address).

With ``sale.confirm`` the sale is quoted and confirmed with Tryton's own buttons, also when a
sale of an earlier attempt is found still draft or quoted; otherwise it stays draft for a person.

The ship-to is personal data: it goes to Tryton and nowhere else. No log line or error message
carries it; a refusal of the address names the fields sent, not their values.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol

from connectors.base import SalesDoc
from core.errors import PermanentError

#: the ship-to fields that make an address (``mapping.records.Address`` names)
ADDRESS_FIELDS = ("name", "phone", "country", "province", "city", "district", "street", "postal_code")


class Rpc(Protocol):
    def call(self, method: str, *params: Any, context: Mapping[str, Any] | None = None) -> Any: ...


class TrytonSales:
    """Creates (and with ``confirm`` quotes and confirms) the sales orders of one Tryton connector."""

    def __init__(
        self,
        rpc: Rpc,
        party: int,
        location_map: Mapping[str, str],
        *,
        default_warehouse: str | None = None,
        confirm: bool = False,
    ) -> None:
        self.rpc, self.party, self.location_map = rpc, party, location_map
        self.default_warehouse, self.confirm = default_warehouse, confirm
        self._warehouses: dict[str, int] = {}

    def create(self, doc: SalesDoc, currency: int, lines: list[dict[str, Any]]) -> int:
        """The id of the new sale for ``doc`` (quoted and confirmed when ``confirm``)."""
        values: dict[str, Any] = {"party": self.party, "currency": currency, "reference": doc.ref}
        warehouse = self.warehouse(doc)
        if warehouse is not None:  # else Tryton's default: its only warehouse, if it has one
            values["warehouse"] = warehouse
        shipment = self.shipment_address(doc)
        values["shipment_address"] = shipment
        values["invoice_address"] = self.invoice_address() or shipment
        values["lines"] = [["create", lines]]
        (sale_id,) = self.rpc.call("model.sale.sale.create", [values])
        self.advance(int(sale_id), "draft")
        return int(sale_id)

    def advance(self, sale_id: int, state: str) -> None:
        """Quote and confirm the sale from ``state`` on, when ``confirm`` is set."""
        if not self.confirm:
            return
        if state == "draft":
            self.rpc.call("model.sale.sale.quote", [sale_id])
            state = "quotation"
        if state == "quotation":
            self.rpc.call("model.sale.sale.confirm", [sale_id])

    def warehouse(self, doc: SalesDoc) -> int | None:
        """The ``stock.location`` id of the warehouse the sale ships from (see the module docstring)."""
        key = doc.location or ""
        if not key and self.default_warehouse is None:
            return None
        if key not in self._warehouses:
            codes = [code for code, location in self.location_map.items() if location == key]
            codes += [key] if key and key not in self.location_map else []
            found = self._warehouse_ids(codes)
            if not found and self.default_warehouse is not None:
                found = self._warehouse_ids([self.default_warehouse])
                if not found:
                    raise PermanentError(
                        f"Tryton has no warehouse with code {self.default_warehouse!r}",
                        hint="fix sale.warehouse in the settings",
                    )
            if not found:
                raise PermanentError(
                    f"no Tryton warehouse for erpsync location {doc.location!r}",
                    hint="map a Tryton warehouse code to it in location_map, or set sale.warehouse",
                )
            self._warehouses[key] = found[0]
        return self._warehouses[key]

    def _warehouse_ids(self, codes: list[str]) -> list[int]:
        if not codes:
            return []
        domain = [["type", "=", "warehouse"], ["code", "in", codes]]
        rows = self.rpc.call("model.stock.location.search_read", domain, 0, None, None, ["code"])
        return [row["id"] for row in sorted(rows, key=lambda row: row["code"])]

    def shipment_address(self, doc: SalesDoc) -> int | None:
        """The party's address for the order's ship-to (found or created), else its delivery address."""
        ship_to = {name: _text(doc.ship_to.get(name)) for name in ADDRESS_FIELDS}
        if not any(ship_to.values()):
            return self._party_address("delivery")
        values: dict[str, Any] = {"party": self.party, "party_name": ship_to["name"]}
        lines = [ship_to["street"], ship_to["district"], ship_to["province"]]
        values |= {"street": "\n".join(line for line in lines if line) or None}
        values |= {"city": ship_to["city"], "postal_code": ship_to["postal_code"]}
        values["country"] = self._country(ship_to["country"])
        domain = [[name, "=", value] for name, value in values.items()]
        if ship_to["phone"]:
            domain.append(["contact_mechanisms.value", "=", ship_to["phone"]])
        try:
            found = self.rpc.call("model.party.address.search", domain, 0, 1, [["id", "ASC"]])
            if found:
                return int(found[0])
            (address,) = self.rpc.call("model.party.address.create", [values])
            if ship_to["phone"]:
                self._phone(int(address), ship_to["phone"])
        except PermanentError:  # Tryton's message may quote the values: personal data
            sent = ", ".join(name for name, value in ship_to.items() if value is not None)
            raise PermanentError(
                f"Tryton refused the order's ship-to address (fields sent: {sent})",
                external_id=doc.ref,
                hint="check the address rules of the party and country in Tryton",
            ) from None
        return int(address)

    def invoice_address(self) -> int | None:
        """The party's address marked for invoices, if it has one."""
        return self._party_address("invoice")

    def _party_address(self, flag: str) -> int | None:
        domain = [["party", "=", self.party], [flag, "=", True]]
        found = self.rpc.call(
            "model.party.address.search", domain, 0, 1, [["sequence", "ASC"], ["id", "ASC"]]
        )
        return int(found[0]) if found else None

    def _country(self, code: str | None) -> int | None:
        if not code:
            return None
        found = self.rpc.call("model.country.country.search", [["code", "=", code.upper()]], 0, 1, None)
        return int(found[0]) if found else None  # a database without countries keeps none

    def _phone(self, address: int, phone: str) -> None:
        mechanism = {"party": self.party, "address": address, "type": "mobile", "value": phone}
        try:
            self.rpc.call("model.party.contact_mechanism.create", [mechanism])
        except PermanentError:
            # Tryton checks phone numbers when python-phonenumbers is installed; a number it cannot
            # parse is kept as text rather than costing the order its sale
            self.rpc.call("model.party.contact_mechanism.create", [{**mechanism, "type": "other"}])


def _text(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def sale_line(product: Mapping[str, Any], qty: int, unit_price: str) -> dict[str, Any]:
    """A ``sale.line`` in the product's sale unit when the quantity is whole in it, else its stock unit."""
    unit, quantity, price = product["default_uom"], Decimal(qty), Decimal(unit_price)
    if product.get("sale_uom") not in (None, unit):
        per_unit = Decimal(str(product["sale_uom."]["factor"] / product["default_uom."]["factor"]))
        if (quantity / per_unit) % 1 == 0:  # else Tryton would round it to the sale unit
            unit, quantity, price = product["sale_uom"], quantity / per_unit, price * per_unit
    return {"product": product["id"], "quantity": float(quantity), "unit": unit, "unit_price": price}
