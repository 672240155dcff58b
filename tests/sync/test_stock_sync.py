"""Stock readings: snapshots, delta moves, authoritative sources, and shipments never counted twice."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select

from connectors.base import Connector, ConnectorSettings, Page, Stream
from core.clock import utcnow
from store import stock
from store.locations import LocationSpec, apply_locations
from store.models import Allocation, OrderLine, Quarantine, SalesOrder, StockLevel, StockMovement
from sync.engine import StreamJob, run_stream
from tests.sync.fakes import plain_mapper


class Snapshot(Connector):
    """A source serving a full snapshot (no cursor) of ``rows``, two per page."""

    kind = "snap"
    Settings = ConnectorSettings

    def __init__(self, name: str, stream: str = "stock") -> None:
        super().__init__(name, ConnectorSettings())
        self.rows: list[dict[str, Any]] = []
        self.stream_name = stream

    @property
    def streams(self) -> Mapping[str, Stream]:
        # stock and products are full snapshots; a stream of moves is not
        return {
            self.stream_name: Stream(
                self.stream_name, ("id",), None, snapshot=self.stream_name != "stock_moves"
            )
        }

    def fetch(self, stream: str, cursor: str | None) -> Iterator[Page]:
        for start in range(0, len(self.rows), 2):
            yield Page([dict(r) for r in self.rows[start : start + 2]], last=start + 2 >= len(self.rows))

    def check(self) -> None:
        return None


def level(sku: str, loc: str, qty: int, as_of: datetime | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"sku": sku, "location": loc, "on_hand": qty}
    if as_of is not None:
        data["as_of"] = as_of.isoformat()
    return {"id": f"{sku}@{loc}", "data": data}


def move(move_id: str, sku: str, loc: str, delta: int) -> dict[str, Any]:
    return {"id": move_id, "data": {"sku": sku, "location": loc, "delta": delta, "move_id": move_id}}


@pytest.fixture
def world(store_engine: Engine) -> dict[str, int]:
    return apply_locations(
        store_engine,
        [
            LocationSpec("WH", "Factory", "warehouse", stock_source="erp"),
            LocationSpec("DS", "Distributor", "distributor", parent="WH"),
        ],
    )


def levels(engine: Engine) -> dict[tuple[str, int], tuple[int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(StockLevel.sku, StockLevel.location_id, StockLevel.on_hand, StockLevel.reserved)
        )
        return {(s, loc): (oh, rs) for s, loc, oh, rs in rows}


def assert_ledger_rederives(engine: Engine) -> None:
    with engine.connect() as conn:
        sums = conn.execute(
            select(
                StockMovement.sku,
                StockMovement.location_id,
                func.sum(StockMovement.delta_on_hand),
                func.sum(StockMovement.delta_reserved),
            ).group_by(StockMovement.sku, StockMovement.location_id)
        ).all()
    derived = {(s, loc): (int(oh), int(rs)) for s, loc, oh, rs in sums}
    assert derived == {k: v for k, v in levels(engine).items() if v != (0, 0) or k in derived}


def test_snapshot_sets_missing_skus_to_zero(store_engine: Engine, world: dict[str, int]) -> None:
    erp = Snapshot("erp")
    job = StreamJob(erp, "stock", plain_mapper("stock"), max_shrink=0.5)  # one of three may go
    erp.rows = [level("A", "WH", 5), level("B", "WH", 7), level("C", "WH", 9)]
    assert run_stream(store_engine, job).changed == 3
    erp.rows = [level("A", "WH", 5), level("C", "WH", 2)]  # B no longer listed
    result = run_stream(store_engine, job)
    assert result.changed == 2  # C changed, B went to zero
    wh = world["WH"]
    assert levels(store_engine) == {("A", wh): (5, 0), ("B", wh): (0, 0), ("C", wh): (2, 0)}
    assert_ledger_rederives(store_engine)


def test_snapshot_missing_policy_keep(store_engine: Engine, world: dict[str, int]) -> None:
    erp = Snapshot("erp")
    job = StreamJob(erp, "stock", plain_mapper("stock"), snapshot_missing="keep")
    erp.rows = [level("A", "WH", 5), level("B", "WH", 7)]
    run_stream(store_engine, job)
    erp.rows = [level("A", "WH", 5)]
    assert run_stream(store_engine, job).changed == 0
    assert levels(store_engine)[("B", world["WH"])] == (7, 0)


def test_failed_snapshot_zeroes_nothing(store_engine: Engine, world: dict[str, int]) -> None:
    erp = Snapshot("erp")
    job = StreamJob(erp, "stock", plain_mapper("stock"))
    erp.rows = [level("A", "WH", 5), level("B", "WH", 7), level("C", "WH", 9)]
    run_stream(store_engine, job)
    erp.rows = [level("A", "WH", 5)]

    def broken(_: Any) -> None:
        raise RuntimeError("connection dropped")

    with pytest.raises(RuntimeError):
        run_stream(store_engine, job, on_page=broken)
    assert levels(store_engine)[("B", world["WH"])] == (7, 0)  # an incomplete read proves nothing


def test_only_the_authoritative_source_sets_a_location(store_engine: Engine, world: dict[str, int]) -> None:
    other = Snapshot("distributor_files")
    other.rows = [level("A", "WH", 99), level("A", "DS", 4)]
    result = run_stream(store_engine, StreamJob(other, "stock", plain_mapper("stock")))
    assert (result.changed, result.quarantined) == (1, 1)
    with store_engine.connect() as conn:
        reason = conn.execute(select(Quarantine.reason_code, Quarantine.record_key)).one()
    assert tuple(reason) == ("not_authoritative", "A@WH")
    assert levels(store_engine) == {("A", world["DS"]): (4, 0)}


def test_delta_moves_apply_once_each(store_engine: Engine, world: dict[str, int]) -> None:
    src = Snapshot("erp", stream="stock_moves")
    src.rows = [move("m1", "A", "WH", 10), move("m2", "A", "WH", -3), move("m3", "B", "WH", 4)]
    job = StreamJob(src, "stock_moves", plain_mapper("stock_moves"))
    assert run_stream(store_engine, job).changed == 3
    src.rows = [move("m2", "A", "WH", -3), move("m4", "A", "WH", -1), move("m4", "A", "WH", -1)]
    assert run_stream(store_engine, job).changed == 1
    wh = world["WH"]
    assert levels(store_engine) == {("A", wh): (6, 0), ("B", wh): (4, 0)}
    assert_ledger_rederives(store_engine)


def _order_line(engine: Engine, sku: str, qty: int) -> int:
    now = utcnow()
    with engine.begin() as conn:
        order = conn.execute(
            insert(SalesOrder).values(
                channel="shop",
                external_id=f"o-{sku}-{qty}",
                status="allocated",
                currency="CNY",
                created_at=now,
                updated_at=now,
            )
        )
        line = conn.execute(
            insert(OrderLine).values(
                order_id=order.inserted_primary_key[0], line_no=1, sku=sku, qty=qty, unit_price=0
            )
        )
        return int(line.inserted_primary_key[0])


def test_erp_snapshot_reflecting_a_shipment_is_not_double_counted(
    store_engine: Engine, world: dict[str, int]
) -> None:
    erp = Snapshot("erp")
    job = StreamJob(erp, "stock", plain_mapper("stock"))
    t0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    erp.rows = [level("A", "WH", 100, t0)]
    run_stream(store_engine, job)
    wh = world["WH"]
    line = _order_line(store_engine, "A", 5)
    with store_engine.begin() as conn:
        allocation = stock.allocate(conn, line, "A", wh, 5)
    assert allocation is not None
    shipped = t0 + timedelta(hours=1)
    with store_engine.begin() as conn:
        stock.ship_allocation(conn, allocation, shipped_at=shipped)
    assert levels(store_engine)[("A", wh)] == (100, 5)  # shipped, the ERP does not know yet: still reserved

    erp.rows = [level("A", "WH", 100, shipped - timedelta(minutes=5))]  # a reading older than the shipment
    run_stream(store_engine, job)
    assert levels(store_engine)[("A", wh)] == (100, 5)

    erp.rows = [level("A", "WH", 95, shipped + timedelta(minutes=5))]  # the ERP now reflects it
    run_stream(store_engine, job)
    assert levels(store_engine)[("A", wh)] == (95, 0)  # 5 left once, not twice
    with store_engine.connect() as conn:
        status = conn.execute(select(Allocation.status)).scalar_one()
    assert status == "consumed"
    assert_ledger_rederives(store_engine)


def test_shipment_from_a_location_erpsync_keeps_the_books_for(
    store_engine: Engine, world: dict[str, int]
) -> None:
    ds = world["DS"]
    with store_engine.begin() as conn:
        stock.adjust(conn, "A", ds, 10, ref="opening count by ops")
    line = _order_line(store_engine, "A", 3)
    with store_engine.begin() as conn:
        allocation = stock.allocate(conn, line, "A", ds, 3)
        assert allocation is not None
        stock.ship_allocation(conn, allocation)
    assert levels(store_engine)[("A", ds)] == (7, 0)
    with store_engine.begin() as conn:
        stock.receive_return(conn, "A", ds, 1, ref_type="order_line", ref=str(line))
    assert levels(store_engine)[("A", ds)] == (8, 0)
    with store_engine.connect() as conn:
        reasons = conn.execute(select(StockMovement.reason).order_by(StockMovement.id)).scalars().all()
    assert reasons == ["adjust", "reserve", "dispatch", "return"]
    assert_ledger_rederives(store_engine)


def test_cancel_releases_and_short_stock_is_refused(store_engine: Engine, world: dict[str, int]) -> None:
    ds = world["DS"]
    with store_engine.begin() as conn:
        stock.adjust(conn, "A", ds, 4, ref="count")
    line = _order_line(store_engine, "A", 5)
    with store_engine.begin() as conn:
        assert stock.allocate(conn, line, "A", ds, 5) is None
        allocation = stock.allocate(conn, line, "A", ds, 4)
    assert allocation is not None
    assert levels(store_engine)[("A", ds)] == (4, 4)
    with store_engine.begin() as conn:
        stock.cancel_allocation(conn, allocation)
        stock.cancel_allocation(conn, allocation)  # twice changes nothing more
    assert levels(store_engine)[("A", ds)] == (4, 0)
    assert_ledger_rederives(store_engine)


def test_a_product_snapshot_does_not_touch_stock(store_engine: Engine, world: dict[str, int]) -> None:
    erp = Snapshot("erp")
    erp.rows = [level("A", "WH", 5)]
    run_stream(store_engine, StreamJob(erp, "stock", plain_mapper("stock")))
    products = Snapshot("erp", stream="products")
    products.rows = [{"id": "A", "data": {"sku": "A", "name": "Tea"}}]
    assert products.streams["products"].snapshot
    run_stream(store_engine, StreamJob(products, "products", plain_mapper("products")))
    assert levels(store_engine)[("A", world["WH"])] == (5, 0)
