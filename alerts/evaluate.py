"""Evaluate shortages for the stock that changed, and escalate what nobody acknowledged.

``evaluate(engine, settings, since=...)`` reads the stock rows updated since ``since`` (all rows
when None, e.g. the scheduled velocity pass), the same SKUs at every other location (for transfer
suggestions), the locations and their regions, categories and sales velocity — a handful of
queries whatever the number of SKUs — and applies the findings in one transaction, run again
when the database picks it as a deadlock victim (or a lock wait times out).

``evaluate(engine, settings, checkpoint=...)`` takes ``since`` from a ``store.task_state``
checkpoint instead: it locks the checkpoint's row (passes run one at a time, across processes),
reads from a second before where the last pass started, and records where this one started in
the same transaction as its findings. A pass that does not commit leaves the checkpoint where it
was, so the next one evaluates what it did not; a committed one is never evaluated twice.

Every pass, with a checkpoint or without, first locks the ``task_state`` row ``alerts:shortages``
(``SHORTAGES``): passes of two services, or of a service and ``erpsync alerts check``, run one after
the other. Under READ COMMITTED two passes at once would both find no open alert for a new
shortage and both open it; the unique ``open_key`` refused the second, and its whole pass failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, select

from alerts.lifecycle import Summary, apply_findings, escalate
from alerts.notify import AlertPolicy, Where
from alerts.shortage import Position, Rule
from alerts.velocity import daily_sales, ewma_velocity
from core.clock import utcnow
from store.batching import select_in
from store.db import retry_on_lock_conflict
from store.models import Location, LocationRegion, Product, StockLevel
from store.task_state import Checkpoint

#: a checkpointed pass reads from this much before the last one started: a stock row written
#: with an earlier time but committed after that pass read is looked at again, not missed
OVERLAP = timedelta(seconds=1)
#: the task_state row every shortage evaluation locks (and the service's checkpoint of them)
SHORTAGES = "alerts:shortages"


@dataclass(frozen=True)
class AlertSettings:
    policy: AlertPolicy = field(default_factory=AlertPolicy)
    rules: tuple[Rule, ...] = ()
    window_days: int = 28
    half_life_days: float = 7


def places(conn: Connection) -> tuple[dict[str, Where], dict[int, Where]]:
    """Each location as alert routes see it; a location without regions serves its parent's."""
    regions: dict[int, list[str]] = {}
    for loc_id, region in conn.execute(select(LocationRegion.location_id, LocationRegion.region)):
        regions.setdefault(loc_id, []).append(region)
    rows = {
        r.id: r for r in conn.execute(select(Location.id, Location.code, Location.kind, Location.parent_id))
    }

    def served(loc_id: int | None, depth: int = 0) -> tuple[str, ...]:
        if loc_id is None or loc_id not in rows or depth > 20:
            return ()
        return tuple(regions.get(loc_id, ())) or served(rows[loc_id].parent_id, depth + 1)

    by_id = {i: Where(r.code, r.kind, served(i)) for i, r in rows.items()}
    return {w.code: w for w in by_id.values() if w.code}, by_id


def _positions(
    conn: Connection, settings: AlertSettings, since: datetime | None, now: datetime
) -> tuple[list[Position], list[Position]]:
    query = select(StockLevel.sku).distinct()
    if since is not None:
        query = query.where(StockLevel.updated_at >= since)
    skus = list(conn.execute(query).scalars())
    if not skus:
        return [], []
    rows = select_in(
        conn,
        lambda part: (
            select(
                StockLevel.sku,
                Location.code,
                Location.kind,
                StockLevel.on_hand - StockLevel.reserved - Location.safety_stock,
                StockLevel.updated_at,
            )
            .join(Location, Location.id == StockLevel.location_id)
            .where(StockLevel.sku.in_(part), Location.active.is_(True))
        ),
        skus,
    )
    categories = {
        row.sku: row.category
        for row in select_in(
            conn, lambda part: select(Product.sku, Product.category).where(Product.sku.in_(part)), skus
        )
    }
    sales = daily_sales(conn, [(r.sku, r.code) for r in rows], now.date(), settings.window_days)
    everyone = [
        Position(
            r.sku,
            r.code,
            r.kind,
            int(r[3]),
            ewma_velocity(sales.get((r.sku, r.code), {}), settings.window_days, settings.half_life_days),
            categories.get(r.sku),
        )
        for r in rows
    ]
    changed = [p for p, r in zip(everyone, rows, strict=True) if since is None or r.updated_at >= since]
    return changed, everyone


def evaluate(
    engine: Engine,
    settings: AlertSettings,
    *,
    since: datetime | None = None,
    now: datetime | None = None,
    checkpoint: Checkpoint | None = None,
) -> Summary:
    """Open, worsen or resolve shortage alerts for the stock changed since ``since`` (or ``checkpoint``)."""
    if since is not None and checkpoint is not None:
        raise ValueError("evaluate takes `since` or a `checkpoint`, not both")
    at = now or utcnow()
    return retry_on_lock_conflict(lambda: _evaluate_once(engine, settings, since, at, checkpoint))


def _evaluate_once(
    engine: Engine,
    settings: AlertSettings,
    since: datetime | None,
    now: datetime,
    checkpoint: Checkpoint | None,
) -> Summary:
    with engine.begin() as conn:
        Checkpoint(SHORTAGES).covered(conn, lock=True)  # one pass at a time (module docstring)
        if checkpoint is not None:
            covered = checkpoint.covered(conn, lock=True)
            # taken once the lock is ours: every change the last pass could not see is read below
            checkpoint.save(conn, utcnow())
            since = covered - OVERLAP if covered is not None else None
        changed, everyone = _positions(conn, settings, since, now)
        if not changed:
            return Summary()
        by_code, _ = places(conn)
        return apply_findings(
            conn,
            policy=settings.policy,
            rules=settings.rules,
            positions=changed,
            others=everyone,
            where=by_code,
            now=now,
        )


def escalate_due(engine: Engine, settings: AlertSettings, now: datetime | None = None) -> int:
    """Escalate critical alerts left unacknowledged (see ``alerts.lifecycle.escalate``)."""
    at = now or utcnow()

    def attempt() -> int:
        with engine.begin() as conn:
            _, by_id = places(conn)
            return escalate(conn, settings.policy, by_id, at)

    return retry_on_lock_conflict(attempt)


__all__ = ["AlertSettings", "escalate_due", "evaluate", "places"]
