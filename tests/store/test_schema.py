"""The migrations create exactly the schema the models describe, on SQLite and MySQL/MariaDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, inspect, select
from sqlalchemy.exc import IntegrityError

from store import migrate
from store.db import make_engine
from store.models import Base, OrderLine, Outbox, SalesOrder, SyncRun
from tests.conftest import BACKENDS


@pytest.mark.parametrize("empty_db_url", BACKENDS, indirect=True)
def test_upgrade_from_empty_to_head_matches_models(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        assert migrate.current(engine) is None
        assert migrate.pending(engine)[-1] == migrate.head()
        assert migrate.pending(engine)[0] == "0001"
        migrate.upgrade(engine)
        assert migrate.current(engine) == migrate.head()
        assert migrate.pending(engine) == []
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
        assert diff == []
        migrate.upgrade(engine)  # a second upgrade is a no-op
        assert migrate.current(engine) == migrate.head()
    finally:
        engine.dispose()


def _order(channel: str, external_id: str) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "channel": channel,
        "external_id": external_id,
        "status": "received",
        "currency": "CNY",
        "created_at": now,
        "updated_at": now,
    }


def test_order_identity_is_unique_per_channel(store_engine: Engine) -> None:
    with store_engine.begin() as conn:
        conn.execute(insert(SalesOrder), [_order("shopify", "1001"), _order("taobao", "1001")])
    with pytest.raises(IntegrityError), store_engine.begin() as conn:
        conn.execute(insert(SalesOrder), [_order("shopify", "1001")])
    with store_engine.connect() as conn:
        count = len(conn.execute(select(SalesOrder.id)).all())
    assert count == 2


def test_timestamps_keep_microseconds_and_utc(store_engine: Engine) -> None:
    shanghai = timezone(timedelta(hours=8))
    started = datetime(2026, 5, 1, 8, 30, 15, 123456, tzinfo=shanghai)
    with store_engine.begin() as conn:
        conn.execute(
            insert(SyncRun), [{"connector": "erp", "stream": "stock", "status": "ok", "started_at": started}]
        )
    with store_engine.connect() as conn:
        got = conn.execute(select(SyncRun.started_at)).scalar_one()
    assert got == started
    assert got.tzinfo == UTC
    assert got.hour == 0
    assert got.microsecond == 123456


def test_money_is_exact_decimal(store_engine: Engine) -> None:
    with store_engine.begin() as conn:
        order_id = conn.execute(insert(SalesOrder).values(**_order("jd", "9"))).inserted_primary_key[0]  # type: ignore[index]
        conn.execute(
            insert(OrderLine),
            [{"order_id": order_id, "line_no": 1, "sku": "A", "qty": 3, "unit_price": Decimal("19.9900")}],
        )
    with store_engine.connect() as conn:
        price = conn.execute(select(OrderLine.unit_price)).scalar_one()
    assert price == Decimal("19.99")
    assert isinstance(price, Decimal)


def test_naive_datetime_is_refused(store_engine: Engine) -> None:
    with pytest.raises(Exception, match="naive datetime"), store_engine.begin() as conn:
        conn.execute(
            insert(SyncRun),
            [{"connector": "erp", "stream": "stock", "status": "ok", "started_at": datetime(2026, 1, 1)}],
        )


@pytest.mark.parametrize("empty_db_url", BACKENDS, indirect=True)
def test_upgrade_keeps_rows_written_by_older_revisions(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    try:
        migrate.upgrade(engine, "0001")
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO outbox (topic, `key`, payload, attempts, next_attempt_at, created_at) "
                "VALUES ('stock.push', 'k1', '{}', 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
                if engine.dialect.name == "mysql"
                else "INSERT INTO outbox (topic, key, payload, attempts, next_attempt_at, created_at) "
                "VALUES ('stock.push', 'k1', '{}', 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        migrate.upgrade(engine)
        with engine.connect() as conn:
            row = conn.execute(select(Outbox.key, Outbox.partition_key)).one()
        assert tuple(row) == ("k1", "")
    finally:
        engine.dispose()
