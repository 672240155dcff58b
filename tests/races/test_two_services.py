"""Two ``erpsync run`` processes on one MariaDB database: everything is done, and done once.

Both services run the same config against systems on 127.0.0.1: the simulated ERP (stock) and
shop (orders, stock push) of ``erpsync.simulator``, a warehouse receiver for the dispatch
instructions of every location (a signed webhook) and an alert receiver (a signed generic
webhook). While they run, the ERP's stock moves and the shop takes new orders. Afterwards:

- every outbox message (stock push, dispatch instruction, alert notification) is delivered, and
  each receiver got each idempotency key once: no push, instruction or notification twice;
- the shop shows, for every listing, the quantity of its last planned version, and was told each
  version at most once (pushes carry their message key as ``ref``);
- every shop order with bound SKUs landed once and was dispatched once;
- no two runs of one stream overlapped in time: a stream runs in one place at a time;
- both processes did some of the work (else the test would prove nothing about two of them).
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import func, select

from erpsync.cli import run_cli
from erpsync.demo_files import config_text, demo_key
from erpsync.simulator import Simulator
from store.db import make_engine
from store.models import ChannelListing, DispatchInstruction, Outbox, SalesOrder, SyncRun
from tests.alerts.notifier_receivers import Receiver as AlertReceiver
from tests.alerts.notifier_receivers import serve, signed_webhook
from tests.conftest import scratch_mysql_url
from tests.erpsync.processes import command
from tests.routing.test_delivery import SECRET as WAREHOUSE_SECRET
from tests.routing.test_delivery import Receiver

ALERT_SECRET = "alert-hook-secret-7f3a"  # the test receiver's own
CHURN_SECONDS = 3  # the ERP and the shop change while the services start and run
SETTLE_SECONDS = 30  # then the services have this long to finish the work (usually 3 to 5 s)
PACKS = {"CUP-010": ("CUP-6PK", 6)}  # the shop sells cups in packs of 6
BOUND = {"TEA-001", "POT-020", "CUP-6PK"}  # the shop SKUs skus.csv binds (MUG-X is left unbound)


@pytest.fixture
def mysql_url() -> Iterator[str]:
    yield from scratch_mysql_url("twosvc")


@pytest.fixture
def alerts() -> Iterator[AlertReceiver]:
    with serve(signed_webhook(ALERT_SECRET)) as receiver:
        yield receiver


def expected_orders(sim: Simulator) -> set[str]:
    """The shop's orders whose SKU has a binding: each must land and be dispatched."""
    with sim.state.lock:
        return {str(o["id"]) for o in sim.state.orders.values() if o["line_items"][0]["sku"] in BOUND}


def settled(db_url: str, sim: Simulator) -> bool:
    """Whether the services have done everything there is: orders routed, every message delivered."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            routed = set(
                conn.execute(
                    select(SalesOrder.external_id).where(SalesOrder.status.in_(("dispatched", "on_hold")))
                ).scalars()
            )
            pending = conn.execute(select(func.count()).where(Outbox.delivered_at.is_(None))).scalar_one()
            unpushed = conn.execute(
                select(func.count()).where(ChannelListing.last_pushed_qty.is_(None))
            ).scalar_one()
    finally:
        engine.dispose()
    return expected_orders(sim) <= routed and pending == 0 and unpushed == 0


def race_config(sim_url: str, db_url: str, hook: str, alert_hook: str, workdir: Path) -> str:
    """The demo's config on MariaDB, with webhooks for the warehouses and the alerts."""
    text = config_text(sim_url, "en", workdir)
    text = text.replace(f"sqlite:///{workdir.as_posix()}/erpsync.db", db_url)
    text = text.replace("logging: {level: error}", "logging: {level: warning}")
    for code in ("WH-SH", "GA-SOUTH", "DS-GZ", "DS-SH"):
        text = text.replace(
            f"dispatch: {{method: csv, folder: {workdir.as_posix()}/dispatch/{code}}}",
            f'dispatch: {{method: webhook, url: "{hook}", secret: "${{WAREHOUSE_SECRET}}"}}',
        )
    assert "method: csv" not in text
    text = text.replace(
        "{name: head-office, kind: email, to: [supply@factory.example]}",
        f'{{name: head-office, kind: webhook, url: "{alert_hook}", secret: "${{ALERT_SECRET}}"}}',
    )
    assert "kind: webhook" in text
    return text


def test_two_services_on_one_database_do_everything_once(
    tmp_path: Path,
    mysql_url: str,
    receiver: Receiver,
    alerts: AlertReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = Simulator(tick=3600).start()  # the data changes when the test steps it
    try:
        demo_key(tmp_path)
        config = tmp_path / "erpsync.yaml"
        config.write_text(race_config(sim.url, mysql_url, receiver.url, alerts.url, tmp_path), "utf-8")
        (tmp_path / "skus.csv").write_text(
            "system,external_sku,sku,uom_factor\nshop,TEA-001,TEA-001,1\nshop,POT-020,POT-020,1\n"
            "shop,CUP-6PK,CUP-010,6\n",
            encoding="utf-8",
        )
        env = {"WAREHOUSE_SECRET": WAREHOUSE_SECRET, "ALERT_SECRET": ALERT_SECRET}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        for args in (["db", "upgrade"], ["mapping", "import-skus", str(tmp_path / "skus.csv")]):
            assert run_cli(["-c", str(config), *args]) == 0
        logs = [tmp_path / f"service-{n}.log" for n in range(2)]
        services = [
            subprocess.Popen(
                [*command(), "-c", str(config), "run"],
                cwd=tmp_path,
                env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8", **env},
                stdout=subprocess.DEVNULL,
                stderr=log.open("w"),
            )
            for log in logs
        ]
        pids = {str(p.pid) for p in services}
        try:
            deadline = time.monotonic() + CHURN_SECONDS
            while time.monotonic() < deadline:
                time.sleep(0.25)
                sim.state.step()  # stock moves, a new order or an edited one
            deadline = time.monotonic() + SETTLE_SECONDS
            while time.monotonic() < deadline and not settled(mysql_url, sim):
                time.sleep(0.3)
        finally:
            for p in services:
                p.send_signal(signal.SIGTERM)
            for p in services:
                p.wait(timeout=30)
        for p, log in zip(services, logs, strict=True):
            err = log.read_text(encoding="utf-8")
            assert p.returncode == 0, err
            assert "Traceback" not in err, err
            assert '"level": "error"' not in err, err  # nothing failed along the way, even if retried
    finally:
        sim.stop()

    engine = make_engine(mysql_url)
    try:
        with engine.connect() as conn:
            outbox = conn.execute(
                select(Outbox.topic, Outbox.key, Outbox.delivered_at, Outbox.failed_at)
            ).all()
            runs = conn.execute(
                select(
                    SyncRun.connector, SyncRun.stream, SyncRun.owner, SyncRun.started_at, SyncRun.finished_at
                )
            ).all()
            orders = conn.execute(select(SalesOrder.external_id, SalesOrder.status)).all()
            instructions = conn.execute(
                select(DispatchInstruction.order_id, func.count()).group_by(DispatchInstruction.order_id)
            ).all()
            listings = conn.execute(
                select(ChannelListing.sku, ChannelListing.planned_qty, ChannelListing.last_pushed_qty).where(
                    ChannelListing.channel == "shop"
                )
            ).all()
    finally:
        engine.dispose()

    # every message went out, and each receiver took each key once
    undelivered = [(t, k) for t, k, delivered, failed in outbox if delivered is None or failed is not None]
    assert undelivered == [], undelivered
    by_topic = Counter(t for t, *_ in outbox)
    for topic in ("dispatch.send", "alert.notify", "stock.push"):
        assert by_topic[topic] > 0, by_topic

    dispatch_keys = Counter(key for key, valid in receiver.calls if valid)
    assert not [k for k, n in dispatch_keys.items() if n > 1], dispatch_keys
    assert set(dispatch_keys) == {k for t, k, *_ in outbox if t == "dispatch.send"}

    alert_keys = Counter(r.headers.get("Idempotency-Key") for r in alerts.requests)
    assert alerts.refused == 0
    assert not [k for k, n in alert_keys.items() if n > 1], alert_keys
    assert set(alert_keys) == {k for t, k, *_ in outbox if t == "alert.notify"}

    refs = Counter(str(p["ref"]).removesuffix(":cas") for p in sim.state.pushes)
    assert not [r for r, n in refs.items() if n > 1], refs
    assert set(refs) <= {k for t, k, *_ in outbox if t == "stock.push"}
    assert listings, "nothing was planned for the shop"
    for sku, planned, pushed in listings:
        external, factor = PACKS.get(sku, (sku, 1))
        assert (pushed, sim.state.shown.get(external)) == (planned // factor,) * 2, (sku, planned, pushed)

    # every order with bound SKUs landed once and went to one warehouse
    landed = Counter(ext for ext, _ in orders)
    assert not [e for e, n in landed.items() if n > 1]
    expected = expected_orders(sim)
    assert expected <= set(landed), expected - set(landed)
    assert all(n == 1 for _, n in instructions), instructions
    statuses = Counter(status for _, status in orders)
    assert statuses["dispatched"] >= len(expected) - statuses["on_hold"] > 0, statuses

    # a stream runs in one place at a time; both services took part
    by_stream: dict[tuple[str, str], list[tuple[datetime, datetime, str | None]]] = {}
    for connector, stream, owner, started, finished in runs:
        assert finished is not None, (connector, stream, owner)
        by_stream.setdefault((connector, stream), []).append((started, finished, owner))
    for stream, spans in by_stream.items():
        spans.sort()
        for (_, end, first), (start, _, second) in pairwise(spans):
            assert end <= start, (stream, first, second, end, start)
    owners = {r.owner.split(":")[1] for r in runs if r.owner}
    assert owners == pids, (owners, pids)
