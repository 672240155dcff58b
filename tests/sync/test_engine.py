"""The engine lands pages exactly once: crashes, retries and re-reads never lose or duplicate."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from store.locations import LocationSpec, apply_locations
from store.models import OrderLine, Quarantine, SalesOrder, StockLevel, StockMovement, SyncCursor, SyncRun
from sync.engine import RunResult, StreamJob, apply_lag, run_stream
from tests.sync.fakes import ListSource, plain_mapper


def stock_row(i: int, qty: int, updated: str, location: str = "WH1") -> dict[str, Any]:
    return {
        "id": f"S{i}@{location}",
        "updated": updated,
        "data": {"sku": f"S{i}", "location": location, "on_hand": qty},
    }


def order_row(i: int, updated: str, qty: int = 1, bad: bool = False) -> dict[str, Any]:
    lines = [] if bad else [{"sku": f"S{i % 3}", "qty": qty, "unit_price": "9.90"}]
    return {
        "id": f"O{i}",
        "updated": updated,
        "data": {"channel": "shop", "external_id": f"O{i}", "status": "paid", "lines": lines},
    }


@pytest.fixture
def locations(store_engine: Engine) -> Engine:
    apply_locations(
        store_engine,
        [
            LocationSpec("WH1", "Factory", "warehouse"),
            LocationSpec("WH2", "South", "distributor", parent="WH1"),
        ],
    )
    return store_engine


def levels(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(StockLevel.sku, StockLevel.on_hand)).tuples().all())


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_stock_lands_with_ledger_and_rereading_changes_nothing(locations: Engine) -> None:
    source = ListSource(
        "erp", {"stock": [stock_row(i, 10 * i, f"2026-01-01T00:00:0{i}") for i in range(1, 8)]}
    )
    job = StreamJob(source, "stock", plain_mapper("stock"))
    first = run_stream(locations, job)
    assert (first.status, first.pages, first.records_in, first.changed) == ("ok", 3, 7, 7)
    assert levels(locations) == {f"S{i}": 10 * i for i in range(1, 8)}
    assert count(locations, StockMovement) == 7
    assert first.cursor == "2026-01-01T00:00:07"

    again = run_stream(locations, job, full=True)
    assert (again.status, again.changed) == ("ok", 0)
    assert count(locations, StockMovement) == 7

    source.rows["stock"].append(stock_row(3, 5, "2026-01-01T00:00:09"))
    delta = run_stream(locations, job)
    assert source.calls[-1] == ("stock", "2026-01-01T00:00:07")  # inclusive start from the cursor
    assert delta.changed == 1
    assert levels(locations)["S3"] == 5
    with locations.connect() as conn:
        moves = conn.execute(
            select(StockMovement.delta_on_hand, StockMovement.on_hand_after)
            .where(StockMovement.sku == "S3")
            .order_by(StockMovement.id)
        ).all()
    assert [tuple(m) for m in moves] == [(30, 30), (-25, 5)]


def test_unknown_location_is_quarantined_not_fatal(locations: Engine) -> None:
    rows = [stock_row(1, 4, "2026-01-01T00:00:01"), stock_row(2, 4, "2026-01-01T00:00:02", location="NOPE")]
    result = run_stream(
        locations, StreamJob(ListSource("erp", {"stock": rows}), "stock", plain_mapper("stock"))
    )
    assert (result.status, result.changed, result.quarantined) == ("ok", 1, 1)
    with locations.connect() as conn:
        q = conn.execute(select(Quarantine.reason_code, Quarantine.record_key, Quarantine.reason)).one()
    assert q.reason_code == "unknown_location"
    assert q.record_key == "S2@NOPE"
    assert "NOPE" in q.reason


def test_a_quarantine_reason_never_stores_a_secret_in_clear(locations: Engine) -> None:
    from core.redact import register_secret

    secret = "tok-5f1e9c0a7d3b"  # a credential a careless source echoed into a record
    register_secret(secret)
    rows = [stock_row(1, 4, "2026-01-01T00:00:01", location=secret)]
    run_stream(locations, StreamJob(ListSource("erp", {"stock": rows}), "stock", plain_mapper("stock")))
    with locations.connect() as conn:
        reason = conn.execute(select(Quarantine.reason)).scalar_one()
    assert "unknown location" in reason
    assert secret not in reason


class Crash(Exception):
    pass


def test_crash_between_pages_then_rerun_equals_source(locations: Engine) -> None:
    rows = [order_row(i, f"2026-02-01T10:00:{i:02d}", qty=i) for i in range(1, 12)]
    rows += [order_row(50, "2026-02-01T10:00:05", bad=True), order_row(51, "2026-02-01T10:00:09", bad=True)]
    source = ListSource("shop", {"orders": rows}, size=4)
    job = StreamJob(source, "orders", plain_mapper("orders"))

    def crash_after_page_two(result: RunResult) -> None:
        if result.pages == 2:
            raise Crash("killed between pages")

    with pytest.raises(Crash):
        run_stream(locations, job, on_page=crash_after_page_two)
    with locations.connect() as conn:
        run = conn.execute(select(SyncRun.status, SyncRun.pages, SyncRun.error)).one()
        cursor = conn.execute(select(SyncCursor.value)).scalar_one()
    assert (run.status, run.pages) == ("failed", 2)
    assert "killed between pages" in run.error
    assert cursor == "2026-02-01T10:00:07"  # the cursor of page two, committed with it

    # A re-run with a page repeated at the boundary, then one more re-read of everything.
    assert run_stream(locations, job).status == "ok"
    assert run_stream(locations, job, full=True).changed == 0

    with locations.connect() as conn:
        orders = conn.execute(select(SalesOrder.external_id)).scalars().all()
        lines = conn.execute(select(SalesOrder.external_id, OrderLine.qty).join(OrderLine)).all()
        quarantine = conn.execute(select(Quarantine.record_key, Quarantine.seen_count)).all()
    assert sorted(orders) == sorted(f"O{i}" for i in range(1, 12))
    assert Counter(orders) == Counter(set(orders))
    assert sorted((e, q) for e, q in lines) == sorted((f"O{i}", i) for i in range(1, 12))
    assert sorted(k for k, _ in quarantine) == ["O50", "O51"]
    assert all(seen >= 2 for _, seen in quarantine)


def test_changed_order_replaces_lines_and_unchanged_is_skipped(locations: Engine) -> None:
    rows = [order_row(1, "2026-03-01T00:00:00", qty=2)]
    source = ListSource("shop", {"orders": rows})
    job = StreamJob(source, "orders", plain_mapper("orders"))
    assert run_stream(locations, job).changed == 1
    assert run_stream(locations, job, full=True).changed == 0
    rows[0]["data"]["lines"] = [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 4}]
    assert run_stream(locations, job, full=True).changed == 1
    with locations.connect() as conn:
        got = conn.execute(
            select(OrderLine.line_no, OrderLine.sku, OrderLine.qty).order_by(OrderLine.line_no)
        ).all()
    assert [tuple(r) for r in got] == [(1, "A", 1), (2, "B", 4)]
    assert count(locations, SalesOrder) == 1


def test_quarantined_record_is_resolved_once_it_lands(locations: Engine) -> None:
    rows = [order_row(1, "2026-03-01T00:00:00", bad=True)]
    job = StreamJob(ListSource("shop", {"orders": rows}), "orders", plain_mapper("orders"))
    run_stream(locations, job)
    rows[0] = order_row(1, "2026-03-01T00:00:01")
    run_stream(locations, job)
    with locations.connect() as conn:
        assert conn.execute(select(Quarantine.status)).scalar_one() == "resolved"


def test_lag_moves_iso_cursor_back_only() -> None:
    from datetime import timedelta

    assert apply_lag("2026-01-01T00:10:00+00:00", timedelta(minutes=5)) == "2026-01-01T00:05:00+00:00"
    assert apply_lag("page-token-7", timedelta(minutes=5)) == "page-token-7"
    # the cursor keeps the source's own shape (Odoo compares "YYYY-MM-DD HH:MM:SS" text)
    assert apply_lag("2026-01-01 00:10:00", timedelta(minutes=5)) == "2026-01-01 00:05:00"
    assert apply_lag("2026-01-01T00:10:00.250Z", timedelta(minutes=5)) == "2026-01-01T00:05:00.250Z"
    assert apply_lag("2026-01-02", timedelta(days=1)) == "2026-01-01"
    assert apply_lag(None, timedelta(minutes=5)) is None


def test_stock_crash_between_pages_leaves_one_ledger_row_per_change(locations: Engine) -> None:
    rows = [stock_row(i, i, f"2026-04-01T00:00:{i:02d}") for i in range(1, 10)]
    source = ListSource("erp", {"stock": rows}, size=2)
    job = StreamJob(source, "stock", plain_mapper("stock"))

    def crash(result: RunResult) -> None:
        if result.pages == 3:
            raise Crash("killed")

    with pytest.raises(Crash):
        run_stream(locations, job, on_page=crash)
    assert count(locations, StockMovement) == 6
    assert run_stream(locations, job).status == "ok"
    assert levels(locations) == {f"S{i}": i for i in range(1, 10)}
    with locations.connect() as conn:
        ledger = conn.execute(select(StockMovement.sku, StockMovement.delta_on_hand)).all()
    assert sorted(tuple(r) for r in ledger) == sorted((f"S{i}", i) for i in range(1, 10))
