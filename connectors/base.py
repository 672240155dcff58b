"""The connector contract: what every external system's adapter provides.

A connector is one module: a pydantic ``Settings`` model, the ``Stream`` objects it offers,
``fetch`` yielding pages of raw records, ``check`` for credentials, and optional ``push_*``
methods for systems that accept writes. It speaks the protocol and nothing else: mapping raw
records to canonical ones is ``mapping``'s job, landing them is ``sync``'s.

Cursors are strings the connector understands (an ISO timestamp, an id, an opaque token). The
engine passes the last committed cursor to ``fetch``; each ``Page`` says which cursor is safe to
save once that page has landed. The start is inclusive: records at the boundary come again and
the engine de-duplicates them by primary key.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from mapping.errors import ConnectorError


class ConnectorSettings(BaseModel):
    """Base of every connector's settings model: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Stream:
    """One readable collection of a connector.

    ``primary_key`` names the raw record fields that identify a record; ``cursor_field`` the
    field incremental reads advance on (None for full snapshots); ``snapshot`` is true when one
    complete read lists every record that exists (a missing one means gone / zero).
    """

    name: str
    primary_key: tuple[str, ...]
    cursor_field: str | None = None
    snapshot: bool = False


@dataclass
class Page:
    """A page of raw records and the cursor to save once it has been committed.

    ``cursor`` None means "leave the saved cursor as it is". ``last`` marks the final page of
    the read (a snapshot stream is complete only when its last page has landed).
    """

    records: list[dict[str, Any]]
    cursor: str | None = None
    last: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


class Connector(abc.ABC):
    """Base class of every connector. Subclasses set ``kind`` and ``Settings``."""

    kind: ClassVar[str]
    Settings: ClassVar[type[ConnectorSettings]]
    #: default field maps per stream (see ``mapping.fieldmap``), used when the config gives none
    default_mappings: ClassVar[Mapping[str, Mapping[str, Any]]] = {}

    def __init__(self, name: str, settings: ConnectorSettings) -> None:
        self.name = name
        self.settings = settings

    @property
    @abc.abstractmethod
    def streams(self) -> Mapping[str, Stream]:
        """The streams this connector offers, by name."""

    @abc.abstractmethod
    def fetch(self, stream: str, cursor: str | None) -> Iterator[Page]:
        """Yield pages of raw records of ``stream`` changed at or after ``cursor`` (None: all)."""

    @abc.abstractmethod
    def check(self) -> None:
        """Raise ``AuthError`` (or another ``ConnectorError``) unless the credentials work."""

    def close(self) -> None:  # noqa: B027 - optional hook, most connectors hold only an HTTP session
        """Release network resources."""

    @property
    def cursor_timezone(self) -> str:
        """The zone of cursor times written without an offset (UTC unless the system keeps local time)."""
        return "UTC"

    @contextlib.contextmanager
    def _naming(self, stream: str | None, external_id: str | None = None) -> Iterator[None]:
        """Errors raised inside name this connector, ``stream`` and the record (lower layers cannot)."""
        try:
            yield
        except ConnectorError as err:
            err.connector, err.stream = err.connector or self.name, err.stream or stream
            err.external_id = err.external_id or external_id
            raise

    def stream(self, name: str) -> Stream:
        """The stream called ``name``; ``PermanentError`` naming the known ones otherwise."""
        try:
            return self.streams[name]
        except KeyError:
            from mapping.errors import PermanentError

            known = ", ".join(sorted(self.streams)) or "none"
            raise PermanentError(
                f"connector has no stream {name!r} (it offers: {known})", connector=self.name
            ) from None


@dataclass(frozen=True)
class StockUpdate:
    """Set a channel's quantity of one SKU (the channel's own SKU and units).

    ``expected`` is the quantity erpsync believes the channel shows now; a channel that supports
    compare-and-set applies the update only if that still holds, and otherwise reports the
    quantity it actually has (``PushResult.actual``). None sets unconditionally. ``ref`` is an
    idempotency key: the same ref sent twice changes nothing the second time.
    """

    sku: str
    quantity: int
    expected: int | None = None
    ref: str = ""


@dataclass(frozen=True)
class PushResult:
    """What a channel did with one ``StockUpdate``: ``ok``, ``conflict`` (with ``actual``) or ``error``."""

    sku: str
    status: str
    actual: int | None = None
    message: str = ""


@runtime_checkable
class StockChannel(Protocol):
    """A connector that can be shown stock: push quantities, read them back (for drift checks)."""

    name: str

    @property
    def push_batch_limit(self) -> int:
        """How many updates one ``push_stock`` call may carry."""

    def push_stock(self, updates: list[StockUpdate]) -> list[PushResult]:
        """Apply updates in order; one result per update, same order. Raises ``ConnectorError``."""

    def read_stock(self, skus: list[str]) -> dict[str, int]:
        """The quantities the channel shows now for ``skus`` (missing SKUs are left out)."""


@dataclass(frozen=True)
class FulfilmentLine:
    line_id: str | None  # the channel's own id of the order line, when it gave one
    sku: str
    qty: int


@dataclass(frozen=True)
class Fulfilment:
    """A parcel of an order shipped with a tracking number, told to the channel it came from.

    ``ref`` is an idempotency key: telling the same fulfilment twice must not create two.
    """

    order_id: str
    carrier: str
    tracking_no: str
    lines: tuple[FulfilmentLine, ...]
    ref: str = ""


@runtime_checkable
class FulfilmentChannel(Protocol):
    """A connector that can be told an order (or part of it) shipped, with its tracking number."""

    name: str

    def push_fulfilment(self, fulfilment: Fulfilment) -> None:
        """Record the fulfilment on the channel; raises ``ConnectorError`` (Retriable to try again)."""


@dataclass(frozen=True)
class SalesDocLine:
    sku: str
    qty: int
    unit_price: str  # a decimal as text, in the order's currency


@dataclass(frozen=True)
class SalesDoc:
    """A sales order (or outbound document) for the ERP, created from a channel's order.

    ``ref`` is the order's identity in erpsync (``channel/external_id``): an ERP connector stores
    it on the document (its reference field) and does not create a second document for the same
    ``ref``. ``ship_to`` holds the fields of ``mapping.records.Address`` (personal data: never
    logged); ``location`` is the code of the erpsync location the order was routed to (of its
    first part when it was split), None when it was not routed.
    """

    ref: str
    customer: str | None
    currency: str
    lines: tuple[SalesDocLine, ...]
    ship_to: dict[str, Any] = field(default_factory=dict)
    location: str | None = None


@runtime_checkable
class SalesOrderSink(Protocol):
    """A connector that can create sales orders in its ERP, once its settings turn that on."""

    name: str

    def sales_settings_missing(self) -> str | None:
        """None when the settings let it create sales orders, else the settings to set (checked at start)."""

    def create_sales_order(self, doc: SalesDoc) -> str:
        """Create the document (or find the one already made for ``doc.ref``); its id in the ERP."""
