"""Stream kinds in the config: a stream named in a connector's settings carries the kind its ``kind:``
names (else its name's); start-up names the line of a stream of no kind, and wires by kind."""

from __future__ import annotations

import pytest

from config import load_config_text
from core.errors import ConfigError
from erpsync.startup import check_startup
from erpsync.wiring import build_connector, mapping_spec, plan_streams
from mapping.records import Order, StockLevel

SHOP = """\
locations:
  - {code: WH, name: Warehouse, kind: warehouse}
connectors:
  - name: shop
    kind: rest
    settings:
      base_url: https://shop.example/api/
      streams:
        inventory: {path: stock, primary_key: [sku], snapshot: true@KIND@}
    streams:
      inventory:
        every: 5m
        mapping: {sku: sku, location: wh, on_hand: qty}
"""

ORDERS = """\
locations:
  - {code: WH, name: Warehouse, kind: warehouse}
connectors:
  - name: shop
    kind: rest
    settings:
      base_url: https://shop.example/api/
      streams:
        sales: {path: orders, primary_key: [id], kind: orders}
    streams:
      sales:
        mapping: {external_id: id, status: status, lines: {path: items, each: {sku: sku, qty: n}}}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        check_startup(load_config_text(text, "erpsync.yaml", {}))
    return caught.value.problems


def test_a_stream_whose_name_is_no_kind_is_refused_at_its_line_listing_the_kinds() -> None:
    [problem] = problems(SHOP.replace("@KIND@", ""))

    assert problem.startswith("erpsync.yaml:11 connectors[0].streams.inventory: stream 'inventory'")
    assert "has kind 'inventory', which is no stream kind" in problem
    assert "(kinds: listings, orders, products, returns, shipments, stock, stock_moves)" in problem
    assert "give the stream `kind:`" in problem


def test_a_stream_given_its_kind_is_wired_as_that_kind() -> None:
    cfg = load_config_text(SHOP.replace("@KIND@", ", kind: stock"), "erpsync.yaml", {})

    [planned] = check_startup(cfg).streams

    assert (planned.job.stream, planned.job.kind.name, planned.job.kind.record) == (
        "inventory",
        "stock",
        StockLevel,
    )
    assert plan_streams(cfg)[0].job.kind.name == "stock"


def test_a_stream_of_a_reserved_kind_is_refused_until_erpsync_lands_it() -> None:
    [problem] = problems(SHOP.replace("@KIND@", ", kind: listings"))

    assert problem.startswith("erpsync.yaml:11 connectors[0].streams.inventory: stream 'inventory'")
    assert "is of kind 'listings', which erpsync does not land yet" in problem


def test_a_stream_of_kind_orders_gets_its_channel_and_needs_dispatch_targets_whatever_its_name() -> None:
    cfg = load_config_text(ORDERS, "erpsync.yaml", {})

    [problem] = problems(ORDERS)
    [planned] = plan_streams(cfg)
    spec = mapping_spec(planned.job.connector, cfg.connectors[0], "sales")

    assert problem.startswith("erpsync.yaml:2 locations[0]: location 'WH' has no dispatch target")
    assert planned.job.kind.record is Order
    assert spec["channel"] == {"const": "shop"}


def test_sql_and_file_streams_take_a_kind_too() -> None:
    text = """\
connectors:
  - name: legacy
    kind: sql
    settings:
      url: "sqlite:///:memory:"
      streams:
        levels: {kind: stock, query: "SELECT sku, wh, qty FROM inv", primary_key: [sku, wh], snapshot: true}
  - name: drop
    kind: file
    settings: {folder: /srv/drop, stream: counts, kind: stock_moves, columns: {code: sku}, primary_key: [sku]}
"""
    cfg = load_config_text(text, "erpsync.yaml", {})

    kinds = {c.name: {n: s.kind for n, s in build_connector(c).streams.items()} for c in cfg.connectors}

    assert kinds == {"legacy": {"levels": "stock"}, "drop": {"counts": "stock_moves"}}
