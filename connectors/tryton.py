"""Tryton ERP over JSON-RPC: products and warehouse stock in, sales orders out.

``products`` (kind products): products with a code (inactive too), incremental on ``updated_at``.
``stock`` (kind stock): a snapshot, per warehouse, of every goods product's ``quantity`` in its
stock unit (the warehouse and its children, as Tryton computes it), ``as_of`` the server's time.
Quantities are computed from moves, hence no cursor (a "changed since" read would follow
``stock.move`` write dates).
``create_sales_order`` makes one ``sale.sale`` per ``SalesDoc.ref`` with its warehouse and
addresses, draft or (``sale.confirm``) confirmed: see :mod:`connectors.tryton_sales`.

.. code-block:: yaml

    kind: tryton
    url: http://erp.internal:8000
    database: prod
    username: erpsync
    password: "${TRYTON_PASSWORD}"
    warehouses: [WH]              # default: every warehouse with a code
    location_map: {WH: WH1}       # Tryton warehouse code -> erpsync location code
    sale: {create_sales: true, customer_party: 12, shop_currency: CNY,
           warehouse: WH, confirm: true}   # warehouse: for orders routed outside Tryton's warehouses

Errors: HTTP as in :mod:`connectors.http` (429, 5xx retried, then ``RetriableError``); a refused
login ``AuthError`` (an expired session is renewed once); ``UserError`` ``PermanentError``, or
``AuthError`` if it says "not allowed" (access errors travel as ``UserError``);
``ConcurrencyException`` and server failures ``RetriableError``; a method not exposed (403)
``PermanentError``.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import requests
from pydantic import Field, HttpUrl, SecretStr, model_validator

from connectors.base import Connector, ConnectorSettings, Page, SalesDoc, Stream
from connectors.http import HttpClient
from connectors.paginate import DEFAULT_MAX_PAGES, PageLoop
from connectors.tryton_sales import TrytonSales, sale_line
from core.errors import AuthError, ConnectorError, PermanentError, RetriableError
from core.excerpt import shorten
from core.redact import redact_text, register_secret

_DT = ("year", "month", "day", "hour", "minute", "second", "microsecond")
# a name change writes the template, not the product
_PRODUCT_FIELDS = ["code", "name", "active", "default_uom.symbol", "write_date", "create_date"]
_PRODUCT_FIELDS += ["template.write_date"]
_NEVER = datetime.min
_JSON = {"Content-Type": "application/json"}


def encode(value: object) -> Any:
    """Tryton's JSON object for a datetime, date or Decimal (``json.dumps(default=encode)``)."""
    if isinstance(value, datetime):
        return {"__class__": "datetime", **{part: getattr(value, part) for part in _DT}}
    if isinstance(value, date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    raise TypeError(f"cannot send {type(value).__name__} to Tryton")


def decode(obj: dict[str, Any]) -> Any:
    """The naive UTC datetime, date or Decimal a Tryton JSON object stands for, else the object."""
    kind = obj.get("__class__")
    if kind == "datetime":
        return datetime(*(obj[part] for part in _DT))
    if kind == "date":
        return date(obj["year"], obj["month"], obj["day"])
    return Decimal(obj["decimal"]) if kind == "Decimal" else obj


def rpc_error(method: str, error: Any) -> ConnectorError:
    """The erpsync error for a JSON-RPC ``error`` member, ``[name, [message, ...]]``."""
    name, detail = [*error, None][:2] if isinstance(error, list) and error else (error, None)
    text = str(detail[0] if isinstance(detail, list) and detail else detail or name)
    message = f"{method}: {shorten(redact_text(text), 300)}"
    if name in ("UserError", "UserWarning"):
        return AuthError(message) if "not allowed" in text else PermanentError(message)
    if name == "ConcurrencyException":
        return RetriableError(message, hint="re-read the records and try again")
    return RetriableError(f"{method} failed on the server: {shorten(redact_text(str(name)), 200)}")


def whole(quantity: float | None) -> int | float:
    """A quantity as an int when whole; others stay floats (2.5 kg), for the SKU's unit factor."""
    value = float(quantity or 0)
    return int(value) if value.is_integer() else value


def _iso(moment: datetime) -> str:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


class TrytonSaleSettings(ConnectorSettings):
    create_sales: bool = False
    customer_party: int | None = None  # the party.party id orders are made for
    shop_currency: str = "CNY"  # when a SalesDoc names none
    warehouse: str | None = None  # Tryton warehouse code for orders routed to no Tryton warehouse
    confirm: bool = False  # quote and confirm each sale (else it stays draft)

    @model_validator(mode="after")
    def _sales_need_a_party(self) -> TrytonSaleSettings:
        if self.create_sales and self.customer_party is None:
            raise ValueError("create_sales needs customer_party (the party.party id orders are made for)")
        return self


class TrytonSettings(ConnectorSettings):
    url: HttpUrl
    database: str
    username: str
    password: SecretStr
    version: Literal["auto", "7", "8"] = "auto"  # auto: /<db>/rpc/ (8.x), then /<db>/ (7.x)
    warehouses: list[str] | None = None
    location_map: dict[str, str] = Field(default_factory=dict)
    page_size: int = Field(default=200, ge=1, le=10_000)
    max_pages: int = Field(default=DEFAULT_MAX_PAGES, ge=1)
    timeout_s: float = Field(default=30.0, gt=0)
    company: int | None = None
    sale: TrytonSaleSettings = Field(default_factory=TrytonSaleSettings)


class _RpcHttp(HttpClient):
    def _raise_for_status(self, method: str, response: requests.Response) -> None:
        if response.status_code not in (401, 403, 404, 405):  # re-login, not RPC, older server
            super()._raise_for_status(method, response)


class TrytonRpc:
    """A logged-in JSON-RPC session; ``server_time`` is the ``Date`` of the last answer (UTC)."""

    def __init__(self, name: str, settings: TrytonSettings) -> None:
        self.settings, timeout = settings, settings.timeout_s
        self.http = _RpcHttp(name, str(settings.url), timeout=(min(5.0, timeout), timeout))
        register_secret(settings.password.get_secret_value())
        self.server_time = datetime.now(UTC)
        self.user_context: dict[str, Any] | None = None
        self._ids = itertools.count(1)
        self._path, self._headers = "", dict(_JSON)

    def login(self) -> None:
        """Log in (finding the endpoint for ``version: auto``) and load the user's context."""
        s, db = self.settings, quote(self.settings.database, safe="")
        credentials = [s.username, {"password": s.password.get_secret_value()}, "en"]
        for self._path in {"8": [f"{db}/rpc/"], "7": [f"{db}/"]}.get(s.version, [f"{db}/rpc/", f"{db}/"]):
            response = self._post("common.db.login", credentials, _JSON)
            if response.status_code not in (404, 405):
                break
        if response.status_code == 401:
            raise AuthError(f"Tryton refused the login of {s.username!r} on database {s.database!r}")
        user_id, token = self._result("common.db.login", response)[:2]
        session = base64.b64encode(f"{s.username}:{user_id}:{token}".encode()).decode()
        register_secret(token)
        register_secret(session)
        self._headers["Authorization"] = f"Session {session}"
        method = "model.res.user.get_preferences"
        preferences = self._result(method, self._post(method, [True, {}], self._headers))
        self.user_context = {**preferences, **({"company": s.company} if s.company is not None else {})}

    def context(self, **extra: Any) -> dict[str, Any]:
        """The user's context (logging in first when needed) with ``extra`` keys."""
        if self.user_context is None:
            self.login()
        return {**(self.user_context or {}), **extra}

    def call(self, method: str, *params: Any, context: Mapping[str, Any] | None = None) -> Any:
        """The result of ``method(*params, context)``; the user's context when none is given."""
        user_context = self.context()  # logs in first when needed
        args = [*params, user_context if context is None else context]
        response = self._post(method, args, self._headers)
        if response.status_code == 401:  # the session expired: log in again, once
            self.login()
            response = self._post(method, args, self._headers)
        return self._result(method, response)

    def _post(self, method: str, params: list[Any], headers: dict[str, str]) -> requests.Response:
        body = json.dumps({"id": next(self._ids), "method": method, "params": params}, default=encode)
        return self.http.request("POST", self._path, data=body.encode(), headers=headers)

    def _result(self, method: str, response: requests.Response) -> Any:
        status, s = response.status_code, self.settings
        if status == 401:
            raise AuthError(f"{method}: Tryton refused the session of {s.username!r}")
        if status in (403, 404, 405):  # 403: not exposed over RPC; 404/405: no such database or path
            what = "not callable over RPC" if status == 403 else f"no database {s.database!r} at {s.url}"
            raise PermanentError(f"{method}: HTTP {status}, {what}", hint="check database, version, method")
        self.server_time = datetime.now(UTC)  # when the answer has no usable Date header
        with contextlib.suppress(TypeError, ValueError):
            self.server_time = parsedate_to_datetime(response.headers.get("Date", "")).astimezone(UTC)
        try:
            body = response.json(object_hook=decode)
        except requests.JSONDecodeError:
            raise PermanentError(f"{method}: the answer is not JSON (HTTP {status})") from None
        if "error" in body:
            raise rpc_error(method, body["error"])
        return body.get("result")


class TrytonConnector(Connector):
    """Reads products and warehouse stock from Tryton; creates sales orders when configured."""

    kind = "tryton"
    Settings = TrytonSettings
    default_mappings: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "products": {"sku": "code", "name": "name", "uom": "uom", "active": "active"},
        "stock": {
            "sku": "sku",
            "location": "location",
            # a decimal: 2.5 kg reaches the SKU binding, whose uom_factor makes it whole base units
            "on_hand": {"path": "quantity", "convert": ["decimal"]},
            "as_of": {"path": "as_of", "convert": ["datetime"]},
        },
    }

    def __init__(self, name: str, settings: ConnectorSettings) -> None:
        settings = self.config = TrytonSettings.model_validate(settings)
        super().__init__(name, settings)
        self.rpc = TrytonRpc(name, settings)
        self.sales: TrytonSales | None = None

    @property
    def streams(self) -> Mapping[str, Stream]:
        return {
            "products": Stream("products", ("code",), "updated_at", kind="products"),
            "stock": Stream("stock", ("sku", "location"), snapshot=True, kind="stock"),
        }

    def fetch(self, stream: str, cursor: str | None) -> Iterator[Page]:
        name = self.stream(stream).name
        readers = {"products": lambda: self._products(cursor), "stock": self._stock}
        with self._naming(name):
            yield from readers[name]()

    def check(self) -> None:
        with self._naming(None):
            self.rpc.login()

    def close(self) -> None:
        self.rpc.http.close()

    def _products(self, cursor: str | None) -> Iterator[Page]:
        """Pages of the products changed at or after ``cursor``; the last one carries the new cursor.

        That is the newest change seen but not later than the read's start, so a product changed
        during the read (maybe on a page already read) is read again next time.
        """
        since = _since(cursor)
        domain: list[Any] = [["code", "!=", None]]
        if since is not None:  # write_date stays NULL until a record's first write
            fields = ("write_date", "create_date", "template.write_date")
            domain.append(["OR", *([field, ">=", since] for field in fields)])
        start, newest = None, _NEVER
        for rows, last in self._pages(domain, _PRODUCT_FIELDS, self.rpc.context(active_test=False)):
            start = start or self.rpc.server_time.replace(tzinfo=None)
            changes = [_changed(row) for row in rows]
            newest = max([newest, *changes])
            records = [_product(row, changed) for row, changed in zip(rows, changes, strict=True)]
            moved = max(min(newest, start), since or _NEVER)
            # a read that found nothing leaves the saved cursor as it is (a lagged start stays unsaved)
            yield Page(records, cursor=_iso(moved) if last and newest > _NEVER else None, last=last)

    def _stock(self) -> Iterator[Page]:
        """Each warehouse's quantity of every goods product with a code, warehouse by warehouse."""
        warehouses = self._warehouses()
        domain = [["type", "=", "goods"], ["code", "!=", None]]
        for n, (location_id, code) in enumerate(warehouses, start=1):
            location = self.config.location_map.get(code, code)
            context = self.rpc.context(locations=[location_id])
            for rows, last in self._pages(domain, ["code", "quantity", "default_uom.symbol"], context):
                as_of = _iso(self.rpc.server_time)
                records = [_level(row, location, code, as_of) for row in rows]
                yield Page(records, last=last and n == len(warehouses))

    def _pages(self, domain: list[Any], fields: list[str], context: Any) -> Iterator[tuple[list[Any], bool]]:
        """Pages of ``product.product`` rows by id (not offset: stable while rows change), last or not."""
        last_id, size = 0, self.config.page_size
        loop = PageLoop("Tryton product.product", self.config.max_pages)
        while True:
            loop.advance(last_id, f"after id {last_id}")  # ids only rise: one seen again is a loop
            page = [*domain, ["id", ">", last_id]]
            rows = self.rpc.call(
                "model.product.product.search_read", page, 0, size, [["id", "ASC"]], fields, context=context
            )
            loop.page(rows, f"after id {last_id}")
            yield rows, len(rows) < size
            if len(rows) < size:
                return
            last_id = rows[-1]["id"]

    def _warehouses(self) -> list[tuple[int, str]]:
        """(id, code) of the configured warehouses, or of every warehouse with a code."""
        wanted = self.config.warehouses
        domain: list[Any] = [["type", "=", "warehouse"], ["code", "!=", None]]
        domain += [["code", "in", wanted]] if wanted is not None else []
        rows = self.rpc.call("model.stock.location.search_read", domain, 0, None, None, ["code"])
        found = sorted((row["id"], row["code"]) for row in rows)
        missing = sorted(set(wanted or ()) - {code for _, code in found})
        if missing or not found:
            what = f"with code {', '.join(missing)}" if missing else "with a code"
            raise PermanentError(f"Tryton has no warehouse {what}", hint="fix `warehouses` in the settings")
        return found

    def sales_settings_missing(self) -> str | None:
        """What to set before sales orders can be made (None: nothing)."""
        sale = self.config.sale
        if sale.create_sales and sale.customer_party is not None:
            return None
        return "sale.create_sales: true and sale.customer_party (the party.party id orders are made for)"

    def create_sales_order(self, doc: SalesDoc) -> str:
        """The id of the ``sale.sale`` with reference ``doc.ref``, created unless it exists.

        Warehouse, addresses and confirmation: see :mod:`connectors.tryton_sales`.
        """
        sale = self.config.sale
        with self._naming("sales_orders", doc.ref):
            if (missing := self.sales_settings_missing()) is not None or sale.customer_party is None:
                raise PermanentError(
                    "creating sales orders is off", external_id=doc.ref, hint=f"set {missing}"
                )
            if self.sales is None:
                self.sales = TrytonSales(
                    self.rpc,
                    sale.customer_party,
                    self.config.location_map,
                    default_warehouse=sale.warehouse,
                    confirm=sale.confirm,
                )
            found = self.rpc.call(
                "model.sale.sale.search_read", [["reference", "=", doc.ref]], 0, 1, None, ["state"]
            )
            if found:
                self.sales.advance(found[0]["id"], found[0]["state"])
                return str(found[0]["id"])
            code = doc.currency or sale.shop_currency
            currency = self.rpc.call("model.currency.currency.search", [["code", "=", code]], 0, 1, None)
            if not currency:
                raise PermanentError(f"Tryton has no currency {code!r}", external_id=doc.ref)
            return str(self.sales.create(doc, currency[0], self._sale_lines(doc)))

    def _sale_lines(self, doc: SalesDoc) -> list[dict[str, Any]]:
        """Lines in the product's sale unit when the quantity is whole in it, else in its stock unit."""
        fields = ["code", "default_uom", "sale_uom", "default_uom.factor", "sale_uom.factor"]
        codes = sorted({line.sku for line in doc.lines})
        rows = self.rpc.call(
            "model.product.product.search_read", [["code", "in", codes]], 0, None, None, fields
        )
        products = {row["code"]: row for row in rows}
        missing = [code for code in codes if code not in products]
        if missing:
            raise PermanentError(f"Tryton has no product with code {', '.join(missing)}", external_id=doc.ref)
        return [sale_line(products[line.sku], line.qty, line.unit_price) for line in doc.lines]


def _since(cursor: str | None) -> datetime | None:
    """A cursor as Tryton's naive UTC datetime."""
    try:
        moment = datetime.fromisoformat(cursor) if cursor is not None else None
    except ValueError:
        raise PermanentError(f"cursor {cursor!r} is not an ISO timestamp", hint="reset the cursor") from None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment and moment.tzinfo else moment


def _changed(row: dict[str, Any]) -> datetime:
    template = (row.get("template.") or {}).get("write_date") or _NEVER
    return max(row["write_date"] or row["create_date"], template)  # type: ignore[no-any-return]


def _product(row: dict[str, Any], changed: datetime) -> dict[str, Any]:
    record = {key: row[key] for key in ("id", "code", "name")}
    uom = (row.get("default_uom.") or {}).get("symbol")
    return {**record, "uom": uom, "active": bool(row["active"]), "updated_at": _iso(changed)}


def _level(row: dict[str, Any], location: str, warehouse: str, as_of: str) -> dict[str, Any]:
    record = {"sku": row["code"], "location": location, "quantity": whole(row["quantity"]), "as_of": as_of}
    return {**record, "warehouse": warehouse, "unit": (row.get("default_uom.") or {}).get("symbol")}
