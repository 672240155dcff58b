"""The ports: what a sales channel or an ERP implements for erpsync to write to it, and their values.

The layers above (``sync`` pushing stock, ``routing`` telling fulfilments and creating ERP
documents, ``erpsync`` wiring them) call channels and ERPs only through these protocols;
``connectors`` implement them. Nothing here knows a particular system.

- :class:`StockChannel`: ``push_stock`` a list of :class:`StockUpdate` (one :class:`PushResult`
  each), ``read_stock`` back for drift checks;
- :class:`FulfilmentChannel`: ``push_fulfilment`` a :class:`Fulfilment` (a parcel with its
  tracking number and :class:`FulfilmentLine` items);
- :class:`SalesOrderSink`: ``create_sales_order`` from a :class:`SalesDoc` (with
  :class:`SalesDocLine` items), once its settings allow it.

Each call raises ``core.errors.ConnectorError`` (``RetriableError`` to try again later).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


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
