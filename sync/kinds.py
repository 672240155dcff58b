"""Stream kinds: what a stream carries and what landing it means, in one table.

A connector's ``Stream`` declares its ``kind``; this table says what the kind means. The engine,
the wiring and the alerting ask the kind, never the stream's name, so a stream called
``inventory`` of kind ``stock`` is landed, guarded, capped and alerted on exactly like one called
``stock``. A :class:`StreamKind` declares:

- ``record``: the canonical record type (``mapping.records``) its field map produces;
- ``reconcile``: how a page of those records lands in the store, inside the page's transaction
  (None: the kind is reserved — its records are defined, erpsync does not land them yet, and a
  stream of it is a config error);
- ``finish_snapshot``: what a complete snapshot read means once its last page has landed (stock
  levels: zero what it no longer lists, behind the shrink guard of ``sync.snapshot_guard``); None:
  a snapshot read lists records and never removes any;
- ``changes_stock``: its runs change stock levels, so shortages are evaluated after a run that
  changed something;
- ``channel_is_connector``: its records belong to the sales channel the connector is; a field map
  that does not set ``channel`` gets the connector's name;
- ``routed``: its records are orders the router sends to locations, so every location the router
  may choose needs a dispatch target.

Adding a kind is one entry in ``KINDS`` (its record type is defined in ``mapping.records``, its
reconciler in ``sync``). :func:`kind_of` gives a stream's kind, ``ConfigError`` listing the kinds
when it declares one this table does not have.

>>> KINDS["stock"].record.__name__, KINDS["stock"].changes_stock, KINDS["products"].changes_stock
('StockLevel', True, False)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection

from alerts.notify import AlertPolicy
from connectors.base import Connector
from core.errors import ConfigError
from mapping.records import Listing, Order, Product, Record, Return, Shipment, StockLevel, StockMove
from sync.order_sync import reconcile_orders
from sync.reconcile import Outcome, PageContext, reconcile_products
from sync.shipment_sync import reconcile_shipments
from sync.snapshot_guard import Finished, Snapshot, finish_snapshot
from sync.stock_sync import reconcile_stock, reconcile_stock_moves

#: lands one page of records in the caller's transaction
Reconcile = Callable[[Connection, Any, PageContext], Outcome]


class FinishSnapshot(Protocol):
    """Applies, or holds for a person, what a complete snapshot read implies (zeros, removals)."""

    def __call__(
        self,
        conn: Connection,
        snap: Snapshot,
        *,
        empty: bool,
        accept: bool,
        policy: AlertPolicy,
        now: datetime,
    ) -> Finished: ...


@dataclass(frozen=True)
class StreamKind:
    """What a stream of this kind carries and what landing it means (see the module docstring)."""

    name: str
    record: type[Record]
    reconcile: Reconcile | None
    finish_snapshot: FinishSnapshot | None = None
    changes_stock: bool = False
    channel_is_connector: bool = False
    routed: bool = False


def _table(*kinds: StreamKind) -> dict[str, StreamKind]:
    return {kind.name: kind for kind in kinds}


KINDS: dict[str, StreamKind] = _table(
    StreamKind("products", Product, reconcile_products),
    StreamKind("stock", StockLevel, reconcile_stock, finish_snapshot=finish_snapshot, changes_stock=True),
    StreamKind("stock_moves", StockMove, reconcile_stock_moves, changes_stock=True),
    StreamKind("orders", Order, reconcile_orders, channel_is_connector=True, routed=True),
    StreamKind("shipments", Shipment, reconcile_shipments),
    # a sales channel's listings (its products and variants with their SKUs) and its refunds
    StreamKind("listings", Listing, None, channel_is_connector=True),
    StreamKind("returns", Return, None, channel_is_connector=True),
)


def kind_of(connector: Connector, stream: str) -> StreamKind:
    """The kind ``connector`` declares for ``stream``; ``ConfigError`` listing the kinds if unknown."""
    declared = connector.stream(stream).kind
    kind = KINDS.get(declared)
    if kind is None:
        raise ConfigError(
            f"stream {stream!r} of connector {connector.name!r} has kind {declared!r}, which is no stream "
            f"kind (kinds: {', '.join(sorted(KINDS))}); in the connector's settings give the stream "
            "`kind:` (left out, the kind is the stream's name)"
        )
    return kind


def landed_kind(connector: Connector, stream: str) -> StreamKind:
    """The kind of ``stream``, checked to be one erpsync lands (``ConfigError`` for a reserved one)."""
    kind = kind_of(connector, stream)
    if kind.reconcile is None:
        landed = ", ".join(sorted(name for name, k in KINDS.items() if k.reconcile is not None))
        raise ConfigError(
            f"stream {stream!r} of connector {connector.name!r} is of kind {kind.name!r}, which erpsync "
            f"does not land yet (it lands: {landed})"
        )
    return kind
