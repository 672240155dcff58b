"""Reconcile stock readings into ``stock_level`` and the ledger, one page per transaction.

Three shapes of stock stream:

- **levels** (``StockLevel`` records): the source says "on-hand is N". Changed rows are
  upserted in one statement, each change ledgered with reason ``sync``.
- **snapshot** levels (a stream whose ``Stream.snapshot`` is true): the same, and every row the
  page lists is stamped with the run; when the whole read has landed, ``finish_snapshot`` sets
  to zero (or keeps, per config) the rows this source set before that the snapshot no longer
  lists.
- **moves** (``StockMove`` records, a delta stream): the source says "on-hand changed by D"
  with the move's own id; each id is applied once (``stock_movement.external_ref`` is unique per
  source), however often it is read again.

A location with a ``stock_source`` accepts readings only from that connector (others are
refused with ``not_authoritative``). A reading also settles shipments it already reflects
(``store.stock.settle_shipped``), so a shipped order is never counted twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, insert, select, update

from mapping.errors import RecordError
from mapping.records import StockLevel, StockMove, utcnow
from mapping.values import whole
from store.batching import execute_in, select_in
from store.models import Location, StockMovement
from store.models import StockLevel as StockRow
from store.stock import settle_shipped
from store.upsert import NEW, increment, upsert
from sync.reconcile import Outcome, PageContext

Key = tuple[str, int]


def _locations(conn: Connection, codes: set[str]) -> dict[str, tuple[int, str | None]]:
    rows = select_in(
        conn,
        lambda part: select(Location.code, Location.id, Location.stock_source).where(Location.code.in_(part)),
        codes,
    )
    return {code: (loc_id, source) for code, loc_id, source in rows}


def _accept(
    conn: Connection, records: Sequence[Any], ctx: PageContext
) -> tuple[list[tuple[Any, int]], Outcome]:
    """Records whose location is known and fed by this connector, with the location id."""
    locations = _locations(conn, {r.location for r in records})
    out = Outcome(refused=[])
    accepted = []
    for r in records:
        loc = locations.get(r.location)
        if loc is None:
            error = RecordError(
                f"unknown location {r.location!r}; add it under `locations:` in the config",
                code="unknown_location",
                field="location",
            )
        elif loc[1] is not None and loc[1] != ctx.connector:
            error = RecordError(
                f"location {r.location!r} takes its stock from connector {loc[1]!r} only",
                code="not_authoritative",
                field="location",
            )
        else:
            accepted.append((r, loc[0]))
            continue
        assert out.refused is not None
        out.refused.append((r, error))
    return accepted, out


def _existing(conn: Connection, keys: set[Key]) -> dict[Key, tuple[int, int, int]]:
    """(on_hand, reserved, id) of the page's rows, locked; one query per slice of keys (IN lists,
    filtered here)."""

    def query(part: list[Key]) -> Select[Any]:
        return (
            select(StockRow.sku, StockRow.location_id, StockRow.on_hand, StockRow.reserved, StockRow.id)
            .where(StockRow.sku.in_({s for s, _ in part}), StockRow.location_id.in_({loc for _, loc in part}))
            .with_for_update()
        )

    rows = select_in(conn, query, sorted(keys), per_value=2)
    return {
        (s, loc): (on_hand, reserved, row_id)
        for s, loc, on_hand, reserved, row_id in rows
        if (s, loc) in keys
    }


def _write(
    conn: Connection,
    ctx: PageContext,
    new_levels: dict[Key, tuple[int, datetime]],
    moves: list[dict[str, Any]],
    now: datetime,
) -> None:
    rows = [
        {
            "sku": sku,
            "location_id": loc,
            "on_hand": on_hand,
            "reserved": 0,
            "version": 1,
            "source": ctx.connector,
            "source_as_of": as_of,
            "seen_run_id": ctx.run_id if ctx.snapshot else None,
            "updated_at": now,
        }
        for (sku, loc), (on_hand, as_of) in new_levels.items()
    ]
    upsert(
        conn,
        StockRow,
        rows,
        key=["sku", "location_id"],
        update={
            "on_hand": NEW,
            "source": NEW,
            "source_as_of": NEW,
            "updated_at": NEW,
            "seen_run_id": NEW,
            "version": increment(StockRow.version),
        },
    )
    if moves:
        conn.execute(insert(StockMovement), moves)


def _move(
    ctx: PageContext,
    key: Key,
    delta: int,
    after: tuple[int, int],
    now: datetime,
    *,
    external_ref: str | None = None,
) -> dict[str, Any]:
    return {
        "sku": key[0],
        "location_id": key[1],
        "reason": "sync",
        "delta_on_hand": delta,
        "delta_reserved": 0,
        "on_hand_after": after[0],
        "reserved_after": after[1],
        "ref_type": "sync_run",
        "ref": str(ctx.run_id),
        "source": ctx.connector,
        "external_ref": external_ref,
        "created_at": now,
    }


def reconcile_stock(conn: Connection, records: Sequence[StockLevel], ctx: PageContext) -> Outcome:
    """Set on-hand per (SKU, location) as the source reports it; ledger every change."""
    accepted, out = _accept(conn, records, ctx)
    existing = _existing(conn, {(r.sku, loc) for r, loc in accepted})
    now = utcnow()
    new_levels: dict[Key, tuple[int, datetime]] = {}
    moves = []
    as_of: dict[Key, datetime] = {}
    # a page may list one (SKU, location) twice: each reading is ledgered against the one before
    level: dict[Key, tuple[int | None, int]] = {k: (v[0], v[1]) for k, v in existing.items()}
    for r, loc in accepted:
        key = (r.sku, loc)
        as_of[key] = r.as_of or now
        old, reserved = level.get(key, (None, 0))
        on_hand = whole(r.on_hand)  # a fraction was refused before the write (sync.limits)
        if old == on_hand:
            continue
        level[key] = (on_hand, reserved)
        new_levels[key] = (on_hand, as_of[key])
        moves.append(_move(ctx, key, on_hand - (old or 0), (on_hand, reserved), now))
    _write(conn, ctx, new_levels, moves, now)
    if ctx.snapshot:
        seen = [existing[k][2] for k in as_of if k in existing and k not in new_levels]
        if seen:
            # the source confirmed these rows as they are: they are its rows now (so a later
            # snapshot that omits them sets them to zero like any other row it set)
            execute_in(
                conn,
                lambda part: (
                    update(StockRow)
                    .where(StockRow.id.in_(part))
                    .values(seen_run_id=ctx.run_id, source=ctx.connector)
                ),
                seen,
            )
    settle_shipped(conn, list(as_of), as_of)
    out.changed = len(new_levels)
    return out


def reconcile_stock_moves(conn: Connection, records: Sequence[StockMove], ctx: PageContext) -> Outcome:
    """Apply each source stock move once (by its id), in the order the page lists them."""
    accepted, out = _accept(conn, records, ctx)
    found = select_in(
        conn,
        lambda part: select(StockMovement.external_ref).where(
            StockMovement.source == ctx.connector, StockMovement.external_ref.in_(part)
        ),
        [r.move_id for r, _ in accepted],
    )
    applied = {ref for (ref,) in found}
    todo = [(r, loc) for r, loc in accepted if r.move_id not in applied]
    existing = _existing(conn, {(r.sku, loc) for r, loc in todo})
    level = {k: (v[0], v[1]) for k, v in existing.items()}
    now = utcnow()
    new_levels: dict[Key, tuple[int, datetime]] = {}
    moves = []
    for r, loc in todo:
        if r.move_id in applied:
            continue  # the same move twice in one page
        applied.add(r.move_id)
        key = (r.sku, loc)
        on_hand, reserved = level.get(key, (0, 0))
        delta = whole(r.delta)
        level[key] = (on_hand + delta, reserved)
        new_levels[key] = (on_hand + delta, r.at or now)
        moves.append(_move(ctx, key, delta, level[key], now, external_ref=r.move_id))
    _write(conn, ctx, new_levels, moves, now)
    out.changed = len(moves)
    return out


def finish_snapshot(conn: Connection, connector: str, run_id: int, missing: str) -> int:
    """After a complete snapshot: rows this source set that it no longer lists go to zero."""
    if missing != "zero":
        return 0
    gone = conn.execute(
        select(StockRow.id, StockRow.sku, StockRow.location_id, StockRow.on_hand, StockRow.reserved)
        .where(
            StockRow.source == connector,
            StockRow.on_hand != 0,
            (StockRow.seen_run_id != run_id) | StockRow.seen_run_id.is_(None),
        )
        .with_for_update()
    ).all()
    if not gone:
        return 0
    now = utcnow()
    execute_in(
        conn,
        lambda part: (
            update(StockRow)
            .where(StockRow.id.in_(part))
            .values(on_hand=0, version=increment(StockRow.version), updated_at=now)
        ),
        [g.id for g in gone],
    )
    ctx = PageContext(connector, run_id)
    conn.execute(
        insert(StockMovement),
        [_move(ctx, (g.sku, g.location_id), -g.on_hand, (0, g.reserved), now) for g in gone],
    )
    return len(gone)
