"""Every list at the command line says when it shows fewer rows than there are, and how to see more."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from erpsync.cli import run_cli
from tests.store import seed


@pytest.fixture
def config(store_engine: Engine, tmp_path: Path) -> Path:
    """Three dispatch instructions, quarantined records, alerts and orders."""
    with store_engine.begin() as conn:
        wh = seed.location(conn, "WH")
        for n in range(3):
            order_id = seed.order(conn, "shop", f"A{n}", "dispatched")
            seed.instruction(conn, f"D-{n}", order_id, wh)
            seed.quarantined(conn, "shop", "orders", f"Q{n}")
            seed.alert(conn, "shortage", location_id=wh, sku=f"SKU-{n}")
    path = tmp_path / "erpsync.yaml"
    url = store_engine.url.render_as_string(hide_password=False)
    path.write_text(f"database:\n  url: {url}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("command", "what"),
    [
        (["dispatch", "list"], "dispatch instructions"),
        (["quarantine", "list"], "records"),
        (["alerts", "list"], "alerts"),
        (["orders", "list"], "orders"),
    ],
)
def test_a_list_cut_by_its_limit_says_how_many_there_are(
    config: Path, capsys: pytest.CaptureFixture[str], command: list[str], what: str
) -> None:
    assert run_cli(["--config", str(config), *command, "--limit", "2"]) == 0
    assert f"showing 2 of 3 {what} — pass --limit to see more" in capsys.readouterr().out
    assert run_cli(["--config", str(config), *command, "--limit", "3"]) == 0
    assert "showing" not in capsys.readouterr().out


@pytest.mark.parametrize("command", [["dispatch", "list"], ["quarantine", "list"], ["alerts", "list"]])
def test_a_limit_below_one_is_a_usage_error(config: Path, command: list[str]) -> None:
    assert run_cli(["--config", str(config), *command, "--limit", "0"]) == 2
