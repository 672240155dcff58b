"""``erpsync sync CONNECTOR [STREAM] [--accept-shrink]`` and what ``stock plan|explain`` say while a
channel waits: for a first stock report, or for a person to accept a held snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest
import responses
from sqlalchemy import select

from erpsync.cli import run_cli
from store.db import make_engine
from store.models import StockLevel

CONFIG = """\
database: {{url: "sqlite:///{db}"}}
logging: {{level: warning}}
locations:
  - {{code: WH, name: Factory, kind: warehouse, stock_source: erp}}
  - {{code: DS, name: Distributor, kind: distributor, parent: WH}}
connectors:
  - name: erp
    kind: rest
    settings:
      base_url: "https://erp.example/api/"
      streams:
        stock: {{path: stock, record_path: items, primary_key: [sku], snapshot: true}}
    streams:
      stock:
        max_shrink: 0.5
        mapping: {{sku: sku, location: {{const: WH}}, on_hand: {{path: qty, convert: [int]}}}}
  - name: shop
    kind: rest
    settings: {{base_url: "https://shop.example/api/", stock_push: {{path: stock/push}}}}
channels:
  - {{name: shop, sources: [WH, DS]}}
"""
STOCK = "https://erp.example/api/stock"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "erpsync.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "e.db"))
    assert cli(path, "db", "upgrade") == 0
    return path


def cli(config: Path, *args: str) -> int:
    return run_cli(["-c", str(config), *args])


def levels(config: Path) -> dict[str, int]:
    engine = make_engine(f"sqlite:///{config.parent / 'e.db'}")
    with engine.connect() as conn:
        found = dict(conn.execute(select(StockLevel.sku, StockLevel.on_hand)).tuples().all())
    engine.dispose()
    return found


@responses.activate
def test_accept_shrink_releases_a_held_snapshot(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    responses.get(STOCK, json={"items": [{"sku": "TEA", "qty": 10}, {"sku": "CUP", "qty": 4}]})
    assert cli(config, "sync", "erp", "stock") == 0

    responses.replace(responses.GET, STOCK, json={"success": False, "items": []})
    capsys.readouterr()
    assert cli(config, "sync", "erp", "stock") == 1
    out = capsys.readouterr().out
    assert "held" in out
    assert "listed no record" in out
    assert "erpsync sync erp stock --accept-shrink" in out
    assert levels(config) == {"TEA": 10, "CUP": 4}

    assert cli(config, "stock", "plan") == 0
    assert "stock of WH is held" in capsys.readouterr().out

    assert cli(config, "sync", "erp", "stock", "--accept-shrink") == 0
    assert levels(config) == {"TEA": 0, "CUP": 0}


def test_the_stream_as_argument_or_option_but_not_two_different_ones(config: Path) -> None:
    assert cli(config, "sync", "erp", "orders", "--stream", "stock") == 2
    with responses.RequestsMock() as mock:
        mock.get(STOCK, json={"items": [{"sku": "TEA", "qty": 1}]})
        assert cli(config, "sync", "erp", "--stream", "stock", "--accept-shrink") == 0
    assert cli(config, "sync", "shop", "--accept-shrink") == 2  # nothing there to accept


@responses.activate
def test_plan_and_explain_say_which_location_has_not_reported(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    responses.get(STOCK, json={"items": [{"sku": "TEA", "qty": 10}]})
    assert cli(config, "sync", "erp", "stock") == 0
    capsys.readouterr()

    assert cli(config, "stock", "plan") == 0
    out = capsys.readouterr().out
    assert "channel shop: nothing is pushed — waiting for first stock report from DS" in out
    assert "nothing to push" in out
    assert "every channel already has" not in out

    assert cli(config, "stock", "explain", "TEA") == 0
    assert "not pushed: waiting for first stock report from DS" in capsys.readouterr().out
