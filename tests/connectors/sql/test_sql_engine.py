"""A legacy ERP's inventory table, read by SqlConnector, landed by the real engine into the store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select

from connectors.sql import SqlConnector, SqlSettings
from mapping.fieldmap import FieldMap
from mapping.pipeline import Mapper
from mapping.records import StockLevel
from store.locations import LocationSpec, apply_locations
from store.models import Location, Quarantine, StockMovement
from store.models import StockLevel as StockRow
from sync.engine import StreamJob, run_stream
from sync.mapper import StreamMapper
from tests.connectors.sql.conftest import Source

FIELD_MAP = {
    "sku": "item_code",
    "location": "wh_code",
    "on_hand": {"path": "qty", "convert": ["int"]},
    "as_of": {"path": "modified_at", "convert": [{"datetime": {"tz": "Asia/Shanghai"}}]},
}


@pytest.fixture
def erp(source: Source) -> Iterator[SqlConnector]:
    settings = SqlSettings.model_validate(
        {
            "url": source.url,
            "streams": {
                "stock": {
                    "query": "SELECT item_code, wh_code, qty, modified_at FROM inventory "
                    "WHERE modified_at >= :cursor ORDER BY modified_at, item_code, wh_code",
                    "primary_key": ["item_code", "wh_code"],
                    "cursor_column": "modified_at",
                    "initial_cursor": "1970-01-01",
                    "page_size": 2,
                }
            },
        }
    )
    connector = SqlConnector("erp", settings)
    yield connector
    connector.close()


def stock_job(connector: SqlConnector) -> StreamJob:
    mapper = Mapper(StockLevel, FieldMap.compile(FIELD_MAP, StockLevel))
    return StreamJob(connector, "stock", StreamMapper("erp", mapper, ("item_code", "wh_code")))


def levels(store: Engine) -> dict[tuple[str, str], int]:
    with store.connect() as conn:
        rows = conn.execute(
            select(StockRow.sku, Location.code, StockRow.on_hand).join(
                Location, Location.id == StockRow.location_id
            )
        )
        return {(sku, code): on_hand for sku, code, on_hand in rows}


def moves(store: Engine) -> int:
    with store.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(StockMovement)).scalar_one())


def test_erp_stock_lands_and_later_runs_bring_only_what_changed(
    source: Source, erp: SqlConnector, store_engine: Engine
) -> None:
    apply_locations(
        store_engine, [LocationSpec("WH1", "Main", "warehouse"), LocationSpec("WH2", "South", "warehouse")]
    )
    job = stock_job(erp)

    first = run_stream(store_engine, job)
    assert (first.status, first.pages, first.records_in, first.changed) == ("ok", 3, 5, 5)
    assert levels(store_engine) == {
        ("A-1", "WH1"): 10,
        ("A-2", "WH1"): 20,
        ("A-3", "WH2"): 30,
        ("A-4", "WH2"): 0,
        ("A-5", "WH1"): 50,
    }
    landed = moves(store_engine)

    source.put(
        ("A-2", "WH1", "7.000", "2024-05-01 14:00:00"), ("A-6", "WH2", "60.000", "2024-05-01 14:00:00")
    )
    second = run_stream(store_engine, job)
    # read again from the saved cursor (13:00, inclusive): A-5 at the boundary, unchanged, then two changes
    assert (second.status, second.records_in, second.changed) == ("ok", 3, 2)
    assert levels(store_engine)[("A-2", "WH1")] == 7
    assert levels(store_engine)[("A-6", "WH2")] == 60
    assert moves(store_engine) == landed + 2

    again = run_stream(store_engine, job)
    assert (again.status, again.records_in, again.changed) == ("ok", 2, 0)  # the boundary rows only


def test_rows_the_store_cannot_use_are_quarantined_not_fatal(
    source: Source, erp: SqlConnector, store_engine: Engine
) -> None:
    apply_locations(store_engine, [LocationSpec("WH1", "Main", "warehouse")])  # no WH2
    source.put(("A-7", "WH1", "1.500", "2024-05-01 15:00:00"))

    result = run_stream(store_engine, stock_job(erp))
    assert (result.status, result.records_in, result.changed, result.quarantined) == ("ok", 6, 3, 3)
    with store_engine.connect() as conn:
        reasons = dict(conn.execute(select(Quarantine.record_key, Quarantine.reason_code)).tuples().all())
    assert reasons == {"A-3/WH2": "unknown_location", "A-4/WH2": "unknown_location", "A-7/WH1": "invalid"}
