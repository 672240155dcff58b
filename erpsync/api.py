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
lists and answered exactly like a number that does not exist (404), so a token cannot learn
which numbers exist elsewhere. Two entries holding one token are refused (``ValueError``).

**Signed requests**: when an instruction's location has a secret in ``location_secrets``, every
``POST`` about it (whatever the token's role) must carry ``X-Erpsync-Timestamp``,
``X-Erpsync-Nonce`` and ``X-Erpsync-Signature`` over method, path and query, timestamp, nonce and
raw body (``delivery.signing``, window 300 s; ``docs/api.md`` has the canonical string). Nonces are
kept in ``nonce_store`` (default: the store's ``request_nonce`` table, shared by every process).
A refused signature is a 401 naming the failed check, never the secret.

**Bodies** (``erpsync.api_models``): at most ``max_body_bytes`` (default 1 MiB; more is 413
before anything is read), unknown keys, control characters in text and quantities that are not
whole numbers from 1 to ``MAX_QTY`` are 422.

**Order of checks** for a ``POST``: body size (413) → token (401) → role (403) → instruction
exists and belongs to the token's locations (404 either way) → signature (401) → body (422) → the
change (``routing.dispatch``, ``routing.shipments``; an order that may not move, or a parcel
with more than is left to ship, is 409). Acknowledging or reporting the same parcel (same
tracking number) again answers 200 and changes nothing.

**Health**: ``erpsync.metrics.health_report`` with ``health()`` (the service's own checks) and
``staleness`` (the longest a stream may go without a successful run).
Nothing here logs a token, a secret or a body.

>>> app = create_app(engine, [ApiTokenSpec("wh-gz", token, "warehouse", {"DS-GZ"})])
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Annotated, Any, Literal, TypeVar

import structlog
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, Engine

from delivery.signing import NonceStore, SignatureError, verify
from erpsync.api_models import AckIn, AckOut, InstructionDetail, InstructionSummary, ShipmentIn, ShipmentOut
from erpsync.body_limit import DEFAULT_LIMIT, BodyLimit
from erpsync.metrics import health_report, metrics_registry
from routing import dispatch, queries, shipments
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

    def check_signed(self, number: str, caller: Caller, request: Request, body: bytes) -> None:
        with self.engine.connect() as conn:
            found = queries.get_instruction(conn, number)
        location = found.location if found is not None else None
        if location is None or (caller.scope is not None and location not in caller.scope):
            if location is not None:
                log.info("dispatch change refused: another location", caller=caller.name, number=number)
            # the same answer as for a number that does not exist: its existence is not disclosed
            raise dispatch.NotFound(f"no dispatch instruction {number}")
        secret = self.secrets.get(location)
        if secret is None:
            return
        try:
            verify(
                secret,
                request.headers,
                body,
                method=request.method,
                target=_target(request),
                now=self.clock(),
                window=SIGNATURE_WINDOW,
                seen=self.nonces,
            )
        except SignatureError as exc:
            log.info("signed request refused", caller=caller.name, number=number, reason=exc.reason)
            raise


def _target(request: Request) -> str:
    """The request's path and query as the client put them on the request line (what it signed)."""
    path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    query: bytes = request.scope.get("query_string") or b""
    return path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")


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
        rows = queries.list_instructions(conn, status=status, locations=caller.scope, limit=limit)
    return [InstructionSummary.model_validate(r) for r in rows]


@_routes.get("/dispatch/{number}", tags=["dispatch"])
def get_dispatch(number: str, ctx: Ctx, caller: AnyCaller) -> InstructionDetail:
    """One dispatch instruction with its lines (404 for another location's)."""
    with ctx.engine.connect() as conn:
        return _detail(conn, number, caller.scope)


@_routes.post("/dispatch/{number}/ack", tags=["dispatch"], openapi_extra=_body_doc(AckIn, required=False))
def acknowledge(number: str, ctx: Ctx, caller: Writer, body: RawBody, request: Request) -> AckOut:
    """Acknowledge an instruction; the instruction's status afterwards (idempotent)."""
    ctx.check_signed(number, caller, request, body)
    ack = _parse(AckIn, body)
    by = f"{ack.by} ({caller.name})" if ack.by else caller.name
    status = dispatch.acknowledge(ctx.engine, number, by=by[:128], locations=caller.scope)
    return AckOut(number=number, status=status)


@_routes.post(
    "/dispatch/{number}/shipments", tags=["dispatch"], openapi_extra=_body_doc(ShipmentIn, required=True)
)
def report_shipment(number: str, ctx: Ctx, caller: Writer, body: RawBody, request: Request) -> ShipmentOut:
    """Report a parcel; the order's status afterwards (the same tracking number twice changes nothing)."""
    ctx.check_signed(number, caller, request, body)
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
    head = queries.get_instruction(conn, number, locations=scope)
    if head is None:  # another location's instruction is answered like a missing one
        raise dispatch.NotFound(f"no dispatch instruction {number}")
    lines = dispatch.instruction_document(conn, head.id, "dispatch", None)["lines"]
    return InstructionDetail.model_validate({**asdict(head), "lines": lines})


# -- the app ---------------------------------------------------------------------------------------

_STATUS = {
    dispatch.NotFound: 404,
    dispatch.Forbidden: 404,
    IllegalTransition: 409,
    dispatch.NotAllowed: 409,
    SignatureError: 401,
}


async def _refused(request: Request, exc: Exception) -> JSONResponse:
    status = next(code for kind, code in _STATUS.items() if isinstance(exc, kind))
    if isinstance(exc, SignatureError):
        detail, headers = f"signature refused: {exc.reason}", {"WWW-Authenticate": "Erpsync-Signature"}
    elif isinstance(exc, dispatch.Forbidden):
        # another location's instruction is answered like a missing one
        detail, headers = f"no dispatch instruction {request.path_params.get('number', '')}", None
    elif isinstance(exc, dispatch.NotAllowed):
        detail, headers = str(exc), None  # with its hint: what the warehouse may do instead
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
    max_body_bytes: int = DEFAULT_LIMIT,
) -> FastAPI:
    """The API app over ``engine`` accepting ``tokens`` (see the module docstring).

    ``ValueError`` when two entries of ``tokens`` hold the same token (its role would be ambiguous).
    """
    _distinct_tokens(tokens)
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
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    for kind in _STATUS:
        app.add_exception_handler(kind, _refused)
    return app


def _distinct_tokens(tokens: Sequence[ApiTokenSpec]) -> None:
    first: dict[str, str] = {}
    for spec in tokens:
        if spec.token in first:
            raise ValueError(f"api tokens {first[spec.token]!r} and {spec.name!r} hold the same token")
        first[spec.token] = spec.name


__all__ = ["AckIn", "ApiTokenSpec", "Caller", "InstructionDetail", "ShipmentIn", "create_app"]
