"""One value the schema cannot hold never blocks its page or its stream, on either backend.

Records are checked against the columns' limits before the write (``sync.limits``); what the
database still refuses is isolated by splitting the page (``sync.isolate``). Either way the bad
record is quarantined naming the field and the limit, the rest lands, and the cursor moves.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import OperationalError

import sync.engine
from mapping.records import Address, Order, Product, Shipment, ShipmentLine
from mapping.records import OrderLine as OrderLineRecord
from store.db import is_data_refusal
from store.limits import column_limit
from store.locations import LocationSpec, apply_locations
from store.models import OrderLine, Quarantine, SalesOrder, StockMovement, SyncCursor
from store.models import StockLevel as StockRow
from sync.engine import StreamJob, run_stream
from sync.isolate import reconcile_isolating
from sync.limits import CHECKS, misfit
from sync.reconcile import Outcome, PageContext
from tests.sync.fakes import ListSource, plain_mapper

BIGINT_MAX = 2**63 - 1


def order(
    n: int, *, line: dict[str, Any] | None = None, ship_to: dict[str, Any] | None = None
) -> dict[str, Any]:
    data = {
        "channel": "shop",
        "external_id": f"O{n}",
        "status": "paid",
        "lines": [{"sku": "TEA", "qty": 1, "unit_price": "9.90", **(line or {})}],
        "ship_to": ship_to,
    }
    return {"id": f"O{n}", "updated": f"2026-05-01T00:00:{n:02d}", "data": data}


@pytest.fixture
def store(store_engine: Engine) -> Engine:
    apply_locations(store_engine, [LocationSpec("WH1", "Factory", "warehouse")])
    return store_engine


def quarantined(engine: Engine) -> dict[str, tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(Quarantine.record_key, Quarantine.reason_code, Quarantine.reason))
        return {key: (code, reason) for key, code, reason in rows}


def landed_orders(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(SalesOrder.external_id)).scalars())


def cursor(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(SyncCursor.value)).scalar()


def test_a_page_with_one_bad_value_per_case_lands_the_rest_and_moves_on(store: Engine) -> None:
    rows = [
        order(1),
        order(2, line={"description": "d" * 300}),
        order(3, line={"external_line_id": "L" * 200}),
        order(4, ship_to={"province": "p" * 200, "city": "Guangzhou"}),
        order(5),
        order(6, line={"unit_price": "1e20"}),
        order(7, line={"qty": BIGINT_MAX + 1}),
        order(8, ship_to={"province": "p" * 100, "city": "c" * 100}),
        order(9, ship_to={"province": "Guangdong", "city": "Guangzhou"}),
        order(10, line={"description": "broken \ud800 text"}),  # a lone surrogate from a broken encoder
    ]
    source = ListSource("shop", {"orders": rows}, size=20)
    job = StreamJob(source, "orders", plain_mapper("orders"))
    result = run_stream(store, job)
    assert (result.status, result.pages, result.changed, result.quarantined) == ("ok", 1, 3, 7)
    assert landed_orders(store) == ["O1", "O5", "O9"]
    assert cursor(store) == "2026-05-01T00:00:10"

    found = quarantined(store)
    expected = {
        "O2": (
            "too_long",
            "lines[0].description: 300 characters, more than the 255 order_line.description holds",
        ),
        "O3": (
            "too_long",
            "lines[0].external_line_id: 200 characters, more than the 128 order_line.external_line_id",
        ),
        "O4": (
            "too_long",
            "ship_to.province: 200 characters, more than the 191 sales_order.ship_region holds",
        ),
        "O6": (
            "out_of_range",
            "lines[0].unit_price: 1E+20 is out of range for order_line.unit_price (DECIMAL(18,4)",
        ),
        "O7": ("out_of_range", f"lines[0].qty: {BIGINT_MAX + 1} is out of range for order_line.qty"),
        "O10": ("invalid_text", "lines[0].description: holds '\\ud800', which is not valid text"),
        "O8": (
            "too_long",
            "ship_to (province/city/district): 201 characters, more than the 191 sales_order.ship_region",
        ),
    }
    assert {key: code for key, (code, _) in found.items()} == {
        key: code for key, (code, _) in expected.items()
    }
    for key, (_, reason) in expected.items():
        assert found[key][1].startswith(reason), key

    # the stream is not stuck: the next run reads on from the cursor and lands what is new
    source.rows["orders"].append(order(11))
    again = run_stream(store, job)
    assert (again.status, again.changed) == ("ok", 1)
    assert landed_orders(store) == ["O1", "O11", "O5", "O9"]
    assert cursor(store) == "2026-05-01T00:00:11"
    with store.connect() as conn:  # the quarantined record is kept, broken text and all
        payload = conn.execute(select(Quarantine.payload).where(Quarantine.record_key == "O10")).scalar_one()
    assert payload["lines"][0]["description"] == "broken \ud800 text"


def stock(n: int, qty: Any) -> dict[str, Any]:
    data = {"sku": f"S{n}", "location": "WH1", "on_hand": qty}
    return {"id": f"S{n}@WH1", "updated": f"2026-05-01T00:00:{n:02d}", "data": data}


def move(n: int, delta: Any) -> dict[str, Any]:
    data = {"sku": "S1", "location": "WH1", "delta": delta, "move_id": f"M{n}"}
    return {"id": f"M{n}", "updated": f"2026-05-01T00:00:{n:02d}", "data": data}


def test_stock_levels_and_moves_beyond_bigint_or_fractional_are_quarantined(store: Engine) -> None:
    rows = [stock(1, 5), stock(2, BIGINT_MAX + 1), stock(3, "12.5"), stock(4, -(2**63)), stock(5, "1e999999")]
    result = run_stream(
        store, StreamJob(ListSource("erp", {"stock": rows}, size=10), "stock", plain_mapper("stock"))
    )
    assert (result.status, result.changed, result.quarantined) == ("ok", 2, 3)
    found = quarantined(store)
    assert found["S2@WH1"][0] == "out_of_range"
    assert found["S2@WH1"][1].startswith(f"on_hand: {BIGINT_MAX + 1} is out of range for stock_level.on_hand")
    assert found["S3@WH1"][0] == "not_whole"
    assert found["S3@WH1"][1].startswith(
        "on_hand: 12.5 is not a whole number; stock_level.on_hand holds whole"
    )
    assert found["S5@WH1"][0] == "out_of_range"

    moves = [move(11, 2), move(12, BIGINT_MAX + 1), move(13, 3)]
    job = StreamJob(
        ListSource("erp", {"stock_moves": moves}, size=10), "stock_moves", plain_mapper("stock_moves")
    )
    result = run_stream(store, job)
    assert (result.status, result.changed, result.quarantined) == ("ok", 2, 1)
    assert quarantined(store)["M12"][1].startswith(
        "delta: 9223372036854775808 is out of range for stock_movement"
    )


def test_shipments_and_products_are_checked_too(store: Engine) -> None:
    parcels = [
        {
            "id": f"P{n}",
            "updated": f"t{n}",
            "data": {"channel": "shop", "order_external_id": "O1", "carrier": "SF", "tracking_no": tracking},
        }
        for n, tracking in ((1, "T" * 100), (2, "SF1"))
    ]
    job = StreamJob(
        ListSource("wms", {"shipments": parcels}),
        "shipments",
        plain_mapper("shipments"),
    )
    result = run_stream(store, job)
    assert (result.status, result.quarantined) == ("ok", 2)
    found = quarantined(store)  # keyed as the test mapper keys records: order/tracking
    assert found["O1/" + "T" * 100] == (
        "too_long",
        "tracking_no: 100 characters, more than the 64 shipment.tracking_no holds",
    )
    assert found["O1/SF1"][0] == "unknown_dispatch"  # checked, fits, refused by the reconciler as before

    assert misfit(Product(sku="A1", name="Tea")) is None
    shipment = Shipment.model_validate(
        {
            "channel": "shop",
            "order_external_id": "O1",
            "carrier": "SF",
            "tracking_no": "SF1",
            "lines": [{"sku": "A1", "qty": BIGINT_MAX + 1}],
        }
    )
    error = misfit(shipment)
    assert error is not None
    assert (error.code, error.field) == ("out_of_range", "lines[0].qty")


def test_the_limits_are_read_from_the_models() -> None:
    for column in (
        OrderLine.description,
        OrderLine.external_line_id,
        SalesOrder.ship_region,
        StockMovement.external_ref,
    ):
        assert column_limit(column).max_length == column.type.length
    price = column_limit(OrderLine.unit_price)
    assert (price.precision, price.scale) == (
        OrderLine.unit_price.type.precision,
        OrderLine.unit_price.type.scale,
    )
    assert column_limit(StockRow.on_hand).maximum == BIGINT_MAX
    assert price.rounded(Decimal("1.23456")) == Decimal("1.2346")


def test_canonical_records_never_allow_more_than_their_columns() -> None:
    """Where a record declares its own length limit, it is within the column's (checked early)."""
    nested = {"lines[]": {Order: OrderLineRecord, Shipment: ShipmentLine}, "ship_to": {Order: Address}}
    compared = 0
    for record_type, checks in CHECKS.items():
        for check in checks:
            *outer, name = check.path.split(".")
            model = nested[outer[0]][record_type] if outer else record_type
            if name not in model.model_fields or check.limit.max_length is None:
                continue
            declared = [m.max_length for m in model.model_fields[name].metadata if hasattr(m, "max_length")]
            assert all(n is not None and n <= check.limit.max_length for n in declared), check.path
            compared += len(declared)
    assert compared >= 10  # sku, location, names, ids: the table covers the declared limits


# -- what the database refuses though the checks let it through ------------------------------


@pytest.fixture
def refusing_trigger(store: Engine) -> Iterator[Engine]:
    """A trigger refusing order lines described 'refuse me' (a rule the checks cannot know)."""
    if store.dialect.name == "mysql":
        create = (
            "CREATE TRIGGER refuse_line BEFORE INSERT ON order_line FOR EACH ROW "
            "IF NEW.description = 'refuse me' THEN "
            "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'line refused by the warehouse rule'; END IF"
        )
    else:
        create = (
            "CREATE TRIGGER refuse_line BEFORE INSERT ON order_line "
            "WHEN NEW.description = 'refuse me' "
            "BEGIN SELECT RAISE(ABORT, 'line refused by the warehouse rule'); END"
        )
    with store.begin() as conn:
        conn.execute(text(create))
    try:
        yield store
    finally:
        with store.begin() as conn:
            conn.execute(text("DROP TRIGGER refuse_line"))


def test_records_the_database_refuses_are_isolated_and_the_rest_lands(refusing_trigger: Engine) -> None:
    store = refusing_trigger
    rows = [order(n, line={"description": "refuse me"} if n in (2, 5) else None) for n in range(1, 8)]
    job = StreamJob(ListSource("shop", {"orders": rows}, size=20), "orders", plain_mapper("orders"))
    result = run_stream(store, job)
    assert (result.status, result.changed, result.quarantined) == ("ok", 5, 2)
    assert landed_orders(store) == ["O1", "O3", "O4", "O6", "O7"]
    assert cursor(store) == "2026-05-01T00:00:07"
    found = quarantined(store)
    assert set(found) == {"O2", "O5"}
    for code, reason in found.values():
        assert code == "db_refused"
        assert reason.startswith("the database refused this record: ")
        assert "line refused by the warehouse rule" in reason
        assert "INSERT" not in reason  # the database's words, not the statement or its values
    with store.connect() as conn:  # the refused orders left nothing behind
        assert len(conn.execute(select(OrderLine.id)).all()) == 5


def test_a_value_beyond_the_column_is_isolated_when_the_check_is_looser(
    store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as if the limit table were looser than the real column: SQLite's driver and MariaDB refuse
    monkeypatch.setattr(sync.engine, "find_misfits", lambda records: [])
    rows = [stock(1, 5), stock(2, 6), stock(3, BIGINT_MAX + 1), stock(4, 7)]
    result = run_stream(
        store, StreamJob(ListSource("erp", {"stock": rows}, size=10), "stock", plain_mapper("stock"))
    )
    assert (result.status, result.changed, result.quarantined) == ("ok", 3, 1)
    code, reason = quarantined(store)["S3@WH1"]
    assert code == "db_refused"
    assert "out of range" in reason.lower() or "too large" in reason
    with store.connect() as conn:
        assert dict(conn.execute(select(StockRow.sku, StockRow.on_hand)).tuples().all()) == {
            "S1": 5,
            "S2": 6,
            "S4": 7,
        }


def test_a_lock_conflict_is_not_blamed_on_a_record(store: Engine) -> None:
    deadlock = OperationalError("INSERT …", {}, Exception(1213, "Deadlock found when trying to get lock"))
    lost = OperationalError("INSERT …", {}, Exception(2013, "Lost connection to MySQL server"))
    assert not is_data_refusal(deadlock)
    assert not is_data_refusal(lost)

    def reconcile(conn: Any, records: Any, ctx: PageContext) -> Outcome:
        raise deadlock

    with pytest.raises(OperationalError), store.begin() as conn:
        reconcile_isolating(conn, reconcile, [Product(sku="A1", name="Tea")], PageContext("erp", 1))
