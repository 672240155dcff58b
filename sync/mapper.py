"""The page mapper the engine uses: field map, then SKU bindings loaded in one query per page.

``StreamMapper`` maps a page without touching the database, collects the external SKUs of
the mapped records, loads just those bindings (and, when a stock quantity is fractional, the
products' units for the message), then applies them; a record that fails at
either step is refused with its reason. Records are keyed by the stream's primary key on the
raw payload, and a key seen twice in a page keeps its last record (the newest state).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Engine

from mapping.pipeline import Mapper, bind_page, record_key
from mapping.skus import Binder, BindingMode, SkuBinding, external_skus, fractional_skus
from store.bindings import load_bindings, product_units
from sync.engine import MappedPage
from sync.quarantine import Refused


@dataclass
class StreamMapper:
    """Maps raw pages of one (connector, stream) to keyed canonical records."""

    system: str
    mapper: Mapper
    primary_key: tuple[str, ...]
    mode: BindingMode = "identity"

    def __call__(self, engine: Engine, raws: list[dict[str, Any]]) -> MappedPage:
        key_of = partial(record_key, primary_key=self.primary_key)
        page = self.mapper.map_page(raws, key_of)
        wanted = external_skus(page.records)
        bindings: dict[str, SkuBinding] = {}
        units: dict[str, str] = {}
        if wanted:
            with engine.connect() as conn:
                bindings = load_bindings(conn, self.system, wanted)
                fractional = fractional_skus(page.records)
                if fractional:  # rare: only to name the unit when a quantity stays fractional
                    units = product_units(conn, {bindings[s].sku if s in bindings else s for s in fractional})
        bound = bind_page(page, Binder(self.system, bindings, self.mode, units), key_of)
        out = MappedPage()
        for record, raw in zip(bound.records, bound.raws, strict=True):
            key = key_of(raw)
            out.records[key] = record
            out.raws[key] = raw
        out.refused = [Refused(f.key, f.raw, f.error) for f in bound.failures]
        return out
