"""The generic REST/JSON connector: an in-house ERP or a distributor's API, configured in YAML.

Each stream is a path, its parameters, where the records are in the body (``record_path``, jmespath;
``"@"`` for a top-level list), how to page (see :mod:`connectors.paginate`) and, for incremental
reads, the cursor field and the query parameter that receives the saved cursor. POST streams send
their parameters (paging ones too) as the JSON body. ``kind`` says what the records are (``stock``,
``stock_moves``, ``products``, ``orders``, ``shipments``, ...: ``sync.kinds``); left out, it is the
stream's name, so a stream called ``stock`` carries stock levels and one called ``inventory`` needs
``kind: stock``.

.. code-block:: yaml

    kind: rest
    base_url: https://erp.example.com/api/v2
    auth: {type: bearer, token: "${ERP_TOKEN}"}
    headers: {Accept-Language: zh-CN}
    secret_headers: {X-Shop-Code: "${ERP_SHOP_CODE}"}   # any header that carries a credential
    rate_limit: {per_second: 5, burst: 10}
    streams:
      inventory:
        kind: stock
        path: inventory
        record_path: data.items
        primary_key: [sku, warehouse]
        cursor_field: updated_at
        cursor_param: updated_since
        paginator: {type: page, size: 200}
        error: {when: "success == `false`", message: msg}

Many APIs answer a failure with HTTP 200 and a body such as ``{"success": false, "msg": "…",
"items": []}``. Left alone, that reads as an empty page — and an empty stock snapshot. A stream's
``error`` block says how a failed answer looks: ``when``, a jmespath test that is true for a
failure (``success == `false```), and/or ``code``, the path of an error code that is a failure
unless it is one of ``ok_codes`` (default ``[0]``; a missing code is no failure); ``message`` is
where the upstream's own words are. Such an answer stops the read with ``PermanentError`` naming
the connector, stream, request, code and message (secrets masked).

``headers`` are sent with every request. A header whose name says it holds a credential
(``Authorization``, ``X-Api-Key``, ``X-Auth-Token``...: :func:`core.redact.is_sensitive_key`)
is a secret: masked by ``config validate --show``, and its value, and the bare credential of a
``Bearer …`` or ``Basic …`` value, are registered for redaction, so neither a log line nor an error
(a 401 body quoting the token back, ``sync_run.error``) shows it. ``secret_headers`` does the same
for headers with any other name.

Errors are the HTTP client's (:mod:`connectors.http`), plus ``PermanentError`` for a ``record_path``
that does not select a list of objects or a declared error answer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal, TypeVar

import jmespath
import requests
from pydantic import Field, HttpUrl, SecretStr, model_validator
from requests.auth import AuthBase

from connectors.base import Connector, ConnectorSettings, Fulfilment, Page, PushResult, StockUpdate, Stream
from connectors.cursors import MaxCursor
from connectors.http import BasicAuth, BearerAuth, HeaderAuth, HttpClient, QueryParamAuth
from connectors.paginate import AnyPaginator, Fetch, JmesPath, NoPaginator, RequestSpec, iter_pages
from connectors.ratelimit import rate_limiter
from core.errors import PermanentError
from core.excerpt import shorten
from core.redact import is_sensitive_key, redact_text, register_secret

_T = TypeVar("_T")


class NoAuthSettings(ConnectorSettings):
    type: Literal["none"] = "none"

    def build(self) -> AuthBase | None:
        return None


class BearerAuthSettings(ConnectorSettings):
    type: Literal["bearer"] = "bearer"
    token: SecretStr

    def build(self) -> AuthBase:
        return BearerAuth(self.token.get_secret_value())


class BasicAuthSettings(ConnectorSettings):
    type: Literal["basic"] = "basic"
    username: str
    password: SecretStr

    def build(self) -> AuthBase:
        return BasicAuth(self.username, self.password.get_secret_value())


class ApiKeyAuthSettings(ConnectorSettings):
    type: Literal["api_key"] = "api_key"
    name: str
    value: SecretStr
    in_: Literal["header", "query"] = Field(default="header", alias="in")

    def build(self) -> AuthBase:
        auth = HeaderAuth if self.in_ == "header" else QueryParamAuth
        return auth(self.name, self.value.get_secret_value())


RestAuth = Annotated[
    NoAuthSettings | BearerAuthSettings | BasicAuthSettings | ApiKeyAuthSettings, Field(discriminator="type")
]


class RateLimitSettings(ConnectorSettings):
    per_second: float = Field(gt=0)
    burst: int = Field(default=1, ge=1)


class ErrorAnswer(ConnectorSettings):
    """How an answer with HTTP 200 says it failed (see the module docstring)."""

    when: JmesPath | None = None
    code: JmesPath | None = None
    ok_codes: list[str | int] = Field(default=[0], min_length=1)
    message: JmesPath | None = None

    @model_validator(mode="after")
    def _says_how(self) -> ErrorAnswer:
        if self.when is None and self.code is None:
            raise ValueError(
                "give `when` (a jmespath test for a failed answer) or `code` (an error code's path)"
            )
        return self

    def failure(self, body: Any) -> str | None:
        """What the failed answer ``body`` says (code and message), or None when it is no failure."""
        code = jmespath.search(self.code, body) if self.code else None
        failed = self.when is not None and _truthy(jmespath.search(self.when, body))
        failed = failed or (code is not None and str(code) not in {str(ok) for ok in self.ok_codes})
        if not failed:
            return None
        said = jmespath.search(self.message, body) if self.message else None
        text = f"code {code}" if code is not None else ""
        text += (": " if text else "") + (str(said) if said not in (None, "") else "no message")
        return shorten(redact_text(text), 300)


def _truthy(value: Any) -> bool:
    """jmespath's truth: false, null, empty text, list or object are false; 0 is true."""
    if value is None or value is False:
        return False
    return bool(value) if isinstance(value, str | list | dict) else True


class RestStream(ConnectorSettings):
    kind: str | None = Field(default=None, min_length=1)
    path: str
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, Any] = Field(default_factory=dict)
    record_path: JmesPath = "@"
    primary_key: list[str] = Field(min_length=1)
    cursor_field: str | None = None
    cursor_param: str | None = None
    sorted_by_cursor: bool = True
    snapshot: bool = False
    paginator: AnyPaginator = Field(default_factory=NoPaginator)
    error: ErrorAnswer | None = None

    @model_validator(mode="after")
    def _cursor_param_needs_field(self) -> RestStream:
        if self.cursor_param and not self.cursor_field:
            raise ValueError("cursor_param is set but cursor_field is not: no cursor would ever be saved")
        return self


class StockPushSettings(ConnectorSettings):
    """Where erpsync sends stock: ``POST {path}`` with ``{"updates": [{"sku", "quantity",
    "expected", "ref"}]}``, answered by ``{"results": [{"sku", "status": "ok"|"conflict"|"error",
    "actual", "message"}]}`` in the same order (``conflict``: ``expected`` no longer held)."""

    path: str
    batch: int = Field(default=50, ge=1, le=1000)


class StockReadSettings(ConnectorSettings):
    """Where erpsync reads back what the channel shows: ``GET {path}?{param}=a,b,c``."""

    path: str
    param: str = "skus"
    record_path: JmesPath = "items"
    sku_field: str = "sku"
    qty_field: str = "quantity"


class FulfilmentPushSettings(ConnectorSettings):
    """Where erpsync reports shipments: ``POST {path}`` with ``{"order_id", "carrier",
    "tracking_no", "lines": [{"line_id", "sku", "qty"}], "ref"}`` (``{order_id}`` in the path is
    replaced by the order's id); any 2xx answer means recorded."""

    path: str


class RestSettings(ConnectorSettings):
    base_url: HttpUrl
    auth: RestAuth = Field(default_factory=NoAuthSettings)
    headers: dict[str, str] = Field(default_factory=dict)
    secret_headers: dict[str, SecretStr] = Field(default_factory=dict)
    timeout_s: float = Field(default=30.0, gt=0)
    rate_limit: RateLimitSettings | None = None
    max_attempts: int = Field(default=5, ge=1, le=20)
    check_path: str | None = None
    streams: dict[str, RestStream] = Field(default_factory=dict)
    stock_push: StockPushSettings | None = None
    stock_read: StockReadSettings | None = None
    fulfilment_push: FulfilmentPushSettings | None = None

    @model_validator(mode="after")
    def _does_something(self) -> RestSettings:
        if not self.streams and self.stock_push is None and self.fulfilment_push is None:
            raise ValueError("a rest connector needs at least one stream to read or `stock_push` to write")
        return self


class RestConnector(Connector):
    """Reads the streams a :class:`RestSettings` declares; no default field maps (payloads vary)."""

    kind = "rest"
    Settings = RestSettings

    def __init__(self, name: str, settings: ConnectorSettings) -> None:
        settings = self.config = RestSettings.model_validate(settings)  # as is when already RestSettings
        super().__init__(name, settings)
        limit = settings.rate_limit
        secret = {header: value.get_secret_value() for header, value in settings.secret_headers.items()}
        for header, value in (settings.headers | secret).items():
            if header in secret or is_sensitive_key(header):
                register_secret(value)
        self.http = HttpClient(
            name,
            str(settings.base_url),
            timeout=(min(5.0, settings.timeout_s), settings.timeout_s),
            headers=settings.headers | secret,
            auth=settings.auth.build(),
            limiter=rate_limiter(name, limit.per_second, limit.burst) if limit else None,
            max_attempts=settings.max_attempts,
        )

    @property
    def streams(self) -> Mapping[str, Stream]:
        return {
            name: Stream(
                name,
                tuple(spec.primary_key),
                spec.cursor_field,
                spec.snapshot,
                kind=spec.kind or name,
                paginator=spec.paginator,
            )
            for name, spec in self.config.streams.items()
        }

    def fetch(self, stream: str, cursor: str | None) -> Iterator[Page]:
        meta = self.stream(stream)
        spec = self.config.streams[meta.name]
        params = dict(spec.params)
        if cursor is not None and spec.cursor_param:
            params[spec.cursor_param] = cursor
        seen = MaxCursor(cursor)
        pages = meta.paginator or NoPaginator()
        with self._naming(stream):
            for page in iter_pages(pages, RequestSpec(spec.path, params), self._fetcher(spec)):
                if spec.cursor_field:
                    seen.update(record.get(spec.cursor_field) for record in page.records)
                saved = seen.value if (spec.sorted_by_cursor or page.last) and spec.cursor_field else None
                yield Page(page.records, cursor=saved, last=page.last)

    def check(self) -> None:
        if self.config.check_path is not None:
            self.http.request("GET", self.config.check_path)
            return
        stream, spec = next(iter(self.config.streams.items()))
        with self._naming(stream):
            self._fetcher(spec)(spec.paginator.first_request(RequestSpec(spec.path, spec.params)))

    def close(self) -> None:
        self.http.close()

    @property
    def push_batch_limit(self) -> int:
        return self.config.stock_push.batch if self.config.stock_push else 0

    def push_stock(self, updates: list[StockUpdate]) -> list[PushResult]:
        """Send stock updates in one request (see ``StockPushSettings`` for the exchange)."""
        spec = self._needs(self.config.stock_push, "stock_push")
        body = {
            "updates": [
                {"sku": u.sku, "quantity": u.quantity, "expected": u.expected, "ref": u.ref} for u in updates
            ]
        }
        with self._naming("stock_push"):
            reply = self.http.post_json(spec.path, json=body)
        results = reply.get("results") if isinstance(reply, dict) else None
        if not isinstance(results, list) or len(results) != len(updates):
            raise PermanentError(
                f"stock push to {spec.path} did not answer one result per update",
                connector=self.name,
                stream="stock_push",
            )
        return [
            PushResult(str(r.get("sku")), str(r.get("status")), r.get("actual"), str(r.get("message") or ""))
            for r in results
        ]

    def read_stock(self, skus: list[str]) -> dict[str, int]:
        """What the channel shows now for ``skus``."""
        spec = self._needs(self.config.stock_read, "stock_read")
        with self._naming("stock_read"):
            reply = self.http.get_json(spec.path, params={spec.param: ",".join(skus)})
        records = jmespath.search(spec.record_path, reply) or []
        return {
            str(r[spec.sku_field]): int(r[spec.qty_field])
            for r in records
            if isinstance(r, dict) and r.get(spec.sku_field) is not None and r.get(spec.qty_field) is not None
        }

    def push_fulfilment(self, fulfilment: Fulfilment) -> None:
        """Report a shipped parcel with its tracking number (see ``FulfilmentPushSettings``)."""
        spec = self._needs(self.config.fulfilment_push, "fulfilment_push")
        body = {
            "order_id": fulfilment.order_id,
            "carrier": fulfilment.carrier,
            "tracking_no": fulfilment.tracking_no,
            "lines": [{"line_id": ln.line_id, "sku": ln.sku, "qty": ln.qty} for ln in fulfilment.lines],
            "ref": fulfilment.ref,
        }
        with self._naming("fulfilment_push"):
            self.http.request(
                "POST",
                spec.path.replace("{order_id}", fulfilment.order_id),
                json=body,
                headers={"Idempotency-Key": fulfilment.ref} if fulfilment.ref else None,
            )

    def _needs(self, spec: _T | None, key: str) -> _T:
        if spec is None:
            raise PermanentError(
                f"connector has no `{key}` settings",
                connector=self.name,
                hint=f"add `{key}:` to this connector's settings",
            )
        return spec

    def _fetcher(self, spec: RestStream) -> Fetch:
        record_path = jmespath.compile(spec.record_path)

        def fetch_page(request: RequestSpec) -> tuple[requests.Response, list[dict[str, Any]]]:
            if spec.method == "POST":
                response = self.http.request("POST", request.path, json=dict(request.params))
            else:
                response = self.http.request("GET", request.path, params=request.params)
            body = self.http.json_of(response)
            failure = spec.error.failure(body) if spec.error is not None else None
            if failure is not None:
                raise PermanentError(
                    f"the API answered {request.describe()} with a failure: {failure}",
                    hint="nothing of this answer was applied; check the upstream system",
                )
            records = record_path.search(body)
            if records is None:
                return response, []
            if not isinstance(records, list) or not all(isinstance(item, dict) for item in records):
                raise PermanentError(
                    f"record_path {spec.record_path!r} did not select a list of objects in the response "
                    f"to {request.describe()}",
                    hint="fix the stream's record_path (use '@' for a top-level list)",
                )
            return response, records

        return fetch_page
