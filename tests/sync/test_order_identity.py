"""Order identity is (channel, external_id): two channels may use the same external id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from mapping.fieldmap import FieldMap
from mapping.pipeline import Mapper
from mapping.records import Order
from store.models import OrderLine, SalesOrder
from sync.engine import StreamJob, run_stream
from sync.mapper import StreamMapper
from sync.order_sync import reconcile_orders
from sync.reconcile import PageContext
from tests.sync.fakes import ListSource


def _order(channel: str, sku: str, qty: int, status: str = "paid") -> Order:
    return Order.model_validate(
        {"channel": channel, "external_id": "1001", "status": status, "lines": [{"sku": sku, "qty": qty}]}
    )


def _lines(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(SalesOrder.channel, SalesOrder.source_status, OrderLine.sku, OrderLine.qty).join(OrderLine)
        ).all()
    return {channel: (status, sku, qty) for channel, status, sku, qty in rows}


def test_two_channels_sharing_an_external_id_in_one_page_keep_their_own_lines(store_engine: Engine) -> None:
    page = [_order("tmall", "TEA-1", 2), _order("jd", "CUP-9", 5)]
    with store_engine.begin() as conn:
        assert reconcile_orders(conn, page, PageContext("aggregator", 1)).changed == 2
    assert _lines(store_engine) == {"tmall": ("paid", "TEA-1", 2), "jd": ("paid", "CUP-9", 5)}

    # both change in the next page: each is updated through its own id
    page = [_order("jd", "CUP-9", 6, "paid_again"), _order("tmall", "TEA-1", 3, "paid_again")]
    with store_engine.begin() as conn:
        assert reconcile_orders(conn, page, PageContext("aggregator", 2)).changed == 2
    assert _lines(store_engine) == {"tmall": ("paid_again", "TEA-1", 3), "jd": ("paid_again", "CUP-9", 6)}
    with store_engine.connect() as conn:
        assert len(conn.execute(select(SalesOrder.id)).all()) == 2


def test_an_order_listed_twice_in_a_page_lands_once_in_its_last_state(store_engine: Engine) -> None:
    page = [_order("tmall", "TEA-1", 2), _order("tmall", "TEA-1", 4)]
    with store_engine.begin() as conn:
        assert reconcile_orders(conn, page, PageContext("shop", 1)).changed == 1
    assert _lines(store_engine) == {"tmall": ("paid", "TEA-1", 4)}


def test_an_aggregator_page_lands_each_channels_order_through_the_engine(store_engine: Engine) -> None:
    # a multi-store connector's orders stream: its primary key tells the stores apart
    spec = {
        "channel": "store",
        "external_id": "order_no",
        "status": {"const": "paid"},
        "lines": {"path": "items", "each": {"sku": "sku", "qty": "qty"}},
    }
    rows = [
        {
            "id": f"{store}:1001",
            "updated": "2026-06-01T00:00:00",
            "store": store,
            "order_no": "1001",
            "items": items,
        }
        for store, items in (("tmall", [{"sku": "TEA-1", "qty": 2}]), ("jd", [{"sku": "CUP-9", "qty": 5}]))
    ]
    mapper = StreamMapper("aggregator", Mapper(Order, FieldMap.compile(spec, Order)), ("id",))
    job = StreamJob(ListSource("aggregator", {"orders": rows}), "orders", mapper)
    assert run_stream(store_engine, job).changed == 2
    assert _lines(store_engine) == {"tmall": ("paid", "TEA-1", 2), "jd": ("paid", "CUP-9", 5)}
