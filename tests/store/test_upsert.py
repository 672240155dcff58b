"""The upsert helper updates through the key it is given, or refuses: the same on both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from core.clock import utcnow
from store.models import Location, SalesOrder, SyncCursor
from store.upsert import NEW, upsert


def _order(oid: int, channel: str, external_id: str) -> dict[str, object]:
    now = utcnow()
    return {
        "id": oid,
        "channel": channel,
        "external_id": external_id,
        "status": "received",
        "currency": "CNY",
        "created_at": now,
        "updated_at": now,
    }


def test_upsert_refuses_rows_that_carry_a_second_unique_key(store_engine: Engine) -> None:
    with store_engine.begin() as conn:
        conn.execute(SalesOrder.__table__.insert(), [_order(1, "shop", "A"), _order(2, "shop", "B")])
    # "update order 1 to be shop/B": on MySQL ON DUPLICATE KEY would fire on (channel, external_id)
    # and change order 2 instead, on SQLite the id conflict would fail on the other key
    with store_engine.begin() as conn, pytest.raises(ValueError, match=r"ambiguous.*channel, external_id"):
        upsert(conn, SalesOrder, [_order(1, "shop", "B")], key=["id"], update={"status": NEW})
    with store_engine.connect() as conn:
        rows = conn.execute(select(SalesOrder.id, SalesOrder.external_id).order_by(SalesOrder.id)).all()
    assert [tuple(r) for r in rows] == [(1, "A"), (2, "B")]


def test_upsert_refuses_a_key_that_is_not_unique(store_engine: Engine) -> None:
    row = {"code": "WH1", "name": "Main", "kind": "warehouse", "updated_at": utcnow()}
    with store_engine.begin() as conn, pytest.raises(ValueError, match="not a unique key"):
        upsert(conn, Location, [row], key=["name"], update={"kind": NEW})


def test_upsert_by_its_only_key_inserts_then_updates(store_engine: Engine) -> None:
    for value in ("a", "b"):
        with store_engine.begin() as conn:
            upsert(
                conn,
                SyncCursor,
                [{"connector": "erp", "stream": "stock", "value": value, "updated_at": utcnow()}],
                key=["connector", "stream"],
                update={"value": NEW},
            )
    with store_engine.connect() as conn:
        assert conn.execute(select(SyncCursor.value)).scalars().all() == ["b"]
