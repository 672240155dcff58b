"""Orders and the outbox at the command line: failed deliveries visible and retried, held orders
released in bulk with a note, and commands that work in batches say what is left."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from core.errors import PermanentError
from delivery.outcomes import Failed, Outcome
from delivery.worker import OutboxWorker
from erpsync import cli_orders
from erpsync.cli import run_cli
from routing.dispatch import FULFIL_TOPIC
from routing.erp import TOPIC as ERP_TOPIC
from routing.erp import ErpOrderHandler
from routing.process import OrderSettings, process_orders
from routing.shipments import report_shipment
from store import stock
from store.locations import LocationSpec, apply_locations
from store.models import AuditLog, DispatchInstruction, Outbox, SalesOrder
from store.outbox import Message
from tests.routing.test_held_orders import import_orders, land_products, order

CONFIG = """\
database:
  url: {url}
locations:
  - {{code: WH, name: Factory, kind: warehouse}}
connectors:
  - name: erp
    kind: odoo
    settings: {{url: "https://odoo.example", database: prod, username: erpsync, api_key: odoo-key-123,
                create_sales: true, partner_id: 7}}
routing:
  erp_connector: erp
"""


class Erp:
    """The ERP's sales order sink: refuses until ``fixed``."""

    name = "erp"

    def __init__(self) -> None:
        self.fixed = False

    def sales_settings_missing(self) -> str | None:
        return None

    def create_sales_order(self, doc: Any) -> str:
        if not self.fixed:
            raise PermanentError("creating sales orders is off", hint="set create_sales")
        return "SO-1"


@pytest.fixture
def config(store_engine: Engine, tmp_path: Path) -> Path:
    ids = apply_locations(store_engine, [LocationSpec("WH", "Factory", "warehouse")])
    with store_engine.begin() as conn:
        stock.adjust(conn, "TEA", ids["WH"], 1000, ref="count")
    land_products(store_engine, "TEA")
    path = tmp_path / "erpsync.yaml"
    path.write_text(
        CONFIG.format(url=store_engine.url.render_as_string(hide_password=False)), encoding="utf-8"
    )
    return path


def cli(config: Path, *args: str) -> int:
    return run_cli(["--config", str(config), *args])


def table_row(out: str, start: str) -> list[str]:
    """The cells of the one row of a printed table that holds ``start`` (log lines are no table rows)."""
    [row] = [line for line in out.splitlines() if line.startswith("│") and start in line]
    return [cell.strip() for cell in row.strip("│").split("│")]


def refuse_fulfilments(messages: list[Message]) -> list[Outcome]:
    return [Failed("422 the shop has no such order")] * len(messages)


def test_a_refused_sales_document_shows_on_the_order_and_is_sent_again_from_the_cli(
    store_engine: Engine, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import_orders(store_engine, order("1001", [("TEA", 2, "10")]))
    assert process_orders(store_engine, OrderSettings(erp_connector="erp")).dispatched == 1
    erp = Erp()
    worker = OutboxWorker(
        store_engine,
        {ERP_TOPIC: ErpOrderHandler(store_engine, {"erp": erp}, None), FULFIL_TOPIC: refuse_fulfilments},
    )
    assert worker.run_once().failed == 1
    with store_engine.connect() as conn:
        erp_id = conn.execute(select(Outbox.id).where(Outbox.topic == ERP_TOPIC)).scalar_one()

    assert cli(config, "orders", "list") == 0
    row = table_row(capsys.readouterr().out, "shop/1001")
    assert row[1:4] == ["dispatched", "failed: creating sales orders is off — set create_sales", "-"]
    assert cli(config, "orders", "explain", "shop/1001") == 0
    explained = capsys.readouterr().out
    assert "ERP sales document: failed: creating sales orders is off" in explained
    assert f"outbox message {erp_id}:" in explained

    assert cli(config, "outbox", "list", "--failed") == 0
    listed = capsys.readouterr().out
    for column in ("id", "topic", "partition", "key", "status", "attempts", "next attempt", "last error"):
        assert column in listed
    row = table_row(listed, ERP_TOPIC)
    assert row[:3] + row[4:7] == [str(erp_id), ERP_TOPIC, "erp", "failed", "1", "-"]
    assert row[7] == "creating sales orders is off — set create_sales"
    assert "order_id" not in listed  # never a payload
    assert cli(config, "outbox", "show", str(erp_id)) == 0
    shown = capsys.readouterr().out
    assert "order:         shop/1001" in shown
    assert "payload:       not shown (it may hold personal data); fields: order_id" in shown
    assert "last error:    creating sales orders is off" in shown

    # the channel's side: a parcel whose fulfilment the shop refuses
    with store_engine.connect() as conn:
        number = conn.execute(select(DispatchInstruction.number)).scalar_one()
    report_shipment(store_engine, number, carrier="SF", tracking_no="SF1001")
    assert cli(config, "orders", "list") == 0
    row = table_row(capsys.readouterr().out, "shop/1001")
    assert (row[1], row[3]) == ("shipped", "pending")
    erp.fixed = True
    assert cli(config, "outbox", "retry", str(erp_id)) == 0
    assert "requeued" in capsys.readouterr().out
    stats = worker.run_once()
    assert (stats.delivered, stats.failed) == (1, 1)

    assert cli(config, "orders", "list") == 0
    row = table_row(capsys.readouterr().out, "shop/1001")
    assert row[2:4] == ["delivered", "failed: 422 the shop has no such order"]
    assert cli(config, "outbox", "show", str(erp_id)) == 0
    assert "last error:    -" in capsys.readouterr().out  # cleared once delivered
    assert cli(config, "outbox", "retry", str(erp_id)) == 4  # delivered: nothing to do
    assert cli(config, "outbox", "retry", "987654") == 2
    assert "no outbox message 987654" in capsys.readouterr().err


def test_retry_all_failed_works_in_batches_and_says_what_is_left(
    store_engine: Engine, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import_orders(store_engine, *(order(str(n), [("TEA", 1, "10")]) for n in range(3)))
    process_orders(store_engine, OrderSettings(erp_connector="erp"))
    worker = OutboxWorker(store_engine, {ERP_TOPIC: ErpOrderHandler(store_engine, {"erp": Erp()}, None)})
    while worker.run_once().failed:
        pass  # each partition head fails in turn
    capsys.readouterr()  # the log lines of the set-up

    assert cli(config, "outbox", "retry", "--all-failed", "--limit", "2") == 0
    assert capsys.readouterr().out.strip() == "requeued 2 of 3 failed message(s) — run again or pass --all"
    assert cli(config, "outbox", "retry", "--all-failed", "--all") == 0
    assert capsys.readouterr().out.strip() == "requeued 1 failed message(s)"
    assert cli(config, "outbox", "retry", "--all-failed") == 4
    assert cli(config, "outbox", "retry") == 2  # neither an id nor --all-failed


def held(engine: Engine, channel: str) -> list[str]:
    with engine.connect() as conn:
        return sorted(
            conn.execute(
                select(SalesOrder.external_id).where(
                    SalesOrder.status == "on_hold", SalesOrder.channel == channel
                )
            ).scalars()
        )


def test_release_all_held_for_one_reason_of_one_channel_with_a_note(
    store_engine: Engine, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unpaid = [order(f"u{n}", [("TEA", 1, "10")], status="unpaid") for n in range(5)]
    import_orders(store_engine, *unpaid, order("x1", [("POT", 1, "10")]))  # POT: an unknown SKU
    other = order("o1", [("TEA", 1, "10")], status="unpaid")
    other["data"]["channel"] = "market"
    import_orders(store_engine, other)
    assert process_orders(store_engine, OrderSettings()).held == 7

    assert cli(config, "orders", "release", "--all") == 2  # a note is required
    assert cli(config, "orders", "release", "--all", "--reason", "x", "--hold-reason", "late") == 2
    assert "awaiting_payment" in capsys.readouterr().err  # the known codes
    args = [
        "--all",
        "--reason",
        "paid by bank transfer",
        "--hold-reason",
        "awaiting_payment",
        "--channel",
        "shop",
    ]
    assert cli(config, "orders", "release", *args, "--by", "li.wei") == 0
    assert "released 5 order(s)" in capsys.readouterr().out
    assert held(store_engine, "shop") == ["x1"]
    assert held(store_engine, "market") == ["o1"]
    with store_engine.connect() as conn:
        audit = conn.execute(select(AuditLog.actor, AuditLog.action, AuditLog.target, AuditLog.details)).all()
    assert sorted(a.target for a in audit) == [f"shop/u{n}" for n in range(5)]
    assert {(a.actor, a.action, a.details["note"]) for a in audit} == {
        ("li.wei", "release_hold", "paid by bank transfer")
    }
    assert all(a.details["hold_reason"].startswith("awaiting payment") for a in audit)
    assert cli(config, "orders", "release", *args) == 4  # none left to release

    assert cli(config, "orders", "release", "market/o1", "--reason", "checked by phone") == 0  # one by id
    assert held(store_engine, "market") == []
    with store_engine.connect() as conn:
        notes = conn.execute(select(AuditLog.details).where(AuditLog.target == "market/o1")).scalars().all()
    assert [n["note"] for n in notes] == ["checked by phone"]
    # released already: nothing to do, said so, and nothing more in the audit log
    assert cli(config, "orders", "release", "market/o1", "--reason", "again") == 4
    assert "not on hold: nothing to release" in capsys.readouterr().out


def test_process_says_how_many_are_left_and_all_goes_on_until_done(
    store_engine: Engine, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_orders, "PASS_LIMIT", 2)
    import_orders(store_engine, *(order(str(n), [("TEA", 1, "10")]) for n in range(5)))
    capsys.readouterr()  # the log lines of the set-up

    assert cli(config, "orders", "process") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("dispatched 2, on hold 0")
    assert lines[1] == "processed 2 of 5 received order(s) — run again or pass --all"
    assert cli(config, "orders", "process", "--all") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["dispatched 3, on hold 0, to route again 0"]
    with store_engine.connect() as conn:
        statuses = set(conn.execute(select(SalesOrder.status)).scalars())
    assert statuses == {"dispatched"}
