"""The sync engine's read queries: stream status, runs, quarantined records, a SKU's push state."""

from __future__ import annotations

from sqlalchemy import Engine, insert

from store import outbox
from store.models import ChannelListing
from sync import queries
from sync.outbound import TOPIC
from tests.store import seed


def test_stream_status_lists_configured_streams_and_every_stream_that_ran(store_engine: Engine) -> None:
    with store_engine.begin() as conn:
        seed.run(conn, "erp", "stock", "failed", records_in=3)
        seed.run(conn, "erp", "stock", "ok", records_in=7)
        seed.quarantined(conn, "erp", "stock", "K1")
        seed.quarantined(conn, "erp", "stock", "K2", status="resolved")
    rows = queries.stream_status(store_engine, [("shop", "orders")])
    assert [(r.connector, r.stream) for r in rows] == [("erp", "stock"), ("shop", "orders")]
    stock, orders = rows
    assert (stock.outcome, stock.records_in, stock.quarantined_open, stock.last_success) == (
        "ok",
        7,
        1,
        seed.AT,
    )
    assert (orders.outcome, orders.last_started, orders.lag, orders.lease_text()) == (None, None, None, "-")


def test_runs_newest_first_by_connector_stream_and_status(store_engine: Engine) -> None:
    with store_engine.begin() as conn:
        ids = [seed.run(conn, c, s, st) for c, s, st in [("erp", "stock", "ok"), ("erp", "stock", "failed")]]
        ids.append(seed.run(conn, "shop", "orders", "ok"))
    with store_engine.connect() as conn:
        first = queries.list_runs(conn, limit=2)
        rest = queries.list_runs(conn, limit=2, offset=2)
        erp_ok = queries.list_runs(conn, connector="erp", stream="stock", status="ok")
    assert ([r.id for r in first], first.total, first.more) == ([ids[2], ids[1]], 3, True)
    assert ([r.id for r in rest], rest.more) == ([ids[0]], False)
    [run] = erp_ok
    assert (run.id, run.connector, run.stream, run.started_at, run.error) == (
        ids[0],
        "erp",
        "stock",
        seed.AT,
        None,
    )


def test_quarantine_last_seen_first_by_connector_stream_reason_and_status(store_engine: Engine) -> None:
    with store_engine.begin() as conn:
        ids = [seed.quarantined(conn, "shop", "orders", f"O{n}") for n in range(3)]
        ids.append(seed.quarantined(conn, "shop", "orders", "O9", code="bad_value", status="discarded"))
        ids.append(seed.quarantined(conn, "erp", "stock", "S1"))
    with store_engine.connect() as conn:
        first = queries.list_quarantine(conn, limit=2)
        shop_open = queries.list_quarantine(
            conn, connector="shop", stream="orders", status="open", limit=2, offset=2
        )
        bad = queries.list_quarantine(conn, reason="bad_value")
        found = queries.get_quarantined(conn, [ids[4], ids[0], 10**9])
    assert ([q.id for q in first], first.total) == ([ids[4], ids[3]], 5)
    assert ([q.record_key for q in shop_open], shop_open.total) == (["O0"], 3)
    assert [(q.record_key, q.status) for q in bad] == [("O9", "discarded")]
    assert [(q.id, q.payload, q.seen_count) for q in found] == [
        (ids[0], {"id": "O0"}, 1),
        (ids[4], {"id": "S1"}, 1),
    ]


def test_push_state_of_a_sku_never_planned_names_its_binding(store_engine: Engine) -> None:
    with store_engine.begin() as conn:
        seed.binding(conn, "shop", "S-MUG-6", "MUG", 6)
    with store_engine.connect() as conn:
        state = queries.push_state(conn, "shop", "MUG")
        plain = queries.push_state(conn, "shop", "TEA")
    assert (state.channel_sku, state.factor, state.listed, state.waiting) == ("S-MUG-6", 6, False, None)
    assert (plain.channel_sku, plain.factor) == ("TEA", 1)


def test_push_state_shows_the_newest_push_waiting_for_that_sku_only(store_engine: Engine) -> None:
    with store_engine.begin() as conn:
        for sku in ("A_1", "AB1"):
            conn.execute(
                insert(ChannelListing).values(
                    channel="shop", sku=sku, planned_qty=5, last_pushed_qty=4, pushed_at=seed.AT
                )
            )
        outbox.enqueue(conn, TOPIC, f"{TOPIC}:shop:AB1:1", {"qty": 5}, partition="shop")
        outbox.enqueue(conn, TOPIC, f"{TOPIC}:shop:AB1:2", {"qty": 6}, partition="shop")
    with store_engine.connect() as conn:
        waiting = queries.push_state(conn, "shop", "AB1")
        # "_" is a LIKE wildcard: the push of AB1 is not one of A_1
        other = queries.push_state(conn, "shop", "A_1")
    assert (waiting.listed, waiting.planned_qty, waiting.last_pushed_qty, waiting.pushed_at) == (
        True,
        5,
        4,
        seed.AT,
    )
    assert waiting.waiting is not None
    assert (waiting.waiting.qty, waiting.waiting.attempts, waiting.waiting.last_error) == (6, 0, None)
    assert (other.listed, other.waiting) == (True, None)
