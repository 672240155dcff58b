"""An in-memory source and a plain mapper for engine tests (the HTTP layer is tested elsewhere)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine

from connectors.base import Connector, ConnectorSettings, Page, Stream
from core.errors import RecordError
from sync.engine import MappedPage
from sync.kinds import KINDS
from sync.quarantine import Refused


class ListSource(Connector):
    """Serves ``rows`` sorted by ``updated`` in pages of ``size``, from the cursor (inclusive)."""

    kind = "list"
    Settings = ConnectorSettings

    def __init__(self, name: str, rows: dict[str, list[dict[str, Any]]], size: int = 3) -> None:
        super().__init__(name, ConnectorSettings())
        self.rows = rows
        self.size = size
        self.before_page: Callable[[int], None] | None = None
        self.calls: list[tuple[str, str | None]] = []

    @property
    def streams(self) -> Mapping[str, Stream]:
        return {name: Stream(name, ("id",), "updated") for name in self.rows}

    def fetch(self, stream: str, cursor: str | None) -> Iterator[Page]:
        self.calls.append((stream, cursor))
        todo = sorted(
            (r for r in self.rows[stream] if cursor is None or r["updated"] >= cursor),
            key=lambda r: (r["updated"], r["id"]),
        )
        for n, start in enumerate(range(0, len(todo), self.size)):
            if self.before_page is not None:
                self.before_page(n)
            chunk = todo[start : start + self.size]
            yield Page(
                records=[dict(r) for r in chunk],
                cursor=chunk[-1]["updated"],
                last=start + self.size >= len(todo),
            )

    def check(self) -> None:
        return None


def plain_mapper(kind: str) -> Callable[[Engine, list[dict[str, Any]]], MappedPage]:
    """Validate each raw row's ``data`` as the record type of stream kind ``kind``; failures are refused."""
    record_type = KINDS[kind].record

    def mapper(_engine: Engine, raws: list[dict[str, Any]]) -> MappedPage:
        page = MappedPage()
        for raw in raws:
            try:
                record = record_type.model_validate(raw["data"])
            except ValidationError as exc:
                err = exc.errors()[0]
                field = ".".join(str(p) for p in err["loc"])
                page.refused.append(
                    Refused(str(raw["id"]), raw, RecordError(f"{field}: {err['msg']}", field=field))
                )
                continue
            page.records[record.key] = record
        return page

    return mapper
