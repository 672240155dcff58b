"""Routing's read queries: orders and dispatch instructions a page at a time, within a caller's scope."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import Engine

from routing import queries
from tests.store import seed


@dataclass(frozen=True)
class Network:
    """Ids of what :func:`network` wrote."""

    orders: dict[str, int]
    instructions: dict[str, int]


@pytest.fixture
def network(store_engine: Engine) -> Network:
    """Four orders of two shops; three dispatched to GZ or SH, one received and not dispatched yet."""
    with store_engine.begin() as conn:
        gz, sh = seed.location(conn, "DS-GZ"), seed.location(conn, "DS-SH")
        orders = {
            "shop/A1": seed.order(conn, "shop", "A1", "dispatched", ship_region="GD"),
            "mall/A1": seed.order(conn, "mall", "A1", "dispatched"),
            "shop/B2": seed.order(conn, "shop", "B2", "shipped"),
            "shop/C3": seed.order(conn, "shop", "C3", "received", hold_reason=None),
        }
        for n, sku in enumerate(("MUG", "TEA"), start=1):
            seed.line(conn, orders["shop/A1"], n, sku, n * 2)
        instructions = {
            "D-1": seed.instruction(conn, "D-1", orders["shop/A1"], gz),
            "D-2": seed.instruction(conn, "D-2", orders["shop/A1"], sh, "acknowledged"),
            "D-3": seed.instruction(conn, "D-3", orders["mall/A1"], sh),
            "D-4": seed.instruction(conn, "D-4", orders["shop/B2"], gz, "shipped"),
        }
        seed.parcel(conn, instructions["D-4"], "SF2", shipped_at=seed.AT)
        seed.parcel(conn, instructions["D-4"], "SF1")
    return Network(orders, instructions)


def test_orders_newest_first_by_status_and_channel_with_their_total(
    store_engine: Engine, network: Network
) -> None:
    with store_engine.connect() as conn:
        first = queries.list_orders(conn, limit=3)
        rest = queries.list_orders(conn, limit=3, offset=3)
        shop = queries.list_orders(conn, channel="shop", status="dispatched")
        counted = queries.count_orders(conn, channel="shop")
    assert [f"{o.channel}/{o.external_id}" for o in first] == ["shop/C3", "shop/B2", "mall/A1"]
    assert (first.total, first.more, [o.external_id for o in rest], rest.more) == (4, True, ["A1"], False)
    assert [(o.id, o.ship_region) for o in shop] == [(network.orders["shop/A1"], "GD")]
    assert counted == 3


def test_orders_in_a_scope_are_those_dispatched_to_its_locations(
    store_engine: Engine, network: Network
) -> None:
    with store_engine.connect() as conn:
        gz = queries.list_orders(conn, locations={"DS-GZ"})
        sh = queries.list_orders(conn, locations=["DS-SH"], limit=1)
        counted = queries.count_orders(conn, locations={"DS-GZ", "DS-SH"})
        none = queries.list_orders(conn, locations=[])
    assert [o.external_id for o in gz] == ["B2", "A1"]  # once each, whatever its instructions there
    assert ([o.channel for o in sh], sh.total) == (["mall"], 2)
    assert (counted, none.total) == (3, 0)  # the received order is nobody's yet


def test_an_order_is_found_by_channel_and_id_by_external_id_or_by_our_id(
    store_engine: Engine, network: Network
) -> None:
    with store_engine.connect() as conn:
        exact = queries.find_orders(conn, " shop / A1 ")
        both = queries.find_orders(conn, "A1")
        ours = queries.find_orders(conn, str(network.orders["shop/B2"]))
        scoped = queries.find_orders(conn, "A1", locations={"DS-GZ"})
        missing = queries.find_orders(conn, "shop/Z9")
    assert [(o.channel, o.status) for o in exact] == [("shop", "dispatched")]
    assert sorted(o.channel for o in both) == ["mall", "shop"]
    assert [o.external_id for o in ours] == ["B2"]
    assert ([o.channel for o in scoped], missing) == (["shop"], [])


def test_an_orders_lines_and_instructions(store_engine: Engine, network: Network) -> None:
    order_id = network.orders["shop/A1"]
    with store_engine.connect() as conn:
        lines = queries.order_lines(conn, order_id)
        sent = queries.order_instructions(conn, order_id)
    assert [(ln.line_no, ln.sku, ln.qty, ln.qty_shipped) for ln in lines] == [
        (1, "MUG", 2, 0),
        (2, "TEA", 4, 0),
    ]
    assert [(s.number, s.location, s.status) for s in sent] == [
        ("D-1", "DS-GZ", "sent"),
        ("D-2", "DS-SH", "acknowledged"),
    ]


def test_instructions_newest_first_by_status_location_and_scope(
    store_engine: Engine, network: Network
) -> None:
    with store_engine.connect() as conn:
        first = queries.list_instructions(conn, limit=2)
        sent = queries.list_instructions(conn, status="sent")
        at_gz = queries.list_instructions(conn, location="DS-GZ", limit=1, offset=1)
        scoped = queries.list_instructions(conn, locations={"DS-SH"})
        outside = queries.list_instructions(conn, location="DS-GZ", locations={"DS-SH"})
    assert ([i.number for i in first], first.total) == (["D-4", "D-3"], 4)
    assert [i.number for i in sent] == ["D-3", "D-1"]
    assert ([i.number for i in at_gz], at_gz.total) == (["D-1"], 2)
    assert [(i.number, i.location, i.channel, i.external_id) for i in scoped] == [
        ("D-3", "DS-SH", "mall", "A1"),
        ("D-2", "DS-SH", "shop", "A1"),
    ]
    assert outside.total == 0


def test_one_instruction_outside_the_scope_is_like_a_missing_one(
    store_engine: Engine, network: Network
) -> None:
    with store_engine.connect() as conn:
        head = queries.get_instruction(conn, "D-4")
        mine = queries.get_instruction(conn, "D-4", locations={"DS-GZ"})
        theirs = queries.get_instruction(conn, "D-4", locations={"DS-SH"})
        missing = queries.get_instruction(conn, "D-404")
    assert head is not None
    assert (head.id, head.location, head.channel, head.status) == (
        network.instructions["D-4"],
        "DS-GZ",
        "shop",
        "shipped",
    )
    assert mine == head
    assert (theirs, missing) == (None, None)


def test_an_instructions_parcels_in_the_order_they_were_reported(
    store_engine: Engine, network: Network
) -> None:
    with store_engine.connect() as conn:
        parcels = queries.instruction_parcels(conn, network.instructions["D-4"])
        none = queries.instruction_parcels(conn, network.instructions["D-1"])
    assert ([p.tracking_no for p in parcels], none) == (["SF2", "SF1"], [])
    assert {p.shipped_at for p in parcels} == {seed.AT}
