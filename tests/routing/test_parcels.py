"""Parcels and re-sends refuse what would ship more than was ordered, through every way in."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from routing import dispatch, shipments
from routing.process import OrderSettings, process_orders
from store.models import DispatchInstruction, Outbox, Quarantine, SalesOrder
from sync.engine import StreamJob, run_stream
from tests.routing import test_order_flow as flow
from tests.sync.fakes import ListSource, plain_mapper

world = flow.world


def dispatched(engine: Engine, ext: str, lines: list[tuple[str, int]]) -> str:
    source = ListSource("shop", {"orders": [flow.order_row(ext, lines)]})
    run_stream(engine, StreamJob(source, "orders", plain_mapper("orders")), full=True)
    process_orders(engine, OrderSettings())
    with engine.connect() as conn:
        return str(
            conn.execute(
                select(DispatchInstruction.number)
                .join(SalesOrder, SalesOrder.id == DispatchInstruction.order_id)
                .where(SalesOrder.external_id == ext)
            ).scalar_one()
        )


def sends(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(Outbox).where(Outbox.topic == dispatch.SEND_TOPIC)
            ).scalar_one()
        )


def parcel(
    ident: str, number: str, tracking: str, lines: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "channel": "shop",
        "order_external_id": "7101",
        "dispatch_number": number,
        "carrier": "SF",
        "tracking_no": tracking,
    }
    if lines is not None:
        data["lines"] = lines
    return {"id": ident, "updated": ident, "data": data}


def test_a_shipments_stream_quarantines_a_parcel_with_more_than_is_left(
    store_engine: Engine, world: dict[str, int]
) -> None:
    number = dispatched(store_engine, "7101", [("TEA", 2)])
    rows = [
        parcel("p1", number, "SF1", [{"sku": "TEA", "qty": 5}]),  # 5 of 2
        parcel("p2", number, "SF2", [{"sku": "TEA", "qty": 2}]),
        parcel("p3", number, "SF3"),  # everything left, after everything shipped
    ]
    job = StreamJob(
        ListSource("wms", {"shipments": rows}),
        "shipments",
        plain_mapper("shipments"),
    )
    result = run_stream(store_engine, job)
    assert (result.status, result.changed, result.quarantined) == ("ok", 1, 2)
    with store_engine.connect() as conn:
        held = dict(
            conn.execute(
                select(Quarantine.record_key, Quarantine.reason).where(
                    Quarantine.reason_code == "shipment_refused"
                )
            )
            .tuples()
            .all()
        )
        assert (
            conn.execute(select(SalesOrder.status).where(SalesOrder.external_id == "7101")).scalar_one()
            == "shipped"
        )
    assert sorted(held) == ["7101/SF1", "7101/SF3"]
    assert (
        f"line 1 (TEA): 2 ordered, 0 already shipped, 2 left to ship on {number}; this parcel has 5"
        in held["7101/SF1"]
    )
    assert f"dispatch instruction {number} is shipped: nothing is left to ship" in held["7101/SF3"]
    assert flow.level(store_engine, "TEA", world["DS-GZ"]) == (8, 0)
    flow.assert_ledger_consistent(store_engine)


@pytest.mark.parametrize("qty", [0, -3])
def test_a_parcel_line_below_one_unit_is_refused(
    store_engine: Engine, world: dict[str, int], qty: int
) -> None:
    number = dispatched(store_engine, "7102", [("TEA", 2)])
    with pytest.raises(
        dispatch.NotAllowed, match=f"line 1 \\(TEA\\): a quantity must be at least 1, not {qty}"
    ):
        shipments.report_shipment(
            store_engine, number, carrier="SF", tracking_no="SF1", lines=[shipments.ShippedLine(1, qty)]
        )
    assert flow.level(store_engine, "TEA", world["DS-GZ"]) == (10, 2)


def test_resend_is_refused_once_nothing_is_left_to_ship(store_engine: Engine, world: dict[str, int]) -> None:
    number = dispatched(store_engine, "7103", [("TEA", 1)])
    before = sends(store_engine)
    dispatch.resend(store_engine, number)  # still open: a person may ask for it again
    assert sends(store_engine) == before + 1
    shipments.report_shipment(store_engine, number, carrier="SF", tracking_no="SF1")
    with pytest.raises(dispatch.NotAllowed, match=f"dispatch instruction {number} is shipped") as refused:
        dispatch.resend(store_engine, number)
    assert "only queued, sent, acknowledged, partially_shipped" in str(refused.value)
    assert sends(store_engine) == before + 1
