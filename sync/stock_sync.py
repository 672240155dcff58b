"""Reconcile stock readings into ``stock_level`` and the ledger, one page per transaction.

Three shapes of stock stream:

- **levels** (``StockLevel`` records): the source says "on-hand is N". Changed rows are
  upserted in one statement, each change ledgered with reason ``sync``.
- **snapshot** levels (a stream whose ``Stream.snapshot`` is true): the same, and every row the
  page lists is stamped with the run — except a zero for a row that holds stock: that waits,
  unstamped (``zero_run_id``), for the end of the read. When the whole read has landed,
  ``sync.snapshot_guard`` zeroes what the snapshot no longer lists (or keeps it, per config) and
  the zeros it reported — unless that is more than the shrink guard allows.
- **moves** (``StockMove`` records, a delta stream): the source says "on-hand changed by D"
  with the move's own id; each id is applied once (``stock_movement.external_ref`` is unique per
  source), however often it is read again.

A location with a ``stock_source`` accepts readings only from that connector (others are
refused with ``not_authoritative``). A reading also settles shipments it already reflects
(``store.stock.settle_shipped``), so a shipped order is never counted twice. Every reading
records that its connector has reported the location (``sync.push_gate``): until then a channel
fed by it is not pushed, since no data is not zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, insert, select, update

from core.clock import utcnow
from core.errors import RecordError
from mapping.records import StockLevel, StockMove
from mapping.values import whole
from store.batching import execute_in, select_in
from store.models import Location, StockMovement
from store.models import StockLevel as StockRow
from store.stock import settle_shipped
from store.upsert import NEW, increment, upsert
from sync.push_gate import mark_reported
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
    deferred: dict[Key, datetime] = {}
    # a page may list one (SKU, location) twice: each reading is ledgered against the one before
    level: dict[Key, tuple[int | None, int]] = {k: (v[0], v[1]) for k, v in existing.items()}
    for r, loc in accepted:
        key = (r.sku, loc)
        old, reserved = level.get(key, (None, 0))
        on_hand = whole(r.on_hand)  # a fraction was refused before the write (sync.limits)
        if ctx.snapshot and on_hand == 0 and old:
            deferred[key] = r.as_of or now  # counted by the shrink guard when the read is complete
            continue
        deferred.pop(key, None)
        as_of[key] = r.as_of or now
        if old == on_hand:
            continue
        level[key] = (on_hand, reserved)
        new_levels[key] = (on_hand, as_of[key])
        moves.append(_move(ctx, key, on_hand - (old or 0), (on_hand, reserved), now))
    _write(conn, ctx, new_levels, moves, now)
    if ctx.snapshot:
        _stamp_snapshot(conn, ctx, [existing[k][2] for k in as_of if k in existing and k not in new_levels])
        _defer_zeros(conn, ctx, deferred, now)
    settle_shipped(conn, list(as_of), as_of)
    mark_reported(conn, ctx.connector, {loc for _, loc in accepted}, now)
    out.changed = len(new_levels)
    return out


def _stamp_snapshot(conn: Connection, ctx: PageContext, confirmed: list[int]) -> None:
    """The source confirmed these rows as they are: they are its rows now (so a later snapshot that
    omits them sets them to zero like any other row it set)."""
    if confirmed:
        execute_in(
            conn,
            lambda part: (
                update(StockRow)
                .where(StockRow.id.in_(part))
                .values(seen_run_id=ctx.run_id, source=ctx.connector)
            ),
            confirmed,
        )


def _defer_zeros(conn: Connection, ctx: PageContext, deferred: dict[Key, datetime], now: datetime) -> None:
    """Mark rows this snapshot reports as zero; their on-hand changes only if the whole read passes."""
    upsert(
        conn,
        StockRow,
        [
            {
                "sku": sku,
                "location_id": loc,
                "on_hand": 0,
                "reserved": 0,
                "version": 1,
                "updated_at": now,
                "seen_run_id": None,
                "zero_run_id": ctx.run_id,
                "zero_as_of": taken,
            }
            for (sku, loc), taken in deferred.items()
        ],
        key=["sku", "location_id"],
        # every row here exists: only the marks change (a repeat of the key on a later page wins)
        update={"seen_run_id": NEW, "zero_run_id": NEW, "zero_as_of": NEW},
    )


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
    mark_reported(conn, ctx.connector, {loc for _, loc in accepted}, now)
    out.changed = len(moves)
    return out


def zero_levels(conn: Connection, ctx: PageContext, which: ColumnElement[bool]) -> int:
    """Set the rows ``which`` selects to zero, as ``ctx.connector`` reported; ledger and settle them."""
    gone = conn.execute(
        select(
            StockRow.id,
            StockRow.sku,
            StockRow.location_id,
            StockRow.on_hand,
            StockRow.reserved,
            StockRow.zero_run_id,
            StockRow.zero_as_of,
        )
        .where(which)
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
            .values(on_hand=0, source=ctx.connector, version=increment(StockRow.version), updated_at=now)
        ),
        [g.id for g in gone],
    )
    conn.execute(
        insert(StockMovement),
        [_move(ctx, (g.sku, g.location_id), -g.on_hand, (0, g.reserved), now) for g in gone],
    )
    # a zero the source reported, taken at or after a shipment, already excludes its units
    reported = {(g.sku, g.location_id): g.zero_as_of for g in gone if g.zero_run_id == ctx.run_id}
    settle_shipped(conn, list(reported), {k: v for k, v in reported.items() if v is not None})
    return len(gone)
