"""The connector contract: what every external system's adapter provides.

A connector is one module: a pydantic ``Settings`` model, the ``Stream`` objects it offers,
``fetch`` yielding pages of raw records, ``check`` for credentials, and optional ``push_*``
methods for systems that accept writes. It speaks the protocol and nothing else: mapping raw
records to canonical ones is ``mapping``'s job, landing them is ``sync``'s.

Cursors are strings the connector understands (an ISO timestamp, an id, an opaque token). The
engine passes the last committed cursor to ``fetch``; each ``Page`` says which cursor is safe to
save once that page has landed. The start is inclusive: records at the boundary come again and
the engine de-duplicates them by primary key.

A connector that accepts writes implements a port of :mod:`core.ports` (``StockChannel``,
``FulfilmentChannel``, ``SalesOrderSink``); their value types are importable from here too, so a
connector module needs one import for its whole contract.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from connectors.paginate import Paginator
from core.errors import ConnectorError
from core.ports import (
    Fulfilment,
    FulfilmentChannel,
    FulfilmentLine,
    PushResult,
    SalesDoc,
    SalesDocLine,
    SalesOrderSink,
    StockChannel,
    StockUpdate,
)


class ConnectorSettings(BaseModel):
    """Base of every connector's settings model: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Stream:
    """One readable collection of a connector.

    ``primary_key`` names the raw record fields that identify a record; ``cursor_field`` the
    field incremental reads advance on (None for full snapshots); ``snapshot`` is true when one
    complete read lists every record that exists (a missing one means gone / zero). ``kind`` says
    what the records are — ``products``, ``stock``, ``stock_moves``, ``orders``, ``shipments``,
    ``listings``, ``returns`` (``sync.kinds`` says what landing each means); left out, it is the
    stream's name. ``paginator`` is how the stream pages, for connectors that page by a declared
    paginator (:mod:`connectors.paginate`); connectors with their own paging loop leave it None.
    """

    name: str
    primary_key: tuple[str, ...]
    cursor_field: str | None = None
    snapshot: bool = False
    kind: str = ""
    paginator: Paginator | None = None

    def __post_init__(self) -> None:
        if not self.kind:
            object.__setattr__(self, "kind", self.name)


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
            from core.errors import PermanentError

            known = ", ".join(sorted(self.streams)) or "none"
            raise PermanentError(
                f"connector has no stream {name!r} (it offers: {known})", connector=self.name
            ) from None


__all__ = [
    "Connector",
    "ConnectorSettings",
    "Fulfilment",
    "FulfilmentChannel",
    "FulfilmentLine",
    "Page",
    "PushResult",
    "SalesDoc",
    "SalesDocLine",
    "SalesOrderSink",
    "StockChannel",
    "StockUpdate",
    "Stream",
]
