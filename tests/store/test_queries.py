"""The store's read queries: pages with their totals, filters, and a caller's scope of locations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event

from core.statuses import MessageState
from store import outbox, queries
from store.paging import Page
from tests.store import seed


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The queries (SELECT statements) run on ``engine`` inside the block."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):  # not SQLite's BEGIN IMMEDIATE
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def put_messages(engine: Engine, count: int, topic: str = "t") -> None:
    with engine.begin() as conn:
        for n in range(count):
            outbox.enqueue(conn, topic, f"{topic}:{n}", {"n": n}, partition=f"p{n}")


def test_a_page_knows_its_total_and_counts_only_when_it_cannot_tell(store_engine: Engine) -> None:
    put_messages(store_engine, 5)
    with store_engine.connect() as conn, statements(store_engine) as seen:
        first = queries.list_messages(conn, limit=2)
        assert ([m.key for m in first], first.total, first.more) == (["t:4", "t:3"], 5, True)
        assert len(seen) == 2  # a full page cannot tell whether more rows follow: it counts
        seen.clear()
        last = queries.list_messages(conn, limit=2, offset=4)
        assert ([m.key for m in last], last.total, last.more) == (["t:0"], 5, False)
        assert len(seen) == 1  # a short page ends the list: one query
        seen.clear()
        past = queries.list_messages(conn, limit=2, offset=9)
        assert (len(past), past.total, past.more) == (0, 5, False)
        assert len(seen) == 2
        everything = queries.list_messages(conn, limit=None)
    assert (len(everything), everything.total, everything.limit) == (5, 5, None)


def test_a_page_is_a_sequence_of_its_rows() -> None:
    page = Page(("a", "b"), total=7, offset=2, limit=2)
    assert (list(page), len(page), page[0], page[-1:], bool(page)) == (["a", "b"], 2, "a", ("b",), True)
    assert page.more
    assert not Page((), total=0)


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (-1, 0), (10, -1)])
def test_a_bad_window_is_refused(store_engine: Engine, limit: int, offset: int) -> None:
    with store_engine.connect() as conn, pytest.raises(ValueError, match=r"^(limit|offset) must"):
        queries.list_messages(conn, limit=limit, offset=offset)


def test_messages_filter_by_topic_and_status_pending_ones_oldest_first(store_engine: Engine) -> None:
    put_messages(store_engine, 3, topic="erp")
    put_messages(store_engine, 2, topic="mail")
    with store_engine.connect() as conn:
        pending = queries.list_messages(conn, topic="erp", status=MessageState.PENDING, limit=2)
        failed = queries.list_messages(conn, status=MessageState.FAILED)
        counted = queries.count_messages(conn, topic="mail")
    assert [m.key for m in pending] == ["erp:0", "erp:1"]
    assert (pending.total, len(failed), failed.total, counted) == (3, 0, 0, 2)


def stock_store(conn: Connection) -> dict[str, int]:
    ids = {code: seed.location(conn, code, safety_stock=2) for code in ("WH-A", "WH-B", "DS-C")}
    seed.product(conn, "MUG", "box")
    for code, location_id in ids.items():
        seed.level(conn, "MUG", location_id, 10, reserved=3)
        seed.level(conn, "TEA", location_id, 1)  # no product row yet
    return ids


def test_stock_levels_by_sku_then_location_with_their_unit_and_what_is_available(
    store_engine: Engine,
) -> None:
    with store_engine.begin() as conn:
        stock_store(conn)
    with store_engine.connect() as conn:
        page = queries.stock_levels(conn, limit=4)
        mugs = queries.stock_levels(conn, sku="MUG", location="WH-B")
        rest = queries.stock_levels(conn, limit=4, offset=4)
    assert [(r.sku, r.location) for r in page] == [
        ("MUG", "DS-C"),
        ("MUG", "WH-A"),
        ("MUG", "WH-B"),
        ("TEA", "DS-C"),
    ]
    assert (page.total, rest.total, [r.location for r in rest]) == (6, 6, ["WH-A", "WH-B"])
    [mug] = mugs
    assert (mug.unit, mug.on_hand, mug.reserved, mug.safety_stock, mug.available) == ("box", 10, 3, 2, 5)
    assert {r.unit for r in rest} == {None}
    assert {r.available for r in rest} == {0}  # 1 on hand, 2 kept as safety stock: never negative


def test_stock_levels_in_a_scope_show_only_its_locations(store_engine: Engine) -> None:
    with store_engine.begin() as conn:
        stock_store(conn)
    with store_engine.connect() as conn:
        scoped = queries.stock_levels(conn, locations={"WH-A", "DS-C"}, limit=1)
        outside = queries.stock_levels(conn, location="WH-B", locations=["WH-A"])
        nothing = queries.stock_levels(conn, locations=[])
    assert (scoped[0].location, scoped.total) == ("DS-C", 4)
    assert (len(outside), len(nothing)) == (0, 0)


def test_bindings_by_system_then_external_sku(store_engine: Engine) -> None:
    with store_engine.begin() as conn:
        seed.binding(conn, "shop", "S-2", "MUG", 6)
        seed.binding(conn, "shop", "S-1", "TEA")
        seed.binding(conn, "erp", "E-1", "MUG")
    with store_engine.connect() as conn:
        first = queries.list_bindings(conn, limit=2)
        shop_mugs = queries.list_bindings(conn, system="shop", sku="MUG")
    assert [(b.system, b.external_sku) for b in first] == [("erp", "E-1"), ("shop", "S-1")]
    assert first.total == 3
    assert [(b.external_sku, b.sku, b.uom_factor) for b in shop_mugs] == [("S-2", "MUG", 6)]
