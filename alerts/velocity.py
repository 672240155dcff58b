"""Sales velocity and days of cover.

Velocity is the exponentially weighted mean of units allocated per day at a location over the
last ``window`` days (today is day 0): with daily units ``d_i`` ``i`` days ago and weight
``w_i = 0.5 ** (i / half_life)``::

    velocity = Σ w_i · d_i / Σ w_i          (units per day; days without sales count as 0)
    days_of_cover = available / velocity     (infinite when velocity is 0)
    reorder_qty = max(0, ceil(velocity · (target_days + lead_time_days)) − available)

Recent days weigh more (with a 7-day half-life, last week's sales count twice as much as the
week before), so a sudden run on a SKU shows within days while one busy day does not dominate.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection, func, select

from store.batching import select_in
from store.models import Allocation, Location, OrderLine

Key = tuple[str, str]  # (sku, location code)


def ewma_velocity(daily: Mapping[int, float], window: int, half_life: float) -> float:
    """Weighted units per day from ``daily`` (days ago -> units) over ``window`` days."""
    weights = [0.5 ** (i / half_life) for i in range(window)]
    return float(sum(w * daily.get(i, 0.0) for i, w in enumerate(weights)) / sum(weights))


def days_of_cover(available: int, velocity: float) -> float:
    return math.inf if velocity <= 0 else available / velocity


def reorder_qty(available: int, velocity: float, target_days: float, lead_time_days: float) -> int:
    """Units to order now so stock covers the lead time plus ``target_days`` of sales."""
    return max(0, math.ceil(velocity * (target_days + lead_time_days)) - available)


def daily_sales(
    conn: Connection, keys: Iterable[Key], today: date, window: int
) -> dict[Key, dict[int, float]]:
    """Units allocated per (sku, location) per day over the window (one query)."""
    wanted = set(keys)
    if not wanted:
        return {}
    start = datetime.combine(today - timedelta(days=window - 1), time.min, tzinfo=UTC)
    day = func.date(Allocation.created_at)
    rows = select_in(
        conn,
        lambda part: (
            select(OrderLine.sku, Location.code, day, func.sum(Allocation.qty))
            .join(OrderLine, OrderLine.id == Allocation.order_line_id)
            .join(Location, Location.id == Allocation.location_id)
            .where(Allocation.created_at >= start, OrderLine.sku.in_(part))
            .group_by(OrderLine.sku, Location.code, day)
        ),
        sorted({s for s, _ in wanted}),
    )
    out: dict[Key, dict[int, float]] = defaultdict(dict)
    for sku, code, on, units in rows:
        if (sku, code) in wanted:
            ago = (today - (on if isinstance(on, date) else date.fromisoformat(str(on)))).days
            if 0 <= ago < window:
                out[(sku, code)][ago] = float(units)
    return out
