"""Two workers on one stream: only one runs it, and one that lost its lease cannot commit."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from store.locations import LocationSpec, apply_locations
from store.models import StockLevel, SyncLease
from sync import lease as leases
from sync.engine import RunResult, StreamJob, run_stream
from tests.sync.fakes import ListSource, plain_mapper
from tests.sync.test_engine import levels, stock_row


@pytest.fixture
def wh(store_engine: Engine) -> Engine:
    apply_locations(store_engine, [LocationSpec("WH1", "Factory", "warehouse")])
    return store_engine


def _run_in_thread(engine: Engine, job: StreamJob, owner: str) -> tuple[threading.Thread, list[RunResult]]:
    results: list[RunResult] = []
    thread = threading.Thread(target=lambda: results.append(run_stream(engine, job, owner=owner)))
    thread.start()
    return thread, results


def test_second_worker_finds_the_stream_busy(wh: Engine) -> None:
    release_a = threading.Event()
    a_started = threading.Event()
    source_a = ListSource("erp", {"stock": [stock_row(1, 1, "t1")]})
    source_a.before_page = lambda n: (a_started.set(), release_a.wait(10))  # type: ignore[func-returns-value]
    thread, results = _run_in_thread(wh, StreamJob(source_a, "stock", plain_mapper("stock")), "worker-a")
    assert a_started.wait(10)

    source_b = ListSource("erp", {"stock": [stock_row(1, 99, "t1")]})
    busy = run_stream(wh, StreamJob(source_b, "stock", plain_mapper("stock")), owner="worker-b")
    assert busy.status == "busy"
    assert source_b.calls == []  # B never even asked the source

    release_a.set()
    thread.join(10)
    assert results[0].status == "ok"
    assert levels(wh) == {"S1": 1}


def test_worker_whose_lease_expired_mid_page_cannot_commit(wh: Engine) -> None:
    ttl = timedelta(milliseconds=300)
    wake_a = threading.Event()
    paused = threading.Event()
    source_a = ListSource("erp", {"stock": [stock_row(1, 111, "t1"), stock_row(2, 222, "t1")]})
    source_a.before_page = lambda n: (paused.set(), wake_a.wait(10))  # type: ignore[func-returns-value]
    thread, results = _run_in_thread(
        wh, StreamJob(source_a, "stock", plain_mapper("stock"), lease_ttl=ttl), "worker-a"
    )
    assert paused.wait(10)
    time.sleep(ttl.total_seconds() + 0.3)  # A is paused past its lease's expiry

    source_b = ListSource("erp", {"stock": [stock_row(1, 5, "t1")]})
    took_over = run_stream(
        wh, StreamJob(source_b, "stock", plain_mapper("stock"), lease_ttl=ttl), owner="worker-b"
    )
    assert took_over.status == "ok"

    wake_a.set()  # A wakes up holding a page and tries to commit it
    thread.join(10)
    assert results[0].status == "failed"
    assert "lease lost" in (results[0].error or "")
    assert results[0].pages == 0
    assert levels(wh) == {"S1": 5}  # nothing of A's page landed
    with wh.connect() as conn:
        fence = conn.execute(select(SyncLease.fence)).scalar_one()
        on_hand = conn.execute(select(StockLevel.on_hand).where(StockLevel.sku == "S2")).scalar()
    assert fence == 2
    assert on_hand is None


def test_fence_rises_each_time_the_lease_changes_hands(wh: Engine) -> None:
    ttl = timedelta(seconds=30)
    first = leases.acquire(wh, "erp", "stock", "a", ttl)
    assert first is not None
    assert first.fence == 1
    assert leases.acquire(wh, "erp", "stock", "b", ttl) is None
    leases.release(wh, first)
    second = leases.acquire(wh, "erp", "stock", "b", ttl)
    assert second is not None
    assert second.fence == 2
    with wh.begin() as conn, pytest.raises(Exception, match="lease lost"):
        leases.check_fence(conn, first)
