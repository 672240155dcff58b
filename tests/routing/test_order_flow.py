"""Orders end to end: imported → validated → routed → dispatched → acknowledged → shipped →
fulfilment told to the channel; stock and ledger consistent throughout."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
from sqlalchemy import Engine, func, select

from connectors.rest import RestConnector, RestSettings
from core.clock import utcnow
from delivery.worker import OutboxWorker
from routing import dispatch, shipments
from routing.delivery import DeliveryTarget, DispatchSender
from routing.engine import RoutingPolicy
from routing.fulfilment import FulfilmentHandler
from routing.process import OrderSettings, process_orders
from store import stock
from store.locations import LocationSpec, apply_locations
from store.models import (
    Allocation,
    DispatchInstruction,
    OrderLine,
    Outbox,
    Product,
    SalesOrder,
    StockLevel,
    StockMovement,
)
from sync.engine import StreamJob, run_stream
from tests.sync.fakes import ListSource, plain_mapper

ADDRESS = {
    "name": "王小明",
    "phone": "13800000000",
    "province": "广东省",
    "city": "广州市",
    "district": "天河区",
    "street": "科技路 1 号",
    "postal_code": "510000",
}


def order_row(
    ext: str,
    lines: list[tuple[str, int]],
    *,
    status: str = "paid",
    updated: str = "t1",
    ship_to: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": ext,
        "updated": updated,
        "data": {
            "channel": "shop",
            "external_id": ext,
            "status": status,
            "ship_to": ship_to or ADDRESS,
            "lines": [
                {"sku": s, "qty": q, "unit_price": "10", "external_line_id": f"{ext}-{n}"}
                for n, (s, q) in enumerate(lines, 1)
            ],
        },
    }


@pytest.fixture
def world(store_engine: Engine) -> dict[str, int]:
    ids = apply_locations(
        store_engine,
        [
            LocationSpec("WH", "Factory", "warehouse"),
            LocationSpec(
                "DS-GZ", "Guangzhou distributor", "distributor", parent="WH", regions=("广东省/广州市",)
            ),
            LocationSpec("DS-BJ", "Beijing distributor", "distributor", parent="WH", regions=("北京市",)),
        ],
    )
    now = utcnow()
    with store_engine.begin() as conn:
        conn.execute(
            Product.__table__.insert(),
            [
                {"sku": s, "name": n, "uom": "pcs", "active": True, "created_at": now, "updated_at": now}
                for s, n in (("TEA", "Green tea"), ("CUP", "Cup"))
            ],
        )
        for sku, loc, qty in (
            ("TEA", "DS-GZ", 10),
            ("CUP", "DS-GZ", 4),
            ("TEA", "WH", 100),
            ("CUP", "WH", 100),
        ):
            stock.adjust(conn, sku, ids[loc], qty, ref="count")
    return ids


def level(engine: Engine, sku: str, loc: int) -> tuple[int, int]:
    with engine.connect() as conn:
        row = conn.execute(
            select(StockLevel.on_hand, StockLevel.reserved).where(
                StockLevel.sku == sku, StockLevel.location_id == loc
            )
        ).one()
    return (row.on_hand, row.reserved)


def assert_ledger_consistent(engine: Engine) -> None:
    with engine.connect() as conn:
        sums = {
            (s, loc): (int(a), int(b))
            for s, loc, a, b in conn.execute(
                select(
                    StockMovement.sku,
                    StockMovement.location_id,
                    func.sum(StockMovement.delta_on_hand),
                    func.sum(StockMovement.delta_reserved),
                ).group_by(StockMovement.sku, StockMovement.location_id)
            )
        }
        levels = {
            (s, loc): (a, b)
            for s, loc, a, b in conn.execute(
                select(StockLevel.sku, StockLevel.location_id, StockLevel.on_hand, StockLevel.reserved)
            )
        }
    assert sums == levels


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_reimporting_a_page_three_times_gives_one_of_everything(
    store_engine: Engine, world: dict[str, int]
) -> None:
    source = ListSource("shop", {"orders": [order_row("1001", [("TEA", 2), ("CUP", 1)])]})
    job = StreamJob(source, "orders", plain_mapper("orders"))
    for _ in range(3):
        run_stream(store_engine, job, full=True)
        process_orders(store_engine, OrderSettings())
    assert count(store_engine, SalesOrder) == 1
    assert count(store_engine, Allocation) == 2  # one per line, both at DS-GZ
    assert count(store_engine, DispatchInstruction) == 1
    with store_engine.connect() as conn:
        assert conn.execute(select(func.count()).where(Outbox.topic == "dispatch.send")).scalar_one() == 1
    assert level(store_engine, "TEA", world["DS-GZ"]) == (10, 2)
    assert_ledger_consistent(store_engine)


def test_holds_name_what_to_fix(store_engine: Engine, world: dict[str, int]) -> None:
    rows = [
        order_row("2001", [("TEA", 1)], ship_to={**ADDRESS, "phone": None, "street": None}),
        order_row("2002", [("NOPE", 1)]),
        order_row("2003", [("TEA", 1)], status="pending"),
        order_row("2004", [("TEA", 1)], ship_to={**ADDRESS, "province": "西藏自治区", "city": "拉萨市"}),
        order_row("2005", [("TEA", 500)]),
    ]
    run_stream(
        store_engine, StreamJob(ListSource("shop", {"orders": rows}), "orders", plain_mapper("orders"))
    )
    stats = process_orders(store_engine, OrderSettings())
    with store_engine.connect() as conn:
        holds = dict(conn.execute(select(SalesOrder.external_id, SalesOrder.hold_reason)).tuples().all())
    assert stats.dispatched == 1  # 2004: no distributor there, the factory (the root) ships it
    assert holds["2001"] == "ship-to address incomplete: missing phone, street"
    assert holds["2002"].startswith("unknown SKU: NOPE")
    assert holds["2003"] == "awaiting payment (channel status pending)"
    assert holds["2004"] is None
    assert holds["2005"].startswith("no_stock")


@responses.activate
def test_order_to_fulfilment_end_to_end(store_engine: Engine, world: dict[str, int], tmp_path: Path) -> None:
    source = ListSource("shop", {"orders": [order_row("3001", [("TEA", 3), ("CUP", 2)])]})
    run_stream(store_engine, StreamJob(source, "orders", plain_mapper("orders")))
    assert process_orders(store_engine, OrderSettings(policy=RoutingPolicy())).dispatched == 1
    gz = world["DS-GZ"]
    assert level(store_engine, "TEA", gz) == (10, 3)

    # the instruction is delivered (CSV drop folder) through the outbox
    sender = DispatchSender({"DS-GZ": DeliveryTarget("csv", folder=str(tmp_path / "gz"))}, None)
    worker = OutboxWorker(
        store_engine, {dispatch.SEND_TOPIC: dispatch.InstructionHandler(store_engine, sender, None)}
    )
    assert worker.run_once().delivered == 1
    [note] = list((tmp_path / "gz").iterdir())
    text = note.read_text(encoding="utf-8-sig")
    assert "TEA" in text
    assert "CUP" in text
    with store_engine.connect() as conn:
        number = conn.execute(select(DispatchInstruction.number, DispatchInstruction.status)).one()
    assert number.status == "sent"

    # another location may not acknowledge it; its own warehouse does
    with pytest.raises(dispatch.Forbidden):
        dispatch.acknowledge(store_engine, number.number, by="bj", locations={"DS-BJ"})
    assert (
        dispatch.acknowledge(store_engine, number.number, by="gz-wms", locations={"DS-GZ"}) == "acknowledged"
    )

    # a partial parcel, then the rest
    with store_engine.connect() as conn:
        tea_line = conn.execute(select(OrderLine.line_no).where(OrderLine.sku == "TEA")).scalar_one()
    status = shipments.report_shipment(
        store_engine,
        number.number,
        carrier="SF",
        tracking_no="SF1",
        lines=[shipments.ShippedLine(tea_line, 2)],
        locations={"DS-GZ"},
    )
    assert status == "partially_shipped"
    assert level(store_engine, "TEA", gz) == (
        8,
        1,
    )  # erpsync keeps DS-GZ's books: shipped units leave on-hand
    status = shipments.report_shipment(store_engine, number.number, carrier="SF", tracking_no="SF2")
    assert status == "shipped"
    assert (
        shipments.report_shipment(store_engine, number.number, carrier="SF", tracking_no="SF2") == "shipped"
    )
    assert level(store_engine, "TEA", gz) == (7, 0)
    assert level(store_engine, "CUP", gz) == (2, 0)
    assert_ledger_consistent(store_engine)

    # each parcel is told to the channel once, with its tracking number and the channel's line ids
    responses.post("https://shop.example/api/orders/3001/fulfilments", status=503)
    responses.post("https://shop.example/api/orders/3001/fulfilments", json={"ok": True})
    responses.post("https://shop.example/api/orders/3001/fulfilments", json={"ok": True})
    shop = RestConnector(
        "shop",
        RestSettings.model_validate(
            {
                "base_url": "https://shop.example/api/",
                "max_attempts": 1,
                "fulfilment_push": {"path": "orders/{order_id}/fulfilments"},
            }
        ),
    )
    push = OutboxWorker(
        store_engine, {dispatch.FULFIL_TOPIC: FulfilmentHandler(store_engine, {"shop": shop})}
    )
    now = utcnow()
    push.run_once(now)  # 503: retried later
    for step in range(1, 4):
        push.run_once(now + timedelta(minutes=step))
    bodies = [json.loads(c.request.body) for c in responses.calls if c.response.status_code == 200]
    assert [(b["tracking_no"], [(ln["line_id"], ln["qty"]) for ln in b["lines"]]) for b in bodies] == [
        ("SF1", [("3001-1", 2)]),
        ("SF2", [("3001-1", 1), ("3001-2", 2)]),
    ]
    assert all(
        c.request.headers["Idempotency-Key"].startswith("fulfilment.push:shop:3001:") for c in responses.calls
    )


def test_cancellation_after_dispatch_becomes_a_recall(
    store_engine: Engine, world: dict[str, int], tmp_path: Path
) -> None:
    rows = [order_row("4001", [("TEA", 4)])]
    source = ListSource("shop", {"orders": rows})
    job = StreamJob(source, "orders", plain_mapper("orders"))
    run_stream(store_engine, job)
    process_orders(store_engine, OrderSettings())
    rows[0] = order_row("4001", [("TEA", 4)], status="cancelled", updated="t2")
    run_stream(store_engine, job)
    with store_engine.connect() as conn:
        order = conn.execute(select(SalesOrder.status, SalesOrder.change_note)).one()
    assert order.status == "dispatched"  # not silently cancelled: the warehouse may be packing it
    assert "recall requested" in order.change_note
    assert dispatch.request_recalls(store_engine) == 1
    sender = DispatchSender({"DS-GZ": DeliveryTarget("csv", folder=str(tmp_path / "gz"))}, None)
    worker = OutboxWorker(
        store_engine,
        {dispatch.SEND_TOPIC: dispatch.InstructionHandler(store_engine, sender, None)},
        per_partition={dispatch.SEND_TOPIC: 5},
    )
    for _ in range(3):
        worker.run_once()
    with store_engine.connect() as conn:
        number = conn.execute(select(DispatchInstruction.number)).scalar_one()
    assert "recall" in (tmp_path / "gz" / f"{number}.recall.csv").read_text(encoding="utf-8-sig")
    assert dispatch.acknowledge(store_engine, number, by="gz") == "recalled"
    with store_engine.connect() as conn:
        assert conn.execute(select(SalesOrder.status)).scalar_one() == "cancelled"
    assert level(store_engine, "TEA", world["DS-GZ"]) == (10, 0)
    assert_ledger_consistent(store_engine)


def test_unacknowledged_instruction_is_resent_and_escalated(
    store_engine: Engine, world: dict[str, int]
) -> None:
    run_stream(
        store_engine,
        StreamJob(
            ListSource("shop", {"orders": [order_row("5001", [("TEA", 1)])]}),
            "orders",
            plain_mapper("orders"),
        ),
    )
    process_orders(store_engine, OrderSettings(sla=timedelta(hours=2)))
    assert dispatch.resend_overdue(store_engine, utcnow() + timedelta(hours=1)) == []
    resent = dispatch.resend_overdue(store_engine, utcnow() + timedelta(hours=3))
    assert len(resent) == 1
    with store_engine.connect() as conn:
        di = conn.execute(select(DispatchInstruction.send_count, DispatchInstruction.escalated_at)).one()
        keys = conn.execute(select(Outbox.key).where(Outbox.topic == "dispatch.send")).scalars().all()
    assert di.send_count == 2
    assert di.escalated_at is not None
    assert sorted(keys) == [f"dispatch.send:{resent[0]}:1", f"dispatch.send:{resent[0]}:2"]


def test_returns_are_opt_in_and_restock_or_write_off(store_engine: Engine, world: dict[str, int]) -> None:
    from routing.returns import ReturnRefused, record_return

    run_stream(
        store_engine,
        StreamJob(
            ListSource("shop", {"orders": [order_row("6001", [("TEA", 3)])]}),
            "orders",
            plain_mapper("orders"),
        ),
    )
    process_orders(store_engine, OrderSettings())
    with store_engine.connect() as conn:
        number = conn.execute(select(DispatchInstruction.number)).scalar_one()
        order_id = conn.execute(select(SalesOrder.id)).scalar_one()
    shipments.report_shipment(store_engine, number, carrier="SF", tracking_no="SF9")
    gz = world["DS-GZ"]
    assert level(store_engine, "TEA", gz) == (7, 0)
    with pytest.raises(ReturnRefused, match="does not take returns"):
        record_return(store_engine, order_id, [shipments.ShippedLine(1, 1)], policies={}, actor="cs")
    with pytest.raises(ReturnRefused, match="only 3 shipped"):
        record_return(
            store_engine, order_id, [shipments.ShippedLine(1, 4)], policies={"shop": "DS-GZ"}, actor="cs"
        )
    policies = {"shop": "DS-GZ"}
    assert record_return(
        store_engine, order_id, [shipments.ShippedLine(1, 1)], policies=policies, actor="cs"
    ) == ("partially_returned")
    assert level(store_engine, "TEA", gz) == (8, 0)
    assert (
        record_return(
            store_engine, order_id, [shipments.ShippedLine(1, 2)], policies={"shop": None}, actor="cs"
        )
        == "returned"
    )
    assert level(store_engine, "TEA", gz) == (8, 0)  # written off: not restocked
    assert_ledger_consistent(store_engine)


def test_a_shipments_stream_reports_parcels_like_the_api(store_engine: Engine, world: dict[str, int]) -> None:

    run_stream(
        store_engine,
        StreamJob(
            ListSource("shop", {"orders": [order_row("7001", [("TEA", 2), ("CUP", 1)])]}),
            "orders",
            plain_mapper("orders"),
        ),
    )
    process_orders(store_engine, OrderSettings())
    with store_engine.connect() as conn:
        number = conn.execute(select(DispatchInstruction.number)).scalar_one()
    returns = [  # a warehouse's CSV return file, one parcel per row group
        {
            "id": "p1",
            "updated": "t1",
            "data": {
                "channel": "shop",
                "order_external_id": "7001",
                "carrier": "SF",
                "tracking_no": "SF77",
                "lines": [{"sku": "TEA", "qty": 2}],
            },
        },
        {
            "id": "p2",
            "updated": "t2",
            "data": {
                "channel": "shop",
                "order_external_id": "7001",
                "carrier": "SF",
                "dispatch_number": number,
                "tracking_no": "SF78",
            },
        },
        {
            "id": "p3",
            "updated": "t3",
            "data": {"channel": "shop", "order_external_id": "nope", "carrier": "SF", "tracking_no": "SF79"},
        },
    ]
    job = StreamJob(
        ListSource("wms", {"shipments": returns}),
        "shipments",
        plain_mapper("shipments"),
    )
    result = run_stream(store_engine, job)
    assert (result.changed, result.quarantined) == (2, 1)
    assert run_stream(store_engine, job, full=True).changed == 0  # re-reading the file changes nothing
    with store_engine.connect() as conn:
        assert conn.execute(select(SalesOrder.status)).scalar_one() == "shipped"
        assert conn.execute(select(func.count()).where(Outbox.topic == "fulfilment.push")).scalar_one() == 2
    assert level(store_engine, "TEA", world["DS-GZ"]) == (8, 0)
    assert_ledger_consistent(store_engine)


def test_dispatched_orders_become_sales_documents_in_the_erp_once(
    store_engine: Engine, world: dict[str, int]
) -> None:
    from core.ports import SalesDoc
    from routing.erp import TOPIC as ERP_TOPIC
    from routing.erp import ErpOrderHandler

    class FakeErp:
        name = "erp"

        def __init__(self) -> None:
            self.docs: dict[str, SalesDoc] = {}
            self.calls = 0

        def create_sales_order(self, doc: SalesDoc) -> str:
            self.calls += 1
            self.docs.setdefault(doc.ref, doc)  # finds the one already made for the same ref
            return f"SO-{list(self.docs).index(doc.ref) + 1}"

    source = ListSource("shop", {"orders": [order_row("8001", [("TEA", 2), ("CUP", 1)])]})
    for _ in range(2):  # imported and processed twice: still one document
        run_stream(store_engine, StreamJob(source, "orders", plain_mapper("orders")), full=True)
        process_orders(store_engine, OrderSettings(erp_connector="erp"))
    erp = FakeErp()
    worker = OutboxWorker(store_engine, {ERP_TOPIC: ErpOrderHandler(store_engine, {"erp": erp}, None)})
    assert worker.run_once().delivered == 1
    assert worker.run_once().delivered == 0
    [doc] = erp.docs.values()
    assert doc.ref == "shop/8001"
    assert doc.location == "DS-GZ"  # where it was routed: the ERP ships it from its warehouse
    assert [(ln.sku, ln.qty, ln.unit_price) for ln in doc.lines] == [
        ("TEA", 2, "10.0000"),
        ("CUP", 1, "10.0000"),
    ]
    with store_engine.connect() as conn:
        from store.models import AuditLog

        assert conn.execute(
            select(AuditLog.details).where(AuditLog.action == "erp_sales_order")
        ).scalar_one() == {"erp_id": "SO-1"}
