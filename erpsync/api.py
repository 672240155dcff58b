"""The HTTP API ``erpsync run`` serves: health, metrics, dispatch instructions, acknowledgements, shipments.

``create_app(engine, tokens, ...)`` gives a FastAPI app (OpenAPI at ``/openapi.json``, docs at ``/docs``):

- ``GET /healthz`` (no token): 200 when healthy, 503 when not, with the details;
- ``GET /metrics`` (any token): Prometheus text from ``erpsync.metrics``;
- ``GET /dispatch?status=&limit=`` and ``GET /dispatch/{number}`` (any token): instructions;
- ``POST /dispatch/{number}/ack`` (warehouse, admin): optional body ``{"by": "..."}``;
- ``POST /dispatch/{number}/shipments`` (warehouse, admin): ``{"carrier", "tracking_no", "lines",
  "shipped_at"}``, ``lines`` null for everything left on the instruction.

**Tokens** (``ApiTokenSpec``): ``Authorization: Bearer <token>``, compared in constant time with
every configured token. None or unknown: 401 with ``WWW-Authenticate: Bearer``; a role that may not
do it: 403. An *admin* may do everything; a *viewer* reads; a *warehouse* token sees and changes
only the instructions of its ``locations``: another location's instruction is absent from its
lists, 404 for ``GET`` (its existence is not disclosed) and 403 for ``POST``.

**Signed requests**: when an instruction's location has a secret in ``location_secrets``, every
``POST`` about it (whatever the token's role) must carry ``X-Erpsync-Timestamp``,
``X-Erpsync-Nonce`` and ``X-Erpsync-Signature`` over the raw body (``routing.signing``, window 300 s).
Nonces are kept in ``nonce_store`` (default: the store's ``request_nonce`` table, shared by every
process). A refused signature is a 401 naming the failed check, never the secret.

**Order of checks** for a ``POST``: token (401) → role (403) → instruction exists (404) and belongs
to the token's locations (403) → signature (401) → body (422) → the change (``routing.dispatch``;
an order that may not move is 409). Acknowledging or reporting a parcel again answers 200 and
changes nothing.

**Health**: ``erpsync.metrics.health_report`` with ``health()`` (the service's own checks) and
``staleness`` (the longest a stream may go without a successful run).
Nothing here logs a token, a secret or a body.

>>> app = create_app(engine, [ApiTokenSpec("wh-gz", token, "warehouse", {"DS-GZ"})])
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Annotated, Any, Literal, TypeVar

import structlog
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Connection, Engine, select

from erpsync.metrics import health_report, metrics_registry
from mapping.records import KEY
from routing import dispatch, shipments
from routing.signing import NonceStore, SignatureError, verify
from store.models import DispatchInstruction, Location, SalesOrder
from store.nonces import SqlNonceStore
from store.orders import IllegalTransition

Role = Literal["admin", "warehouse", "viewer"]
SIGNATURE_WINDOW = 300
_NOTHING: Mapping[Any, Any] = MappingProxyType({})
log = structlog.get_logger("erpsync.api")


@dataclass(frozen=True)
class ApiTokenSpec:
    """A bearer token the API accepts; ``locations`` scopes a warehouse token."""

    name: str
    token: str = field(repr=False)
    role: Role
    locations: Collection[str] = ()


@dataclass(frozen=True)
class Caller:
    """Who a request's token belongs to."""

    name: str
    role: Role
    locations: frozenset[str]

    @property
    def scope(self) -> set[str] | None:
        """The locations this caller is limited to (None: every location)."""
        return set(self.locations) if self.role == "warehouse" else None


# -- request and response bodies -------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt "lines" must not ship everything


class AckIn(_Strict):
    by: str | None = Field(default=None, min_length=1, max_length=64, description="who acknowledged")


class ShippedLineIn(_Strict):
    line_no: int = Field(ge=1)
    qty: int = Field(ge=1)


class ShipmentIn(_Strict):
    carrier: str = Field(min_length=1, max_length=64)
    tracking_no: Annotated[str, Field(min_length=1, max_length=64), KEY]
    lines: list[ShippedLineIn] | None = Field(default=None, min_length=1, description="null: everything")
    shipped_at: AwareDatetime | None = None

    @field_validator("lines")
    @classmethod
    def _distinct(cls, lines: list[ShippedLineIn] | None) -> list[ShippedLineIn] | None:
        if lines is not None and len({ln.line_no for ln in lines}) != len(lines):
            raise ValueError("each line_no may appear once")
        return lines


class InstructionSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    number: str
    status: str
    location: str
    channel: str
    external_id: str
    due_at: datetime | None
    send_count: int
    tracking_no: str | None


class InstructionLine(BaseModel):
    line_no: int
    sku: str
    description: str | None
    qty: int
    uom: str


class InstructionDetail(InstructionSummary):
    carrier: str | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    shipped_at: datetime | None
    lines: list[InstructionLine]


class AckOut(BaseModel):
    number: str
    status: str


class ShipmentOut(BaseModel):
    number: str
    order_status: str


# -- the app's state -------------------------------------------------------------------------------


@dataclass
class _Context:
    engine: Engine
    callers: list[tuple[bytes, Caller]] = field(repr=False)
    secrets: Mapping[str, str] = field(repr=False)
    nonces: NonceStore
    registry: CollectorRegistry
    health: Callable[[], dict[str, Any]] | None
    staleness: Mapping[tuple[str, str], timedelta]
    clock: Callable[[], float]
    started: float

    def identify(self, token: str | None) -> Caller:
        given = (token or "").encode()
        found = None
        for known, caller in self.callers:  # no early exit: the time taken says nothing
            if hmac.compare_digest(known, given) and found is None and given:
                found = caller
        if found is None:
            raise HTTPException(
                401, "missing or unknown bearer token", headers={"WWW-Authenticate": "Bearer"}
            )
        return found

    def check_signed(self, number: str, caller: Caller, headers: Mapping[str, str], body: bytes) -> None:
        with self.engine.connect() as conn:
            location = conn.execute(
                select(Location.code)
                .join(DispatchInstruction, DispatchInstruction.location_id == Location.id)
                .where(DispatchInstruction.number == number)
            ).scalar()
        if location is None:
            raise dispatch.NotFound(f"no dispatch instruction {number}")
        if caller.scope is not None and location not in caller.scope:
            log.info("dispatch change refused: another location", caller=caller.name, number=number)
            raise dispatch.Forbidden(f"dispatch instruction {number} belongs to another location")
        secret = self.secrets.get(location)
        if secret is None:
            return
        try:
            verify(secret, headers, body, now=int(self.clock()), window=SIGNATURE_WINDOW, seen=self.nonces)
        except SignatureError as exc:
            log.info("signed request refused", caller=caller.name, number=number, reason=exc.reason)
            raise


# -- dependencies ----------------------------------------------------------------------------------

_BEARER = HTTPBearer(auto_error=False, description="an api token from the config (`api.tokens`)")
_WRITERS = ("admin", "warehouse")


def _context(request: Request) -> _Context:
    context: _Context = request.app.state.erpsync
    return context


Ctx = Annotated[_Context, Depends(_context)]


def _caller(
    ctx: Ctx, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]
) -> Caller:
    return ctx.identify(credentials.credentials if credentials else None)


AnyCaller = Annotated[Caller, Depends(_caller)]


def _writer(caller: AnyCaller) -> Caller:
    if caller.role not in _WRITERS:
        raise HTTPException(403, f"a {caller.role} token may not change dispatch instructions")
    return caller


Writer = Annotated[Caller, Depends(_writer)]


async def _raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]
M = TypeVar("M", bound=BaseModel)


def _parse(model: type[M], body: bytes) -> M:
    """``body`` as ``model`` (an empty body is ``{}``); 422 with the errors, never the values, if not."""
    try:
        return model.model_validate_json(body if body.strip() else b"{}")
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from None


def _body_doc(model: type[BaseModel], *, required: bool) -> dict[str, Any]:
    """An OpenAPI ``requestBody`` for a body the handler parses itself (nested models inlined)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        return [inline(v) for v in node] if isinstance(node, list) else node

    return {
        "requestBody": {"required": required, "content": {"application/json": {"schema": inline(schema)}}}
    }


# -- routes ----------------------------------------------------------------------------------------

_routes = APIRouter()


@_routes.get("/healthz", tags=["system"], responses={503: {"description": "not healthy"}})
def healthz(ctx: Ctx) -> JSONResponse:
    """Whether the service is healthy: database, scheduler and stream staleness."""
    report = health_report(ctx.engine, ctx.health, ctx.staleness, uptime=ctx.clock() - ctx.started)
    return JSONResponse(report, status_code=200 if report["ok"] else 503)


@_routes.get("/metrics", tags=["system"], response_class=Response)
def metrics(ctx: Ctx, caller: AnyCaller) -> Response:
    """Prometheus metrics, read from the store now."""
    return Response(generate_latest(ctx.registry), media_type=CONTENT_TYPE_LATEST)


@_routes.get("/dispatch", tags=["dispatch"])
def list_dispatch(
    ctx: Ctx,
    caller: AnyCaller,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[InstructionSummary]:
    """Dispatch instructions the token may see, newest first."""
    with ctx.engine.connect() as conn:
        rows = dispatch.list_instructions(conn, status=status, locations=caller.scope, limit=limit)
    return [InstructionSummary.model_validate(r) for r in rows]


@_routes.get("/dispatch/{number}", tags=["dispatch"])
def get_dispatch(number: str, ctx: Ctx, caller: AnyCaller) -> InstructionDetail:
    """One dispatch instruction with its lines (404 for another location's)."""
    with ctx.engine.connect() as conn:
        return _detail(conn, number, caller.scope)


@_routes.post("/dispatch/{number}/ack", tags=["dispatch"], openapi_extra=_body_doc(AckIn, required=False))
def acknowledge(number: str, ctx: Ctx, caller: Writer, body: RawBody, request: Request) -> AckOut:
    """Acknowledge an instruction; the instruction's status afterwards (idempotent)."""
    ctx.check_signed(number, caller, request.headers, body)
    ack = _parse(AckIn, body)
    by = f"{ack.by} ({caller.name})" if ack.by else caller.name
    status = dispatch.acknowledge(ctx.engine, number, by=by[:128], locations=caller.scope)
    return AckOut(number=number, status=status)


@_routes.post(
    "/dispatch/{number}/shipments", tags=["dispatch"], openapi_extra=_body_doc(ShipmentIn, required=True)
)
def report_shipment(number: str, ctx: Ctx, caller: Writer, body: RawBody, request: Request) -> ShipmentOut:
    """Report a parcel; the order's status afterwards (the same tracking number twice changes nothing)."""
    ctx.check_signed(number, caller, request.headers, body)
    parcel = _parse(ShipmentIn, body)
    lines = [shipments.ShippedLine(ln.line_no, ln.qty) for ln in parcel.lines] if parcel.lines else None
    order_status = shipments.report_shipment(
        ctx.engine,
        number,
        carrier=parcel.carrier,
        tracking_no=parcel.tracking_no,
        lines=lines,
        shipped_at=parcel.shipped_at,
        locations=caller.scope,
    )
    return ShipmentOut(number=number, order_status=order_status)


def _detail(conn: Connection, number: str, scope: set[str] | None) -> InstructionDetail:
    row = conn.execute(
        select(DispatchInstruction.__table__, Location.code, SalesOrder.channel, SalesOrder.external_id)
        .join(Location, Location.id == DispatchInstruction.location_id)
        .join(SalesOrder, SalesOrder.id == DispatchInstruction.order_id)
        .where(DispatchInstruction.number == number)
    ).first()
    if row is None or (scope is not None and row.code not in scope):
        raise dispatch.NotFound(f"no dispatch instruction {number}")
    lines = dispatch.instruction_document(conn, row.id, "dispatch", None)["lines"]
    return InstructionDetail.model_validate({**row._asdict(), "location": row.code, "lines": lines})


# -- the app ---------------------------------------------------------------------------------------

_STATUS = {dispatch.NotFound: 404, dispatch.Forbidden: 403, IllegalTransition: 409, SignatureError: 401}


async def _refused(request: Request, exc: Exception) -> JSONResponse:
    status = next(code for kind, code in _STATUS.items() if isinstance(exc, kind))
    if isinstance(exc, SignatureError):
        detail, headers = f"signature refused: {exc.reason}", {"WWW-Authenticate": "Erpsync-Signature"}
    else:
        detail, headers = getattr(exc, "message", str(exc)), None
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def create_app(
    engine: Engine,
    tokens: Sequence[ApiTokenSpec],
    *,
    location_secrets: Mapping[str, str] = _NOTHING,
    nonce_store: NonceStore | None = None,
    health: Callable[[], dict[str, Any]] | None = None,
    staleness: Mapping[tuple[str, str], timedelta] = _NOTHING,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The API app over ``engine`` accepting ``tokens`` (see the module docstring)."""
    app = FastAPI(title="erpsync", description="Health, metrics and dispatch instructions for warehouses.")
    app.state.erpsync = _Context(
        engine=engine,
        callers=[(t.token.encode(), Caller(t.name, t.role, frozenset(t.locations))) for t in tokens],
        secrets=dict(location_secrets),
        nonces=nonce_store if nonce_store is not None else SqlNonceStore(engine, clock=clock),
        registry=metrics_registry(engine),
        health=health,
        staleness=dict(staleness),
        clock=clock,
        started=clock(),
    )
    app.include_router(_routes)
    for kind in _STATUS:
        app.add_exception_handler(kind, _refused)
    return app


__all__ = ["AckIn", "ApiTokenSpec", "Caller", "InstructionDetail", "ShipmentIn", "create_app"]
