"""The mapper: raw connector payloads in, canonical records (or reasons they are bad) out.

A :class:`Mapper` joins a compiled :class:`~mapping.fieldmap.FieldMap` and an optional
:class:`~mapping.skus.Binder`. :meth:`Mapper.map_one` gives one record or raises
``RecordError``; :meth:`Mapper.map_page` maps a whole page and never stops at a bad record: it
lands in ``MappedPage.failures`` with its key, its raw payload and the error, ready for
quarantine.

When the bindings a page needs are loaded per page, map without a binder first, collect the
SKUs with :func:`mapping.skus.external_skus`, then bind with :func:`bind_page`::

    page = Mapper(StockLevel, fieldmap).map_page(raws, key_of)
    binder = Binder("kingdee", load_bindings(external_skus(page.records)), "bound")
    page = bind_page(page, binder, key_of)

:func:`record_key` builds a key from a stream's primary key fields, falling back to a digest of
the payload when they are missing, so every failure has a key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.errors import RecordError
from mapping.fieldmap import FieldMap
from mapping.records import Record
from mapping.skus import Binder

__all__ = ["Failure", "MappedPage", "Mapper", "bind_page", "record_key"]

KeyOf = Callable[[dict[str, Any]], str]


@dataclass(frozen=True, slots=True)
class Failure:
    """A raw record that could not be mapped, with its key and the reason."""

    key: str
    raw: dict[str, Any]
    error: RecordError


@dataclass
class MappedPage:
    """The records a page mapped to, and the failures; ``raws`` pairs each record with its payload."""

    records: list[Record] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    raws: list[dict[str, Any]] = field(default_factory=list, repr=False)


def _failure(raw: dict[str, Any], error: RecordError, key_of: KeyOf) -> Failure:
    key = key_of(raw)
    if error.external_id is None:
        error.external_id = key
    return Failure(key, raw, error)


class Mapper:
    """Maps raw payloads of one stream to records of ``record_type``."""

    def __init__(self, record_type: type[Record], fieldmap: FieldMap, binder: Binder | None = None) -> None:
        if fieldmap.record_type is not record_type:
            raise ValueError(
                f"the field map builds {fieldmap.record_type.__name__}, not {record_type.__name__}"
            )
        self.record_type = record_type
        self.fieldmap = fieldmap
        self.binder = binder

    def map_one(self, raw: dict[str, Any]) -> Record:
        """Return the canonical record of one payload; ``RecordError`` says why it is bad."""
        record = self.fieldmap.validate(self.fieldmap.apply(raw))
        return record if self.binder is None else self.binder.apply(record)

    def map_page(self, raws: Sequence[dict[str, Any]], key_of: KeyOf) -> MappedPage:
        """Return the page's records and failures; a bad record never stops the page."""
        page = MappedPage()
        map_one = self.map_one
        for raw in raws:
            try:
                page.records.append(map_one(raw))
            except RecordError as error:
                page.failures.append(_failure(raw, error, key_of))
            else:
                page.raws.append(raw)
        return page


def bind_page(page: MappedPage, binder: Binder, key_of: KeyOf) -> MappedPage:
    """Return the page with ``binder`` applied; records it refuses move to the failures."""
    bound = MappedPage(failures=list(page.failures))
    for record, raw in zip(page.records, page.raws, strict=True):
        try:
            bound.records.append(binder.apply(record))
        except RecordError as error:
            bound.failures.append(_failure(raw, error, key_of))
        else:
            bound.raws.append(raw)
    return bound


def _dig(raw: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(raw, dict):
            return None
        raw = raw.get(part)
    return raw


def record_key(raw: dict[str, Any], primary_key: tuple[str, ...]) -> str:
    """Return the primary key values joined by ``/``, or ``sha256:<16 hex>`` of the payload."""
    values = [_dig(raw, name) for name in primary_key]
    if primary_key and all(value is not None and value != "" for value in values):
        return "/".join(str(value) for value in values)
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:16]
