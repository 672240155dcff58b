"""When a channel may be shown stock: never while its numbers would be wrong on purpose.

Two things stop a channel's plan (nothing is queued for it, and the planner says why):

- **no data yet**: a location that feeds the channel (its ``sources``) has never reported. A
  location with a ``stock_source`` has reported once that connector landed a stock reading there
  (a level or a move, zero included) or completed a snapshot run that passed the shrink guard (a
  complete list without the location means it holds nothing). A location without a
  ``stock_source`` is kept by erpsync: it has reported once anything set stock there — a reading
  from any connector, a count, an adjustment, a return (any ``stock_level`` row).
- **a held snapshot**: a stock snapshot of a connector that feeds one of the sources (its
  ``stock_source``, or the source of stock rows there) is held by the shrink guard
  (``sync.snapshot_guard``): the store is not what that connector says, so nothing is pushed
  until the snapshot is accepted or a later one passes.

``mark_reported`` is called by stock reconciliation with every page, ``mark_snapshot_complete``
when a snapshot is applied; ``blockers`` is what the planner, ``stock plan`` and ``stock explain``
ask. Each is one or two queries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, exists, select

from store.models import Location, SnapshotHold, StockLevel, StockReport
from store.upsert import upsert


def mark_reported(conn: Connection, connector: str, location_ids: Iterable[int], now: datetime) -> None:
    """Record that ``connector`` reported stock at these locations (the first time only counts)."""
    wanted = set(location_ids)
    if not wanted:
        return
    # nearly always known already: a plain read, no row lock on the hot path
    known = conn.execute(
        select(StockReport.location_id).where(
            StockReport.connector == connector, StockReport.location_id.in_(wanted)
        )
    ).scalars()
    rows = [
        {"location_id": loc, "connector": connector, "first_at": now} for loc in sorted(wanted - set(known))
    ]
    # two streams of one connector may race to be first: the update keeps the first time
    upsert(
        conn, StockReport, rows, key=["location_id", "connector"], update={"first_at": StockReport.first_at}
    )


def mark_snapshot_complete(conn: Connection, connector: str, now: datetime) -> None:
    """A complete snapshot of ``connector`` landed: every location it is the stock source of has reported."""
    fed = conn.execute(select(Location.id).where(Location.stock_source == connector)).scalars()
    mark_reported(conn, connector, fed, now)


def blockers(conn: Connection, sources: Iterable[str]) -> dict[str, str]:
    """Why each of these locations may not feed a channel now, by location code (absent: it may)."""
    codes = sorted(set(sources))
    locations = conn.execute(
        select(Location.id, Location.code, Location.stock_source).where(Location.code.in_(codes))
    ).all()
    found = {code: f"waiting for first stock report from {code} (not a known location)" for code in codes}
    for code in (loc.code for loc in locations):
        del found[code]
    holds = {h.connector: h for h in conn.execute(select(SnapshotHold))}
    feeding = _feeding(conn, [loc.id for loc in locations], set(holds)) if holds else {}
    waiting = _not_reported(conn, locations)
    for loc in locations:
        held = sorted(({loc.stock_source} & set(holds)) | feeding.get(loc.id, set()))
        if held:
            h = holds[held[0]]
            found[loc.code] = (
                f"stock of {loc.code} is held: a snapshot of {h.connector}/{h.stream} would zero "
                f"{h.rows_to_zero} row(s); if that is right: "
                f"erpsync sync {h.connector} {h.stream} --accept-shrink"
            )
        elif loc.id in waiting:
            by = f" (by {loc.stock_source})" if loc.stock_source else ""
            found[loc.code] = f"waiting for first stock report from {loc.code}{by}"
    return found


def _not_reported(conn: Connection, locations: Sequence[Row[Any]]) -> set[int]:
    """Ids of these locations that have not reported yet (see the module docstring)."""
    reported = set(
        conn.execute(
            select(StockReport.location_id, StockReport.connector).where(
                StockReport.location_id.in_([loc.id for loc in locations])
            )
        ).tuples()
    )
    waiting = {loc.id for loc in locations if loc.stock_source and (loc.id, loc.stock_source) not in reported}
    kept = [loc.id for loc in locations if not loc.stock_source]
    if kept:  # erpsync keeps their books: any stock recorded there (one indexed EXISTS each)
        booked = exists().where(StockLevel.location_id == Location.id)
        recorded = set(conn.execute(select(Location.id).where(Location.id.in_(kept), booked)).scalars())
        waiting |= set(kept) - recorded
    return waiting


def _feeding(conn: Connection, location_ids: list[int], held: set[str]) -> dict[int, set[str]]:
    """Held connectors whose readings set stock rows at these locations."""
    rows = conn.execute(
        select(StockLevel.location_id, StockLevel.source)
        .where(StockLevel.location_id.in_(location_ids), StockLevel.source.in_(held))
        .distinct()
    )
    found: dict[int, set[str]] = {}
    for loc, source in rows:
        found.setdefault(loc, set()).add(source)
    return found
