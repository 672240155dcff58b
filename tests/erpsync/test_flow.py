"""End to end through the CLI against the simulated ERP and shop served over real HTTP."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from erpsync.cli import run_cli
from erpsync.demo_files import write_demo_files
from erpsync.simulator import Simulator
from store.db import make_engine
from store.models import OrderLine, Quarantine, SalesOrder, StockLevel, StockMovement, SyncRun
from tests.connectors.test_connector_registry import PLUGIN_SOURCE, Install


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = Simulator(tick=3600).start()  # data changes only when the test says so
    yield simulator
    simulator.stop()


@pytest.fixture
def config(tmp_path: Path, sim: Simulator) -> Path:
    """The demo's own config and bindings: it needs nothing from the environment."""
    path = write_demo_files(sim.url, "en", tmp_path)
    assert run_cli(["-c", str(path), "db", "upgrade"]) == 0
    return path


def cli(config: Path, *args: str) -> int:
    return run_cli(["-c", str(config), *args])


def test_sync_quarantine_fix_and_retry(
    config: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = make_engine(f"sqlite:///{config.parent / 'erpsync.db'}")
    assert cli(config, "sync", "erp") == 0
    with engine.connect() as conn:
        levels = conn.execute(select(func.count(), func.sum(StockLevel.on_hand))).one()
        ledger = conn.execute(select(func.count()).select_from(StockMovement)).scalar_one()
    expected = sum(row["qty"] for row in sim.state.stock.values())
    assert tuple(levels) == (len(sim.state.stock), expected)
    assert ledger == len(sim.state.stock)

    # The shop's SKUs need bindings: without them every order is quarantined as unmapped_sku,
    # and the run is partial (exit 3).
    assert cli(config, "sync", "shop") == 3
    assert cli(config, "quarantine", "list", "--reason", "unmapped_sku") == 0
    listed = capsys.readouterr().out
    assert listed.count("unmapped_sku") == len(sim.state.orders)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SalesOrder)).scalar_one() == 0
        first_id = conn.execute(select(func.min(Quarantine.id))).scalar_one()
    assert cli(config, "quarantine", "show", str(first_id)) == 0
    shown = capsys.readouterr().out
    assert "no SKU binding for shop:" in shown
    assert '"line_items"' in shown

    # IT staff import the bindings and retry: the bound orders land, MUG-X stays refused.
    assert cli(config, "mapping", "import-skus", str(config.parent / "skus.csv")) == 0
    with engine.connect() as conn:
        ids = [str(i) for i in conn.execute(select(Quarantine.id)).scalars()]
    assert cli(config, "quarantine", "retry", *ids) == 3  # partial: MUG-X has no binding yet
    out = capsys.readouterr().out
    unbound = sum(1 for o in sim.state.orders.values() if o["line_items"][0]["sku"] == "MUG-X")
    assert f"{len(ids) - unbound} landed, {unbound} still refused" in out
    with engine.connect() as conn:
        cups = conn.execute(
            select(OrderLine.qty, OrderLine.unit_price).where(OrderLine.sku == "CUP-010")
        ).all()
        open_rows = conn.execute(select(func.count()).where(Quarantine.status == "open")).scalar_one()
    packs = [o["line_items"][0] for o in sim.state.orders.values() if o["line_items"][0]["sku"] == "CUP-6PK"]
    assert sorted(q for q, _ in cups) == sorted(6 * p["quantity"] for p in packs)
    assert all(str(price) == "15.0000" for _, price in cups)  # 90.00 a pack of 6
    assert open_rows == unbound

    # What cannot be fixed is discarded and leaves the open list.
    with engine.connect() as conn:
        still_open = [
            str(i) for i in conn.execute(select(Quarantine.id).where(Quarantine.status == "open")).scalars()
        ]
    assert cli(config, "quarantine", "discard", *still_open) == 0
    assert f"discarded {len(still_open)} record(s)" in capsys.readouterr().out
    assert cli(config, "quarantine", "list") == 0
    assert "nothing in quarantine" in capsys.readouterr().out

    # Status shows every stream with its cursor and counts.
    assert cli(config, "status") == 0
    status = capsys.readouterr().out
    assert re.search(r"erp\s+│\s+stock\s+│.*ok", status)
    engine.dispose()


def test_incremental_sync_reads_from_the_cursor(config: Path, sim: Simulator) -> None:
    engine = make_engine(f"sqlite:///{config.parent / 'erpsync.db'}")
    assert cli(config, "sync", "erp", "--stream", "stock") == 0
    sim.state.step()  # two stock moves (and an order) in the ERP and shop
    assert cli(config, "sync", "erp", "--stream", "stock") == 0
    with engine.connect() as conn:
        stored = {(s, q) for s, q in conn.execute(select(StockLevel.sku, StockLevel.on_hand))}
        runs_changed = conn.execute(select(func.count()).select_from(StockMovement)).scalar_one()
    assert {(k[0], v["qty"]) for k, v in sim.state.stock.items()} >= stored
    assert len(sim.state.stock) <= runs_changed <= len(sim.state.stock) + 2
    engine.dispose()


def test_service_runs_scheduled_streams_for_a_bounded_time(config: Path, sim: Simulator) -> None:
    started = time.monotonic()
    assert cli(config, "run", "--for", "4") == 0
    assert time.monotonic() - started < 15
    engine = make_engine(f"sqlite:///{config.parent / 'erpsync.db'}")
    with engine.connect() as conn:
        levels = conn.execute(select(func.count()).select_from(StockLevel)).scalar_one()
    assert levels == len(sim.state.stock)
    engine.dispose()


def test_sigterm_stops_the_service_after_the_current_page(config: Path, sim: Simulator) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "erpsync.cli",
            "-c",
            str(config),
            "--log-format",
            "json",
            "--log-level",
            "info",
            "run",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    engine = make_engine(f"sqlite:///{config.parent / 'erpsync.db'}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            runs = conn.execute(select(func.count()).where(SyncRun.status == "ok")).scalar_one()
        if runs >= 3:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "service stopped" in err
    with engine.connect() as conn:
        statuses = set(conn.execute(select(SyncRun.status)).scalars())
    assert "running" not in statuses
    assert statuses <= {"ok", "stopped"}
    engine.dispose()


def test_mapping_preview_prints_records_and_reasons(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    order = {
        "id": 1,
        "updated_at": "2026-11-01T08:00:00Z",
        "created_at": "2026-11-01T08:00:00Z",
        "financial_status": "paid",
        "currency": "CNY",
        "total_price": "59.00",
        "line_items": [{"id": 10, "sku": "TEA-001", "quantity": 1, "price": "59.00"}],
    }
    broken = {**order, "id": 2, "line_items": [{"id": 20, "sku": "TEA-001", "price": "59.00"}]}
    sample = tmp_path / "orders.json"
    sample.write_text(json.dumps({"orders": [order, broken]}))
    # 3: some records of the sample would be quarantined
    assert cli(config, "mapping", "preview", "shop", "orders", "--sample", str(sample)) == 3
    out = capsys.readouterr().out
    assert '"external_id": "1"' in out
    assert "lines[0].qty" in out
    assert "1 ok, 1 failing" in out


def test_connectors_list_shows_an_installed_plugin(
    config: Path,
    install_plugin: Install,
    capsys: pytest.CaptureFixture[str],
) -> None:
    install_plugin("acme_erpsync", "acme", PLUGIN_SOURCE.format(kind="acme"))
    assert cli(config, "connectors", "list") == 0
    out = capsys.readouterr().out
    assert re.search(r"acme\s+│\s+acme_erpsync:AcmeConnector", out)
    assert re.search(r"shop\s+│\s+rest\s+│\s+yes\s+│\s+orders \(2s\)", out)


def test_stock_flows_from_erp_to_the_shop_with_a_rule_limited_sku(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_demo_files(sim.url, "en", tmp_path)
    for args in (["db", "upgrade"], ["mapping", "import-skus", str(tmp_path / "skus.csv")], ["sync", "erp"]):
        assert cli(config, *args) == 0
    capsys.readouterr()
    assert cli(config, "stock", "plan") == 0
    planned = " ".join(capsys.readouterr().out.split())
    # the shop has `skus: bound`: TEA-002 has no binding for it and is not sent under our SKU
    assert re.search(
        r"shop: [1-9]\d* SKU\(s\) skipped, no SKU binding for this channel \(skus: bound\):", planned
    )
    assert "TEA-002" in planned.split("skipped")[1]
    assert cli(config, "stock", "push") == 0
    assert "failed 0" in capsys.readouterr().out
    assert "TEA-002" not in sim.state.shown

    def available(sku: str) -> int:
        return sum(
            v["qty"] for (s, wh), v in sim.state.stock.items() if s == sku and wh in ("WH-SH", "DS-GZ")
        )

    # 90 % of what the two warehouses hold, minus a buffer of 1; cups capped at 20 = 3 packs of 6
    assert sim.state.shown["TEA-001"] == available("TEA-001") * 90 // 100 - 1
    assert sim.state.shown["CUP-6PK"] == min(20, available("CUP-010") * 90 // 100 - 1) // 6
    pushed = len(sim.state.pushes)

    assert cli(config, "stock", "push") == 0  # nothing changed: nothing is sent again
    assert len(sim.state.pushes) == pushed
    assert cli(config, "stock", "drift") == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "no drift" in said
    assert re.search(r"compared [1-9]\d* SKU\(s\) with the quantity last pushed", said)
    assert "skipped 0 with a push still queued or in flight, 0 never pushed" in said
    sim.state.shown["TEA-001"] += 5  # someone edits the shop by hand
    assert cli(config, "stock", "drift", "--correct") == 1
    assert re.search(r"TEA-001 .* -?\d+ .* \+5 ", " ".join(capsys.readouterr().out.split()))
    assert cli(config, "stock", "push") == 0
    assert sim.state.shown["TEA-001"] == available("TEA-001") * 90 // 100 - 1


def test_orders_are_routed_explained_dispatched_and_shipped_from_the_cli(
    config: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    for args in (
        ["mapping", "import-skus", str(config.parent / "skus.csv")],
        ["sync", "erp"],
    ):
        assert cli(config, *args) == 0
    assert cli(config, "sync", "shop") == 3  # partial: the MUG-X orders have no SKU binding
    assert cli(config, "orders", "process") == 0
    assert re.search(r"dispatched [1-9]\d*, on hold 0", capsys.readouterr().out)
    engine = make_engine(f"sqlite:///{config.parent / 'erpsync.db'}")
    with engine.connect() as conn:
        order = conn.execute(
            select(SalesOrder.external_id, SalesOrder.ship_region)
            .where(SalesOrder.status == "dispatched")
            .order_by(SalesOrder.id)
            .limit(1)
        ).one()
    engine.dispose()
    assert cli(config, "orders", "explain", f"shop/{order.external_id}") == 0
    explained = capsys.readouterr().out
    assert f"ship to {order.ship_region}" in explained
    assert "dispatched as DI-" in explained
    assert "Outcome:" in explained

    assert cli(config, "dispatch", "list", "--status", "queued") == 0
    number = re.search(r"(DI-\d{8}-\d{6}-\d)", capsys.readouterr().out)
    assert number is not None
    assert cli(config, "dispatch", "ack", number.group(1), "--by", "wms") == 0
    assert "acknowledged" in capsys.readouterr().out
    assert cli(config, "dispatch", "ship", number.group(1), "--carrier", "SF", "--tracking", "SF100") == 0
    assert "order is shipped" in capsys.readouterr().out
    assert cli(config, "dispatch", "show", number.group(1)) == 0
    shown = capsys.readouterr().out
    assert "shipped" in shown
    assert "tracking SF100" in shown
    assert cli(config, "dispatch", "ack", "DI-NOPE") == 2
    assert "no dispatch instruction DI-NOPE" in capsys.readouterr().err
    # a shipped instruction: the same parcel again is fine, anything more is a wrong command (exit 2)
    assert cli(config, "dispatch", "ship", number.group(1), "--carrier", "SF", "--tracking", "SF100") == 0
    assert cli(config, "dispatch", "ship", number.group(1), "--carrier", "SF", "--tracking", "SF101") == 2
    assert (
        f"dispatch instruction {number.group(1)} is shipped: nothing is left to ship"
        in capsys.readouterr().err
    )
    assert cli(config, "dispatch", "resend", number.group(1)) == 2
    refused = capsys.readouterr()
    assert f"dispatch instruction {number.group(1)} is shipped: a re-send would ask" in refused.err
    assert "queued again" not in refused.out
