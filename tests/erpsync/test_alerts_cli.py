"""``erpsync alerts list|show|ack|mute|check`` over a store with a shortage."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from config import load_config
from erpsync.cli import run_cli
from erpsync.wiring import location_specs
from store import stock
from store.db import make_engine
from store.locations import apply_locations

CONFIG = """\
database: {{url: "sqlite:///{db}"}}
locations:
  - {{code: WH, name: Factory, kind: warehouse}}
  - {{code: DS-GZ, name: Guangzhou, kind: distributor, parent: WH, regions: [广东省/广州市]}}
alerts:
  language: zh-CN
  destinations: [{{name: south, kind: email, to: [south@maker.example]}}]
  rules: [{{match: {{level: distributor}}, warning: 10, critical: 3}}]
  routes: [{{destinations: [south], regions: [广东省]}}]
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "erpsync.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "e.db"), encoding="utf-8")
    assert run_cli(["-c", str(path), "db", "upgrade"]) == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'e.db'}")
    ids = apply_locations(engine, location_specs(load_config(path)))
    with engine.begin() as conn:
        stock.adjust(conn, "TEA", ids["DS-GZ"], 2, ref="count")
        stock.adjust(conn, "TEA", ids["WH"], 500, ref="count")
    engine.dispose()
    return path


def test_check_list_show_ack_mute(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli = lambda *args: run_cli(["-c", str(config), *args])  # noqa: E731
    assert cli("alerts", "check") == 0
    assert "opened 1" in capsys.readouterr().out
    assert cli("alerts", "list") == 0
    listed = capsys.readouterr().out
    assert re.search(r"│ 1\s+│ shortage\s+│ critical\s+│ open\s+│ TEA @ DS-GZ", listed)
    # the list says what the message says, in the configured language
    assert "剩余 2 件（严重阈值 3）" in listed
    assert "补货 8 件，或从 WH 调拨 8 件" in listed
    assert cli("alerts", "list", "--kind", "drift") == 0
    assert capsys.readouterr().out.strip() == "no alerts"
    assert cli("alerts", "list", "--kind", "drift", "--kind", "shortage") == 0
    assert "TEA @ DS-GZ" in capsys.readouterr().out
    assert cli("alerts", "show", "1") == 0
    shown = capsys.readouterr().out
    assert "→ south [opened]" in shown
    assert "【严重】缺货预警：TEA @ DS-GZ" in shown
    assert "剩余 2 件（严重阈值 3）\n建议：补货 8 件，或从 WH 调拨 8 件。" in shown
    assert "  what to do: 补货 8 件，或从 WH 调拨 8 件" in shown
    assert "suggestion" not in shown  # the alert's facts are worded, not dumped
    assert cli("alerts", "ack", "1", "--by", "wang") == 0
    assert "acknowledged" in capsys.readouterr().out
    assert cli("alerts", "mute", "1", "--for", "4h") == 0
    assert "muted until" in capsys.readouterr().out
    assert cli("alerts", "mute", "1", "--for", "soon") == 2
    assert cli("alerts", "show", "99") == 2
