"""Odoo connector: products and stock levels from Odoo 16–19, sales orders into it.

Two transports (:mod:`connectors.odoo_rpc`), chosen by ``protocol``: ``jsonrpc`` (Odoo 16–18;
deprecated in 19), ``POST /jsonrpc`` with ``execute_kw``; ``json2`` (Odoo ≥ 19),
``POST /json/2/<model>/<method>`` with a bearer API key.

Streams (raw records are flat: a many2one ``[id, "name"]`` becomes ``<field>`` = id and
``<field>_name`` = name; Odoo's ``false`` for an empty value becomes ``None``):

==================  ==========================================================================
``products``        ``product.product`` (archived ones too, ``active`` false) changed at or after
                    the cursor; key ``default_code``, cursor ``write_date`` (UTC); kind products
``stock``           one record per (SKU, location) with the *current* totals over every quant
                    (lots, packages) of that pair; key ``sku, location``, cursor ``write_date``;
                    kind stock
``stock_snapshot``  ``stock`` read from scratch, pages without a cursor: every run is a complete
                    snapshot (kind stock, so behind the shrink guard)
==================  ==========================================================================

Pages follow ``write_date asc, id asc`` by keyset (after the last ``(write_date, id)``), so a record
changed mid-read moves behind the read position. The (product, location) pairs a page of changed
quants touches are re-read in full (every internal quant of those products) and emitted with
their totals, zero when no quant is left. Locations: internal ones, named by ``complete_name`` or
``locations`` (Odoo complete name or id → erpsync code; with a table, others are left out).
Odoo deletes quants that reach zero (``_unlink_zero_quants``), which an incremental read cannot
see: ``stock`` is a snapshot stream, so a read from no cursor lists every level and erpsync zeroes
the rest. Schedule one: the ``stock_snapshot`` stream, e.g. nightly, next to an incremental
``stock`` (or ``erpsync sync <name> --stream stock --full``); ``full_snapshot_every`` (hours) only
records that interval for operators.

Sales orders (``create_sales``): the ``sale.order`` whose ``client_order_ref`` is the doc's ref,
else a new one for ``partner_id`` with a ``(0, 0, {...})`` line per doc line (products by
internal reference); prices are the doc's, the currency the partner's pricelist's.

Errors: ``AccessDenied``/``AccessError`` and HTTP 401/403 → ``AuthError``; ``ValidationError``,
``UserError``, ``MissingError``, other refusals and 4xx → ``PermanentError``; serialization
failures and 429/5xx → ``RetriableError``.

.. code-block:: yaml

    kind: odoo
    settings: {url: "https://erp.example.com", database: prod, username: bot@example.com,
               api_key: "${ODOO_KEY}", locations: {"WH/Stock": WH1}}
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import Field, HttpUrl, SecretStr, model_validator

from connectors.base import Connector, ConnectorSettings, Page, SalesDoc, Stream
from connectors.cursors import MaxCursor
from connectors.http import BearerAuth, HttpClient
from connectors.odoo_rpc import Json2, JsonRpc, Login
from connectors.paginate import DEFAULT_MAX_PAGES, PageLoop
from core.errors import PermanentError
from core.redact import register_secret

Row = dict[str, Any]

STREAMS = {
    "products": Stream("products", ("default_code",), "write_date", kind="products"),
    "stock": Stream("stock", ("sku", "location"), "write_date", snapshot=True, kind="stock"),
    "stock_snapshot": Stream("stock_snapshot", ("sku", "location"), None, snapshot=True, kind="stock"),
}
STOCK_MAPPING = {
    "sku": "sku",
    "location": "location",
    "on_hand": {"path": "quantity", "convert": ["decimal"]},
}
PRODUCT_FIELDS = ["default_code", "name", "uom_id", "barcode", "categ_id", "active", "write_date"]
QUANT_FIELDS = ["product_id", "location_id", "quantity", "reserved_quantity", "write_date"]
CHANGED_QUANT_FIELDS = ["product_id", "location_id", "write_date"]
INTERNAL = ["location_id.usage", "=", "internal"]
ORDER = "write_date asc, id asc"


class OdooSettings(ConnectorSettings):
    url: HttpUrl
    database: str = Field(min_length=1)
    username: str = Field(min_length=1)
    api_key: SecretStr
    protocol: Literal["jsonrpc", "json2"] = "jsonrpc"
    page_size: int = Field(default=200, ge=1, le=5000)
    max_pages: int = Field(default=DEFAULT_MAX_PAGES, ge=1)
    locations: dict[str, str] = Field(default_factory=dict)
    full_snapshot_every: int = Field(default=0, ge=0)
    create_sales: bool = False
    partner_id: int | None = None
    timeout_s: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=20)

    @model_validator(mode="after")
    def _sales_need_partner(self) -> OdooSettings:
        if self.create_sales and self.partner_id is None:
            raise ValueError("create_sales needs partner_id (the res.partner id orders are for)")
        return self


def odoo_datetime(cursor: str) -> str:
    """A saved cursor as Odoo writes datetimes (``YYYY-MM-DD HH:MM:SS``, fractions dropped)."""
    return cursor.replace("T", " ")[:19]


def flat(row: Row) -> Row:
    """``row`` with many2one pairs split into ``<field>`` / ``<field>_name`` and ``false`` as None."""
    out: Row = {}
    for key, value in row.items():
        if isinstance(value, list) and len(value) == 2 and isinstance(value[1], str):
            out[key], out[f"{key}_name"] = value
        elif value is False and key != "active":
            out[key] = None
        else:
            out[key] = value
    return out


def _m2o(value: Any) -> tuple[int, str] | None:
    return (int(value[0]), str(value[1])) if isinstance(value, list) and len(value) == 2 else None


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


@dataclass
class _Level:
    """Running totals of the quants of one (product, location) pair."""

    quantity: Decimal = Decimal(0)
    reserved: Decimal = Decimal(0)
    write_date: str | None = None
    quants: int = 0

    def add(self, quant: Row) -> None:
        self.quantity += Decimal(str(quant.get("quantity") or 0))
        self.reserved += Decimal(str(quant.get("reserved_quantity") or 0))
        stamp = quant.get("write_date") or None
        if stamp is not None and (self.write_date is None or stamp > self.write_date):
            self.write_date = stamp
        self.quants += 1

    def record(self, sku: str | None, product_id: int, location: str) -> Row:
        return {
            "sku": sku,
            "product_id": product_id,
            "location": location,
            "quantity": _number(self.quantity),
            "reserved_quantity": _number(self.reserved),
            "write_date": self.write_date,
            "quants": self.quants,
        }


def order_vals(doc: SalesDoc, partner_id: int, products: Mapping[str, int]) -> Row:
    """``sale.order`` values for ``doc``: its lines as ``(0, 0, {...})`` create commands."""
    lines = []
    for ln in doc.lines:
        line = {"product_id": products[ln.sku], "product_uom_qty": ln.qty, "price_unit": float(ln.unit_price)}
        lines.append([0, 0, line])
    return {"partner_id": partner_id, "client_order_ref": doc.ref, "order_line": lines}


class OdooConnector(Connector):
    """Reads products and stock from Odoo; creates sales orders when ``create_sales`` is on."""

    kind = "odoo"
    Settings = OdooSettings
    default_mappings: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "products": {
            "sku": "default_code",
            "name": "name",
            "uom": "uom_id_name",
            "barcode": "barcode",
            "category": "categ_id_name",
            "active": "active",
        },
        # a decimal: 2.5 kg reaches the SKU binding, whose uom_factor makes it whole base units
        "stock": STOCK_MAPPING,
        "stock_snapshot": STOCK_MAPPING,
    }

    def __init__(self, name: str, settings: ConnectorSettings) -> None:
        cfg = self.config = OdooSettings.model_validate(settings)
        super().__init__(name, cfg)
        key = cfg.api_key.get_secret_value()
        register_secret(key)
        json2 = cfg.protocol == "json2"
        self.http = HttpClient(
            name,
            str(cfg.url),
            timeout=(min(5.0, cfg.timeout_s), cfg.timeout_s),
            headers={"X-Odoo-Database": cfg.database} if json2 else None,
            auth=BearerAuth(key, scheme="bearer") if json2 else None,
            max_attempts=cfg.max_attempts,
        )
        login = Login(cfg.database, cfg.username, key)
        self.rpc: JsonRpc | Json2 = Json2(self.http) if json2 else JsonRpc(self.http, login)

    @property
    def streams(self) -> Mapping[str, Stream]:
        return STREAMS

    def fetch(self, stream: str, cursor: str | None) -> Iterator[Page]:
        spec = self.stream(stream)
        readers = {
            "products": lambda: self._products(cursor),
            "stock": lambda: self._stock(cursor, keep=True),
            "stock_snapshot": lambda: self._stock(None, keep=False),
        }
        with self._naming(spec.name):
            yield from readers[spec.name]()

    def check(self) -> None:
        with self._naming("check"):
            self.rpc.check()

    def close(self) -> None:
        self.http.close()

    def sales_settings_missing(self) -> str | None:
        """What to set before sales orders can be made (None: nothing)."""
        if self.config.create_sales and self.config.partner_id is not None:
            return None
        return "create_sales: true and partner_id (the res.partner id orders are for)"

    def create_sales_order(self, doc: SalesDoc) -> str:
        """The id of the ``sale.order`` whose ``client_order_ref`` is ``doc.ref``, made if missing."""
        partner = self.config.partner_id
        if (missing := self.sales_settings_missing()) is not None or partner is None:
            raise PermanentError("creating sales orders is off", connector=self.name, hint=f"set {missing}")
        with self._naming("sales_orders", doc.ref):
            domain = [["client_order_ref", "=", doc.ref]]
            found = self.rpc.call("sale.order", "search", domain=domain, limit=1)
            if found:
                return str(found[0])
            products = self._product_ids(sorted({line.sku for line in doc.lines}))
            vals = order_vals(doc, partner, products)
            created = self.rpc.call("sale.order", "create", vals_list=[vals])
        return str(created[0] if isinstance(created, list) else created)

    def _pages(
        self, model: str, domain: list[Any], fields: list[str], cursor: str | None
    ) -> Iterator[list[Row]]:
        """Pages of ``model`` rows changed at or after ``cursor``, by (write_date, id) keyset."""
        start = [["write_date", ">=", odoo_datetime(cursor)]] if cursor else []
        after: list[Any] = []
        key: tuple[Any, Any] | None = None
        size = self.config.page_size
        loop = PageLoop(f"Odoo {model}", self.config.max_pages)
        while True:
            where = f"after write_date {key[0]}, id {key[1]}" if key else "first page"
            loop.advance(key, where)  # a keyset read never comes back to a key it passed
            query: dict[str, Any] = {
                "domain": [*domain, *start, *after],
                "fields": fields,
                "order": ORDER,
                "limit": size,
            }
            rows = self.rpc.call(model, "search_read", **query)
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise PermanentError(f"{model}.search_read did not answer a list of records")
            loop.page(rows, where)
            yield rows
            if len(rows) < size:
                return
            key = (rows[-1].get("write_date"), rows[-1].get("id"))
            after = ["|", ["write_date", ">", key[0]], "&", ["write_date", "=", key[0]], ["id", ">", key[1]]]

    def _products(self, cursor: str | None) -> Iterator[Page]:
        seen = MaxCursor(cursor)
        domain = [["active", "in", [True, False]]]
        for rows in self._pages("product.product", domain, PRODUCT_FIELDS, cursor):
            seen.update(row.get("write_date") for row in rows)
            yield Page([flat(row) for row in rows], cursor=seen.value, last=len(rows) < self.config.page_size)

    def _stock(self, cursor: str | None, *, keep: bool) -> Iterator[Page]:
        seen = MaxCursor(cursor)
        codes: dict[int, str | None] = {}
        for quants in self._pages("stock.quant", [INTERNAL], CHANGED_QUANT_FIELDS, cursor):
            seen.update(quant.get("write_date") for quant in quants)
            records = self._levels(quants, codes)
            yield Page(records, cursor=seen.value if keep else None, last=len(quants) < self.config.page_size)

    def _levels(self, quants: Sequence[Row], codes: dict[int, str | None]) -> list[Row]:
        """Current totals of every (product, location) pair ``quants`` touch, zero when none is left."""
        touched = {pair for quant in quants if (pair := self._pair(quant)) is not None}
        if not touched:
            return []
        products = sorted({pid for pid, _ in touched})
        domain = [INTERNAL, ["product_id", "in", products]]
        current = self.rpc.call("stock.quant", "search_read", domain=domain, fields=QUANT_FIELDS)
        levels = {pair: _Level() for pair in touched}
        for quant in current:
            pair = self._pair(quant)
            if pair in levels:
                levels[pair].add(quant)
        self._read_codes(products, codes)
        return [level.record(codes.get(pid), pid, loc) for (pid, loc), level in sorted(levels.items())]

    def _pair(self, quant: Row) -> tuple[int, str] | None:
        product, location = _m2o(quant.get("product_id")), self._location(quant.get("location_id"))
        return None if product is None or location is None else (product[0], location)

    def _location(self, value: Any) -> str | None:
        location = _m2o(value)
        if location is None:
            return None
        table = self.config.locations
        return table.get(str(location[0])) or table.get(location[1]) if table else location[1]

    def _read_codes(self, products: list[int], codes: dict[int, str | None]) -> None:
        missing = [pid for pid in products if pid not in codes]
        if missing:
            for row in self.rpc.call("product.product", "read", ids=missing, fields=["default_code"]):
                codes[int(row["id"])] = row.get("default_code") or None

    def _product_ids(self, skus: list[str]) -> dict[str, int]:
        domain = [["default_code", "in", skus]]
        rows = self.rpc.call("product.product", "search_read", domain=domain, fields=["default_code"])
        found = {str(row["default_code"]): int(row["id"]) for row in rows}
        missing = [sku for sku in skus if sku not in found]
        if missing:
            raise PermanentError(
                f"no Odoo product has internal reference {', '.join(missing)}",
                hint="create the products in Odoo or fix their internal references",
            )
        return found
