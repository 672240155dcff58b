"""Operational alerts open once while a condition holds and resolve when it clears."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, select, update

from alerts.notify import AlertPolicy, RouteRule
from alerts.operational import OPERATIONAL_KINDS, reconcile_conditions, stock_conditions, sync_conditions
from store.locations import LocationSpec, apply_locations
from store.models import Alert, Outbox, Quarantine, StockLevel, SyncRun

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
POLICY = AlertPolicy(routes=(RouteRule(("it",), kinds=OPERATIONAL_KINDS),))


def run(engine: Engine, status: str, finished: datetime, error: str | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(SyncRun).values(
                connector="erp",
                stream="stock",
                status=status,
                started_at=finished,
                finished_at=finished,
                error=error,
            )
        )


def check(engine: Engine, now: datetime) -> tuple[int, int]:
    with engine.begin() as conn:
        active = sync_conditions(
            conn, failing_runs=3, staleness={("erp", "stock"): timedelta(hours=1)}, now=now
        )
        active += stock_conditions(conn)
        return reconcile_conditions(conn, POLICY, OPERATIONAL_KINDS, active, now)


def open_kinds(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(Alert.kind).where(Alert.open_key.is_not(None))).scalars())


def test_failing_stale_unmapped_and_negative_stock(store_engine: Engine) -> None:
    ids = apply_locations(store_engine, [LocationSpec("WH", "Factory", "warehouse")])
    run(store_engine, "ok", NOW - timedelta(hours=3))
    for minutes in (30, 20, 10):
        run(store_engine, "failed", NOW - timedelta(minutes=minutes), error="AuthError: credentials refused")
    with store_engine.begin() as conn:
        conn.execute(
            insert(Quarantine).values(
                connector="shop",
                stream="orders",
                record_key="1",
                reason_code="unmapped_sku",
                reason="no SKU binding",
                payload={},
                status="open",
                seen_count=1,
                first_seen=NOW,
                last_seen=NOW,
            )
        )
        conn.execute(
            insert(StockLevel).values(
                sku="TEA",
                location_id=ids["WH"],
                on_hand=-4,
                reserved=0,
                version=1,
                source="erp",
                updated_at=NOW,
            )
        )
    assert check(store_engine, NOW) == (4, 0)
    assert open_kinds(store_engine) == ["negative_stock", "stream_stale", "sync_failing", "unmapped_sku"]
    assert check(store_engine, NOW + timedelta(minutes=1)) == (0, 0)  # still true: nothing new is sent

    run(store_engine, "ok", NOW + timedelta(minutes=2))
    with store_engine.begin() as conn:
        conn.execute(update(Quarantine).values(status="resolved"))
        conn.execute(update(StockLevel).values(on_hand=3))
    assert check(store_engine, NOW + timedelta(minutes=3)) == (0, 4)
    assert open_kinds(store_engine) == []
    with store_engine.connect() as conn:
        keys = conn.execute(select(Outbox.key)).scalars().all()
        reason = conn.execute(select(Alert.details).where(Alert.kind == "sync_failing")).scalar_one()
    assert len(keys) == 8  # 4 opened + 4 resolved, to the IT destination
    assert all(k.endswith(":it") for k in keys)
    assert "credentials refused" in reason["reason"]
