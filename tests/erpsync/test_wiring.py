"""From the config file to jobs and channel policies."""

from __future__ import annotations

import pytest

from config import load_config_text
from erpsync.wiring import channel_policies, plan_streams, stock_channels
from mapping.errors import ConfigError
from sync.sellable import Rule

CONFIG = """\
locations:
  - {code: WH, name: Warehouse, kind: warehouse}
connectors:
  - name: erp
    kind: rest
    settings:
      base_url: https://erp.example/api/
      streams: {stock: {path: stock, primary_key: [id], snapshot: true}}
    streams:
      stock:
        every: 5m
        missing: keep
        mapping: {sku: code, location: wh, on_hand: {path: qty, convert: [int]}}
  - name: shop
    kind: rest
    settings: {base_url: "https://shop.example/", stock_push: {path: push, batch: 7}}
channels:
  - name: shop
    sources: [WH]
    rule: {percent: 80, buffer: 1}
    overrides: [{sku: A, max: 5}, {category: tea, percent: 50}]
    locks: [{sku: A, qty: 2}, {sku: A, qty: 3}]
"""


def test_stream_job_carries_the_snapshot_policy() -> None:
    [planned] = plan_streams(load_config_text(CONFIG))
    assert planned.job.snapshot_missing == "keep"
    assert planned.schedule is not None
    assert planned.schedule.every is not None
    assert planned.schedule.every.total_seconds() == 300


def test_overrides_merge_onto_the_channel_rule_and_locks_add_up() -> None:
    [policy] = channel_policies(load_config_text(CONFIG))
    assert policy.rule == Rule(percent=80, buffer=1)
    assert [o.rule for o in policy.overrides] == [
        Rule(percent=80, buffer=1, max=5),
        Rule(percent=50, buffer=1),
    ]
    assert policy.locks == {"A": 5}
    assert stock_channels(load_config_text(CONFIG))["shop"].push_batch_limit == 7


def test_a_channel_whose_connector_cannot_receive_stock_is_a_config_error() -> None:
    text = CONFIG.replace("channels:\n  - name: shop", "channels:\n  - name: erp")
    with pytest.raises(ConfigError, match="not set up to receive stock pushes"):
        stock_channels(load_config_text(text))
