"""Kingdee K/3 Cloud (金蝶云星空) connector: materials and stock from the WebAPI, sales orders into it.

Every call is ``POST {url}Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.<Op>.common.kdsvc``
(the protocol pieces are :mod:`connectors.kingdee_api`). Two ways to authenticate, chosen by ``auth``:

* ``signed`` (SDK 8.x): ``KingdeeAuth`` signs every request with the headers of
  「第三方系统登录授权」 (``X-Api-Signature``, ``X-Kd-Appdata``, ``X-Kd-Signature`` …), no login;
* ``session``: ``AuthService.LoginBySign`` once, then the ``kdservice-sessionid`` header; a
  reply with ``MsgCode`` 1 (session gone) logs in again once and repeats the call.

Streams (flat raw records; a field key ``A.B`` is spelt ``A_B``):

* ``products`` (kind products): ``BD_MATERIAL`` rows (``FNumber, FName, FBaseUnitId_FNumber, FModifyDate,
  FMATERIALID``) modified at or after the cursor, ``FModifyDate ASC, FMATERIALID ASC``; key
  ``FNumber``, cursor ``FModifyDate``.
* ``stock`` (kind stock): a full **snapshot** of ``STK_Inventory`` (no modify date is documented
  on that view), lots summed per (material, location) over the whole read, then emitted: ``sku,
  location, stock, qty, lots``; key ``sku, location``. ``warehouses`` maps ``FStockId.FNumber`` (or
  ``<org>/<stock>``) to erpsync locations; with a table, unlisted warehouses are left out.

Reads page with ``StartRow``/``Limit`` (≤ 2000) to a short page; ``org_number`` restricts them.
Offsets shift when rows appear or vanish mid-read: a material can be missed (until next modified)
or an inventory row counted twice or not at all (until the next snapshot).
Sales orders (``create_sales``): ``SAL_SaleOrder`` is queried for ``<ref_field> = '<ref>'`` (quotes
doubled) first, else saved with ``customer_number``, ``sale_org`` and the ref in ``ref_field``.

Errors: business failures come back as HTTP 200 with ``Result.ResponseStatus`` (``[[…]]`` for
ExecuteBillQuery): ``MsgCode`` 1 → ``AuthError``; 4 (unknown form), 8 (empty parameter), 9 (unknown
field) and other refusals → ``PermanentError`` naming Kingdee's messages; HTTP 401/403 → ``AuthError``;
429/5xx/timeouts → ``RetriableError``; a ``response_error:`` body → ``RetriableError`` if it speaks of
a timeout, else ``PermanentError``.

Settings: ``url`` is the server's K/3 Cloud base (``…/K3Cloud/``, any case; the path is kept as
written because the signature covers it). ``acct_id`` is the data centre id; an all-digit one
written without quotes is read as a number and taken as its text (quote an id with leading zeros:
YAML reads ``0123`` as an octal number).

.. code-block:: yaml

    kind: kingdee
    settings: {url: "https://erp.example.com/K3Cloud/", acct_id: 65a0000000000a, username: apiuser,
               app_id: "${KD_APP_ID}", app_secret: "${KD_SECRET}", org_number: "100", warehouses: {CK01: WH1}}
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import Field, HttpUrl, SecretStr, field_validator, model_validator

from connectors.base import Connector, ConnectorSettings, Page, SalesDoc, Stream
from connectors.cursors import MaxCursor
from connectors.http import HttpClient
from connectors.kingdee_api import (
    APP_ID,
    LOGIN,
    SDK_XOR_KEY,
    SERVICE,
    KingdeeAuth,
    kd_datetime,
    kd_literal,
    login_sign,
    reply_status,
    status_error,
)
from connectors.paginate import DEFAULT_MAX_PAGES, PageLoop
from core.errors import AuthError, PermanentError, RetriableError
from core.excerpt import shorten
from core.redact import redact_text, register_secret

STOCK_KEYS = ["FMaterialId.FNumber", "FStockId.FNumber", "FStockOrgId.FNumber", "FLot.FNumber", "FBaseQty"]
PRODUCT_KEYS = ["FNumber", "FName", "FBaseUnitId.FNumber", "FModifyDate", "FMATERIALID"]
PRODUCT_FIELDS = [key.replace(".", "_") for key in PRODUCT_KEYS]
PRODUCT_ORDER = "FModifyDate ASC, FMATERIALID ASC"
STOCK_ORDER = "FMaterialId.FNumber ASC, FStockId.FNumber ASC, FLot.FNumber ASC"
Row = dict[str, Any]
Rows = list[list[Any]]
STREAMS = {
    "products": Stream("products", ("FNumber",), "FModifyDate", kind="products"),
    "stock": Stream("stock", ("sku", "location"), None, snapshot=True, kind="stock"),
}
_TIMEOUT = re.compile(r"time ?out|超时", re.IGNORECASE)


class KingdeeSettings(ConnectorSettings):
    url: HttpUrl
    acct_id: str = Field(min_length=1)
    username: str = Field(min_length=1)
    app_id: str = Field(min_length=1)
    app_secret: SecretStr
    lcid: int = 2052
    org_number: str | None = None
    auth: Literal["signed", "session"] = "signed"
    page_size: int = Field(default=2000, ge=1, le=2000)
    max_pages: int = Field(default=DEFAULT_MAX_PAGES, ge=1)
    stock_filter: str | None = None
    warehouses: dict[str, str] = Field(default_factory=dict)
    create_sales: bool = False
    customer_number: str | None = None
    sale_org: str | None = None
    ref_field: str = Field(default="FNote", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    bill_type: str = "XSDD01_SYS"
    xor_key: SecretStr | None = None
    timeout_s: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=20)

    @field_validator("url")
    @classmethod
    def _k3cloud_base(cls, url: HttpUrl) -> HttpUrl:
        # installations spell it /K3Cloud/ or /k3cloud/ (IIS ignores case); the path is kept as
        # written, since the signature covers it
        if not (url.path or "").rstrip("/").lower().endswith("/k3cloud"):
            raise ValueError("url must be the server's K/3 Cloud base, ending in /K3Cloud/ (any case)")
        return url if str(url).endswith("/") else HttpUrl(f"{url}/")

    @field_validator("acct_id", mode="before")
    @classmethod
    def _acct_id_text(cls, value: object) -> object:
        # an all-digit data-centre id is read by YAML as a number; the API wants the text
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return str(value)
        if isinstance(value, float):
            raise ValueError("acct_id must be the data centre id as text; put it in quotes")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> KingdeeSettings:
        if self.auth == "signed" and not APP_ID.fullmatch(self.app_id):
            raise ValueError(
                "app_id must be '<client id>_<32-character key>' exactly as 第三方系统登录授权 "
                "shows it (signed auth derives its signing key from the part after '_')"
            )
        if self.create_sales and not (self.customer_number and (self.sale_org or self.org_number)):
            raise ValueError("create_sales needs customer_number and sale_org (or org_number)")
        return self


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


class KingdeeConnector(Connector):
    """Reads materials and stock from K/3 Cloud; saves sales orders when ``create_sales`` is on."""

    kind = "kingdee"
    Settings = KingdeeSettings
    default_mappings: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "products": {"sku": "FNumber", "name": "FName", "uom": "FBaseUnitId_FNumber"},
        # a decimal: 2.5 kg reaches the SKU binding, whose uom_factor makes it whole base units
        "stock": {"sku": "sku", "location": "location", "on_hand": {"path": "qty", "convert": ["decimal"]}},
    }

    def __init__(self, name: str, settings: ConnectorSettings) -> None:
        cfg = self.config = KingdeeSettings.model_validate(settings)
        super().__init__(name, cfg)
        appdata = f"{cfg.acct_id},{cfg.username},{cfg.lcid},{cfg.org_number or 0}"
        xor_key = cfg.xor_key.get_secret_value() if cfg.xor_key else SDK_XOR_KEY
        self.auth = KingdeeAuth(cfg.app_id, cfg.app_secret.get_secret_value(), appdata, xor_key)
        self.auth.signed = cfg.auth == "signed"
        self.http = HttpClient(
            name,
            str(cfg.url),
            timeout=(min(5.0, cfg.timeout_s), cfg.timeout_s),
            auth=self.auth,
            max_attempts=cfg.max_attempts,
        )

    @property
    def streams(self) -> Mapping[str, Stream]:
        return STREAMS

    @property
    def cursor_timezone(self) -> str:
        return "Asia/Shanghai"  # FModifyDate is the server's local time, without a zone

    def fetch(self, stream: str, cursor: str | None) -> Iterator[Page]:
        spec = self.stream(stream)
        readers = {"products": lambda: self._products(cursor), "stock": self._stock}
        with self._naming(spec.name):
            yield from readers[spec.name]()

    def check(self) -> None:
        with self._naming("check"):
            self.query("BD_MATERIAL", ["FNumber"], limit=1)

    def close(self) -> None:
        self.http.close()

    def sales_settings_missing(self) -> str | None:
        """What to set before sales orders can be saved (the settings model checks the rest)."""
        return None if self.config.create_sales else "create_sales: true, customer_number and sale_org"

    def create_sales_order(self, doc: SalesDoc) -> str:
        """The ``FID`` of the ``SAL_SaleOrder`` whose ``ref_field`` is ``doc.ref``, saved if missing."""
        cfg = self.config
        if (missing := self.sales_settings_missing()) is not None:
            raise PermanentError("creating sales orders is off", connector=self.name, hint=f"set {missing}")
        with self._naming("sales_orders", doc.ref):
            found = self.query(
                "SAL_SaleOrder", ["FID"], where=f"{cfg.ref_field} = {kd_literal(doc.ref)}", limit=1
            )
            if found:
                return str(found[0][0])
            reply = self.call("Save", {"formid": "SAL_SaleOrder", "data": {"Model": self._sale_model(doc)}})
            status = reply.get("Result", {}).get("ResponseStatus", {}) if isinstance(reply, dict) else {}
            entities = status.get("SuccessEntitys") or [{}]
            if entities[0].get("Id") is None:
                raise PermanentError("Kingdee Save answered success without the new order's Id")
            return str(entities[0]["Id"])

    def call(self, op: str, body: Mapping[str, Any]) -> Any:
        """The decoded reply of ``DynamicFormService.<op>``; errors as in the module docstring."""
        service = SERVICE.format(op=op)
        if self.config.auth == "session" and self.auth.session_id is None:
            self._login()
        reply = self._send(service, body)
        status = reply_status(reply)
        if status is not None and status.get("MsgCode") == 1 and self.config.auth == "session":
            self._login()  # the session expired: one new one, then the call once more
            reply = self._send(service, body)
            status = reply_status(reply)
        if status is not None:
            raise status_error(op, status)
        return reply

    def query(
        self, form: str, keys: list[str], *, where: str = "", order: str = "", start: int = 0, limit: int
    ) -> Rows:
        """Rows of ``ExecuteBillQuery``, each a list of values in ``keys`` order."""
        data: dict[str, Any] = {"FormId": form, "FieldKeys": ",".join(keys), "FilterString": where}
        data |= {"OrderString": order, "TopRowCount": 0, "StartRow": start, "Limit": limit}
        rows = self.call("ExecuteBillQuery", {"data": data})
        if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == len(keys) for r in rows):
            raise PermanentError(f"ExecuteBillQuery on {form} did not answer rows of {len(keys)} values")
        return rows

    def _send(self, service: str, body: Any) -> Any:
        response = self.http.request("POST", service, json=body)
        text = response.text.lstrip()
        if text.startswith("response_error:"):
            said = shorten(redact_text(text.removeprefix("response_error:").strip()), 300)
            error = RetriableError if _TIMEOUT.search(said) else PermanentError
            raise error(f"Kingdee {service.split('.')[-3]} failed: {said}")
        return self.http.json_of(response)

    def _login(self) -> None:
        cfg = self.config
        ts = str(int(time.time()))
        secret = cfg.app_secret.get_secret_value()
        sign = login_sign(cfg.acct_id, cfg.username, cfg.app_id, secret, ts)
        params = [cfg.acct_id, cfg.username, cfg.app_id, int(ts), sign, cfg.lcid]
        self.auth.session_id = None
        reply = self.http.post_json(LOGIN, json={"parameters": params})
        reply = reply if isinstance(reply, dict) else {}
        session = reply.get("KDSVCSessionId")
        if reply.get("LoginResultType") != 1 or not isinstance(session, str) or not session:
            said = shorten(redact_text(str(reply.get("Message") or "no message")), 300)
            raise AuthError(f"Kingdee LoginBySign refused {cfg.username!r} on {cfg.acct_id}: {said}")
        register_secret(session)
        self.auth.session_id = session

    def _rows(self, form: str, keys: list[str], where: str, order: str) -> Iterator[tuple[Rows, bool]]:
        """Pages of ``form`` rows by ``StartRow``/``Limit`` up to a short page, each with "is last"."""
        size, start = self.config.page_size, 0
        loop = PageLoop(f"Kingdee {form}", self.config.max_pages)
        while True:
            loop.advance(start, f"StartRow {start}")
            rows = self.query(form, keys, where=where, order=order, start=start, limit=size)
            loop.page(rows, f"StartRow {start}")  # a server ignoring StartRow serves page 1 again
            yield rows, len(rows) < size
            if len(rows) < size:
                return
            start += size

    def _products(self, cursor: str | None) -> Iterator[Page]:
        org = self.config.org_number
        where = [f"FUseOrgId.FNumber = {kd_literal(org)}"] if org else []
        where += [f"FModifyDate >= {kd_datetime(cursor)}"] if cursor else []
        seen = MaxCursor(cursor)
        for rows, last in self._rows("BD_MATERIAL", PRODUCT_KEYS, " and ".join(where), PRODUCT_ORDER):
            records = [dict(zip(PRODUCT_FIELDS, row, strict=True)) for row in rows]
            seen.update(record["FModifyDate"] for record in records)
            yield Page(records, cursor=seen.value, last=last)

    def _stock(self) -> Iterator[Page]:
        """The whole inventory summed per (material, location), then emitted in pages."""
        cfg = self.config
        where = ["FBaseQty <> 0"] + (
            [f"FStockOrgId.FNumber = {kd_literal(cfg.org_number)}"] if cfg.org_number else []
        )
        where += [f"({cfg.stock_filter})"] if cfg.stock_filter else []
        levels: dict[tuple[Any, str], Row] = {}
        for rows, _ in self._rows("STK_Inventory", STOCK_KEYS, " and ".join(where), STOCK_ORDER):
            for material, stock, org, _lot, qty in rows:
                location = self._location(str(stock or ""), str(org or ""))
                if location is None:
                    continue
                level = levels.setdefault(
                    (material, location),
                    {"sku": material, "location": location, "stock": stock, "qty": Decimal(0), "lots": 0},
                )
                level["qty"] += Decimal(str(qty or 0))
                level["lots"] += 1
        records = [level | {"qty": _number(level["qty"])} for level in levels.values()]
        size = cfg.page_size
        for at in range(0, max(len(records), 1), size):
            yield Page(records[at : at + size], last=at + size >= len(records))

    def _location(self, stock: str, org: str) -> str | None:
        table = self.config.warehouses
        return table.get(f"{org}/{stock}") or table.get(stock) if table else stock

    def _sale_model(self, doc: SalesDoc) -> dict[str, Any]:
        cfg = self.config
        entries = [
            {"FMaterialId": {"FNumber": ln.sku}, "FQty": ln.qty, "FTaxPrice": float(ln.unit_price)}
            for ln in doc.lines
        ]
        return {
            "FBillTypeID": {"FNUMBER": cfg.bill_type},
            "FDate": date.today().isoformat(),
            "FSaleOrgId": {"FNumber": cfg.sale_org or cfg.org_number},
            "FCustId": {"FNumber": cfg.customer_number},
            cfg.ref_field: doc.ref,
            "FSaleOrderEntry": entries,
        }
