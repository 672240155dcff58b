"""Two workers on one stream: only one runs it, and one that lost its lease cannot commit."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, insert, select

from core.clock import utcnow
from store import outbox, stock
from store.locations import LocationSpec, apply_locations
from store.models import StockLevel, SyncLease, SyncRun
from store.owners import describe
from sync import lease as leases
from sync.engine import RunResult, StreamJob, run_stream
from sync.queries import stream_status
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


# -- after a crash ---------------------------------------------------------------------------------

FAR = "far-host:42:4242:0123456789:abc123"  # another machine: it can only be trusted to expire


def dead_owner() -> str:
    """The owner id of a process that has ended (started, told its id, exited, reaped)."""
    code = "from store.owners import new_owner_id\nprint(new_owner_id())"
    root = Path(__file__).parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def running_run(engine: Engine, owner: str, stream: str = "stock") -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                insert(SyncRun).values(
                    connector="erp", stream=stream, owner=owner, status="running", started_at=utcnow()
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )


def run_state(engine: Engine, run_id: int) -> tuple[str, str | None]:
    with engine.connect() as conn:
        row = conn.execute(select(SyncRun.status, SyncRun.error).where(SyncRun.id == run_id)).one()
    return row.status, row.error


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_a_lease_of_a_process_that_is_gone_is_taken_over_at_once(wh: Engine) -> None:
    dead = dead_owner()
    assert leases.acquire(wh, "erp", "stock", dead, timedelta(minutes=5)) is not None
    orphan = running_run(wh, dead)
    assert leases.acquire(wh, "erp", "stock", FAR, timedelta(minutes=5)) is not None  # not in 5 minutes
    assert run_state(wh, orphan) == (
        "interrupted",
        f"process {describe(dead)} is gone; far-host:42 took over",
    )
    assert (
        leases.acquire(wh, "erp", "stock", "someone-else", timedelta(minutes=5)) is None
    )  # FAR may be alive


def test_a_run_of_another_host_is_interrupted_once_its_lease_expired(wh: Engine) -> None:
    start = utcnow()
    assert leases.acquire(wh, "erp", "stock", FAR, timedelta(minutes=1), now=start) is not None
    far_run = running_run(wh, FAR)
    assert leases.recover(wh, now=start + timedelta(seconds=30)).runs == 0
    assert run_state(wh, far_run)[0] == "running"
    assert leases.recover(wh, now=start + timedelta(minutes=2)).runs == 1
    assert run_state(wh, far_run) == (
        "interrupted",
        "process far-host:42 lost its lease (expired or taken over)",
    )


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_a_live_worker_whose_lease_expired_keeps_its_run(wh: Engine) -> None:
    """A slow page may outlast the lease; this process provably still runs, so its run stays running."""
    me = leases.worker_id()
    long_ago = utcnow() - timedelta(hours=1)
    assert leases.acquire(wh, "erp", "stock", me, timedelta(minutes=1), now=long_ago) is not None
    mine = running_run(wh, me)
    orphan = running_run(wh, FAR, stream="products")  # a run whose owner never held a lease on it
    assert leases.recover(wh).runs == 1
    assert run_state(wh, orphan)[0] == "interrupted"
    assert run_state(wh, mine)[0] == "running"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_the_channel_planner_takes_its_lease_back_from_a_dead_process(wh: Engine) -> None:
    from erpsync.planning import ChannelPlanner
    from sync.sellable import ChannelPolicy, Rule

    with wh.begin() as conn:
        stock.adjust(conn, "TEA", wh_id(conn), 7, ref="count")
    assert leases.acquire(wh, "shop", "stock_plan", dead_owner(), timedelta(minutes=5)) is not None
    planner = ChannelPlanner(wh, [ChannelPolicy("shop", ("WH1",), Rule())], "shop", leases.worker_id())
    assert planner() == 1  # planned now, not after the dead planner's five minutes


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_recover_gives_back_the_outbox_claims_of_a_dead_worker(wh: Engine) -> None:
    with wh.begin() as conn:
        outbox.enqueue(conn, "stock.push", "push-1", {"sku": "TEA"}, partition="shop")
    dead = dead_owner()
    assert len(outbox.claim(wh, "stock.push", dead, ttl=timedelta(minutes=2))) == 1
    assert outbox.claim(wh, "stock.push", "w2", ttl=timedelta(minutes=2)) == []
    assert leases.recover(wh).claims == 1
    assert [m.key for m in outbox.claim(wh, "stock.push", "w2", ttl=timedelta(minutes=2))] == ["push-1"]


def test_status_names_the_holder_of_a_stale_lease_and_when_it_expires(wh: Engine) -> None:
    start = utcnow()
    leases.acquire(wh, "erp", "stock", FAR, timedelta(minutes=1), now=start - timedelta(minutes=5))
    leases.acquire(wh, "erp", "products", FAR, timedelta(minutes=10), now=start)
    rows = {s.stream: s for s in stream_status(wh)}
    assert rows["stock"].lease_state == "stale: expired"
    assert rows["stock"].lease_text().startswith("STALE (expired): far-host:42, expires ")
    assert rows["products"].lease_state == "held"
    assert rows["products"].lease_text().startswith("held by far-host:42 until ")


def wh_id(conn: Connection) -> int:
    from store.models import Location

    return int(conn.execute(select(Location.id).where(Location.code == "WH1")).scalar_one())
