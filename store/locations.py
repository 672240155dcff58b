"""Keep the ``location`` tree and its regions equal to what the config declares.

``apply_locations(engine, specs)`` upserts every location by code, sets parents (in a second
pass, so order in the file does not matter), replaces each location's regions, and marks
locations no longer declared inactive (never deleted: ledger rows point at them).
Region levels: ``province`` = 1, ``province/city`` = 2, ``province/city/district`` = 3;
``postal:PREFIX`` = 10 + prefix length, so a longer postal prefix is more specific.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine, delete, insert, select, update

from core.clock import utcnow
from store.models import Location, LocationRegion
from store.upsert import NEW, upsert


@dataclass(frozen=True)
class LocationSpec:
    code: str
    name: str
    kind: str
    parent: str | None = None
    regions: Sequence[str] = field(default_factory=tuple)
    priority: int = 100
    safety_stock: int = 0
    stock_source: str | None = None


def region_level(region: str) -> int:
    """How specific a region is: more parts (or a longer postal prefix) rank higher."""
    if region.startswith("postal:"):
        return 10 + len(region.removeprefix("postal:"))
    return len([p for p in region.split("/") if p])


def apply_locations(engine: Engine, specs: Sequence[LocationSpec]) -> dict[str, int]:
    """Make the location table match ``specs``; return code -> id of every declared location."""
    now = utcnow()
    with engine.begin() as conn:
        upsert(
            conn,
            Location,
            [
                {
                    "code": s.code,
                    "name": s.name,
                    "kind": s.kind,
                    "priority": s.priority,
                    "safety_stock": s.safety_stock,
                    "stock_source": s.stock_source,
                    "active": True,
                    "updated_at": now,
                }
                for s in specs
            ],
            key=["code"],
            update={
                "name": NEW,
                "kind": NEW,
                "priority": NEW,
                "safety_stock": NEW,
                "stock_source": NEW,
                "active": NEW,
                "updated_at": NEW,
            },
        )
        ids = dict(conn.execute(select(Location.code, Location.id)).tuples().all())
        declared = {s.code for s in specs}
        conn.execute(
            update(Location)
            .where(Location.code.not_in(declared) if declared else Location.id.is_not(None))
            .values(active=False)
        )
        for s in specs:
            conn.execute(
                update(Location)
                .where(Location.id == ids[s.code])
                .values(parent_id=ids[s.parent] if s.parent else None)
            )
        if ids:
            conn.execute(
                delete(LocationRegion).where(LocationRegion.location_id.in_([ids[c] for c in declared]))
            )
        regions = [
            {"location_id": ids[s.code], "region": r, "level": region_level(r)}
            for s in specs
            for r in s.regions
        ]
        if regions:
            conn.execute(insert(LocationRegion), regions)
    return {code: ids[code] for code in declared}
