"""A worker killed mid-run: the next process takes the stream back at once and says what happened.

Real processes: a worker (``tests.sync.lease_worker``) lands the first page of erp/stock and
hangs holding the lease (TTL five minutes); the test SIGKILLs it. ``erpsync status`` then shows
the stale lease with its owner and expiry, and a new process runs the stream at once instead of
answering "busy" for five minutes; the killed worker's run ends up ``interrupted``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from erpsync.cli import run_cli
from store.locations import LocationSpec, apply_locations
from store.models import SyncLease, SyncRun
from store.owners import describe

ROOT = Path(__file__).parents[2]


def worker(url: str, mode: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.sync.lease_worker", url, mode],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def result(process: subprocess.Popen[str], *, timeout: float = 60) -> dict[str, Any]:
    """The first RESULT line the worker prints (the worker is killed if it says nothing in time)."""
    watchdog = threading.Timer(timeout, process.kill)
    watchdog.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("RESULT "):
                return dict(json.loads(line.removeprefix("RESULT ")))
    finally:
        watchdog.cancel()
    raise AssertionError(f"worker ended with {process.wait()} before saying anything")


def finished(process: subprocess.Popen[str]) -> dict[str, Any]:
    said = result(process)
    assert process.wait(60) == 0
    return said


@pytest.fixture
def store_url(store_engine: Engine) -> str:
    apply_locations(store_engine, [LocationSpec("WH1", "Factory", "warehouse")])
    return store_engine.url.render_as_string(hide_password=False)


@pytest.fixture
def killed(store_engine: Engine, store_url: str) -> tuple[int, int]:
    """A worker killed (SIGKILL) while it held erp/stock: its run id and pid."""
    victim = worker(store_url, "hang")
    try:
        landed = result(victim)
        assert landed["landed"] == 1
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(30)
    return landed["run"], victim.pid


def status_output(tmp_path: Path, url: str, capsys: pytest.CaptureFixture[str]) -> str:
    config = tmp_path / "erpsync.yaml"
    config.write_text(f"database:\n  url: {json.dumps(url)}\n", encoding="utf-8")
    assert run_cli(["-c", str(config), "status"]) == 0
    return capsys.readouterr().out


def runs(engine: Engine) -> dict[int, tuple[str, str | None, str | None]]:
    with engine.connect() as conn:
        return {r.id: (r.status, r.owner, r.error) for r in conn.execute(select(SyncRun))}


def lease_owner(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(SyncLease.owner).where(SyncLease.stream == "stock")).scalar()


def test_a_restarted_worker_takes_the_stream_back_at_once(
    store_engine: Engine,
    store_url: str,
    killed: tuple[int, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dead_run, dead_pid = killed
    owner = runs(store_engine)[dead_run][1]
    assert runs(store_engine)[dead_run][0] == "running"
    assert f":{dead_pid}:" in (owner or "")

    shown = status_output(tmp_path, store_url, capsys)
    assert f"erp/stock: STALE (owner gone): {describe(owner)}, expires 20" in shown
    assert "the next run takes it over" in shown

    again = finished(worker(store_url, "run"))
    assert (again["status"], again["pages"]) == ("ok", 2)  # at once, not "busy" for the lease's TTL
    state = runs(store_engine)
    assert state[dead_run][0] == "interrupted"
    assert state[dead_run][2] == (
        f"process {describe(owner)} is gone; {describe(state[again['run']][1])} took over"
    )
    assert state[again["run"]][0] == "ok"
    assert lease_owner(store_engine) is None

    shown = status_output(tmp_path, store_url, capsys)
    assert "STALE" not in shown
    assert "ok" in shown


def test_a_starting_service_marks_the_dead_workers_run_interrupted(
    store_engine: Engine,
    store_url: str,
    killed: tuple[int, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dead_run, _ = killed
    owner = runs(store_engine)[dead_run][1]
    assert finished(worker(store_url, "service")) == {"started": True}
    assert runs(store_engine)[dead_run] == ("interrupted", owner, f"process {describe(owner)} is gone")
    assert lease_owner(store_engine) is None
    shown = status_output(tmp_path, store_url, capsys)
    assert f"interrupted: process {describe(owner)} is gone" in shown
    assert "STALE" not in shown
