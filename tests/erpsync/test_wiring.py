"""From the config file to jobs and channel policies."""

from __future__ import annotations

import pytest

from config import load_config_text
from core.errors import ConfigError
from erpsync.wiring import channel_policies, plan_streams, stock_channels
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


def test_sku_bindings_in_the_config_reach_the_store(tmp_path: object) -> None:
    from pathlib import Path

    from sqlalchemy import select

    from erpsync.cli import run_cli
    from store.db import make_engine
    from store.models import SkuBinding

    work = Path(str(tmp_path))
    path = work / "erpsync.yaml"
    path.write_text(
        f'database: {{url: "sqlite:///{work / "e.db"}"}}\n'
        + CONFIG.replace(
            "    kind: rest\n    settings: {base_url",
            "    kind: rest\n"
            "    sku_bindings: [{external_sku: CUP-6PK, sku: CUP, uom_factor: 6}]\n"
            "    settings: {base_url",
        ),
        encoding="utf-8",
    )
    assert run_cli(["-c", str(path), "db", "upgrade"]) == 0
    # any command that prepares the store; no orders yet: nothing to do (exit 4)
    assert run_cli(["-c", str(path), "orders", "process"]) == 4
    engine = make_engine(f"sqlite:///{work / 'e.db'}")
    with engine.connect() as conn:
        columns = (SkuBinding.system, SkuBinding.external_sku, SkuBinding.sku, SkuBinding.uom_factor)
        rows = conn.execute(select(*columns))
        assert [tuple(r) for r in rows] == [("shop", "CUP-6PK", "CUP", 6)]
    engine.dispose()


def test_a_channel_whose_connector_has_skus_bound_is_shown_only_bound_skus() -> None:
    [identity] = channel_policies(load_config_text(CONFIG))
    text = CONFIG.replace(
        "  - name: shop\n    kind: rest\n", "  - name: shop\n    kind: rest\n    skus: bound\n"
    )
    [bound] = channel_policies(load_config_text(text))
    assert (identity.bound, bound.bound) == (False, True)


def test_orders_are_processed_every_five_seconds_without_a_jitter_longer_than_that() -> None:
    from datetime import timedelta

    from erpsync.runner import order_tasks
    from store.db import make_engine

    engine = make_engine("sqlite://")
    [process] = [t for t in order_tasks(engine, load_config_text(CONFIG)) if t.name == "orders:process"]
    engine.dispose()
    assert process.schedule.every == timedelta(seconds=5)
    assert process.schedule.jitter == timedelta(0)
