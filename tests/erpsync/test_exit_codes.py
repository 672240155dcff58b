"""The exit-code table (``erpsync.exits``) applied to every command, on SQLite and MariaDB.

0 success, 1 the job failed, 2 usage or config error, 3 partial (records quarantined), 4 nothing
to do. Plus ``erpsync --version``, which needs neither a config file nor a database.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from core.clock import utcnow
from erpsync.cli import EXIT_FAILURE, EXIT_NOTHING, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, run_cli
from store.db import make_engine
from store.models import Alert, Quarantine
from tests.conftest import BACKENDS
from tests.erpsync.loopback import STOCK_CONFIG, stock_api
from tests.erpsync.processes import erpsync, open_tmp


@pytest.fixture
def items() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """The stock API's port and the items it serves (change them to change the answer)."""
    served: list[dict[str, Any]] = [{"sku": "TEA", "qty": 5}]
    with stock_api(served) as port:
        yield port, served


@pytest.fixture
def config(empty_db_url: str, tmp_path: Path, items: tuple[int, list[dict[str, Any]]]) -> Path:
    path = tmp_path / "erpsync.yaml"
    path.write_text(STOCK_CONFIG.format(db=empty_db_url, port=items[0]), encoding="utf-8")
    assert run_cli(["-c", str(path), "db", "upgrade"]) == EXIT_OK
    return path


def cli(config: Path, *args: str) -> int:
    return run_cli(["-c", str(config), *args])


@pytest.mark.parametrize("empty_db_url", BACKENDS, indirect=True)
def test_sync_is_partial_when_records_are_quarantined(
    config: Path, items: tuple[int, list[dict[str, Any]]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(config, "sync", "erp", "stock") == EXIT_OK
    items[1].append({"sku": "POT", "qty": "many"})
    assert cli(config, "sync", "erp", "stock", "--full") == EXIT_PARTIAL
    assert "1 record(s) quarantined: see `erpsync quarantine list`" in capsys.readouterr().out


@pytest.mark.parametrize("empty_db_url", BACKENDS, indirect=True)
def test_an_unknown_stream_or_connector_is_a_usage_error(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(config, "sync", "erp", "stok") == EXIT_USAGE
    assert "connector 'erp' has no stream 'stok' (it offers: stock)" in capsys.readouterr().err
    assert cli(config, "sync", "shop") == EXIT_USAGE
    assert "no connector named 'shop' in the config (known: erp)" in capsys.readouterr().err


@pytest.mark.parametrize("empty_db_url", BACKENDS, indirect=True)
def test_quarantine_retry_and_discard(
    config: Path,
    empty_db_url: str,
    items: tuple[int, list[dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    items[1].append({"sku": "POT", "qty": "many"})
    assert cli(config, "sync", "erp", "stock") == EXIT_PARTIAL
    engine = make_engine(empty_db_url)
    with engine.connect() as conn:
        (record_id,) = conn.execute(select(Quarantine.id)).scalars()
    engine.dispose()
    capsys.readouterr()

    assert cli(config, "quarantine", "retry", "999999") == EXIT_USAGE
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("no quarantined record 999999;")
    assert cli(config, "quarantine", "retry", str(record_id), "999998") == EXIT_USAGE  # nothing is done
    assert "no quarantined record 999998;" in capsys.readouterr().err
    assert cli(config, "quarantine", "discard", "999999") == EXIT_USAGE

    assert cli(config, "quarantine", "retry", str(record_id)) == EXIT_PARTIAL  # still refused
    assert "0 landed, 1 still refused" in capsys.readouterr().out
    assert cli(config, "quarantine", "discard", str(record_id)) == EXIT_OK
    for command in ("retry", "discard"):
        assert cli(config, "quarantine", command, str(record_id)) == EXIT_NOTHING
        assert f"record {record_id} is discarded already" in capsys.readouterr().out


@pytest.mark.parametrize("empty_db_url", BACKENDS, indirect=True)
def test_orders_process_with_no_orders_has_nothing_to_do(config: Path) -> None:
    assert cli(config, "orders", "process") == EXIT_NOTHING


@pytest.mark.parametrize("empty_db_url", BACKENDS, indirect=True)
@pytest.mark.parametrize(
    "args",
    [
        ["dispatch", "show", "DI-NOPE"],
        ["dispatch", "ack", "DI-NOPE"],
        ["dispatch", "resend", "DI-NOPE"],
        ["dispatch", "ship", "DI-NOPE", "--carrier", "SF", "--tracking", "SF1"],
        ["orders", "explain", "shop/NOPE"],
        ["orders", "release", "shop/NOPE"],
        ["alerts", "show", "999"],
        ["alerts", "ack", "999"],
        ["alerts", "mute", "999"],
        ["stock", "plan", "--channel", "nope"],
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_an_unknown_name_or_id_is_a_usage_error_in_one_line(
    config: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(config, *args) == EXIT_USAGE
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert ("NOPE" in line) or ("999" in line) or ("nope" in line)
    assert "Traceback" not in captured.err


@pytest.mark.parametrize("empty_db_url", BACKENDS, indirect=True)
def test_acknowledging_an_alert_twice_has_nothing_to_do(
    config: Path, empty_db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = make_engine(empty_db_url)
    now = utcnow()
    with engine.begin() as conn:
        alert_id = conn.execute(
            insert(Alert).values(
                kind="shortage", severity="warning", state="open", open_key="k", opened_at=now, updated_at=now
            )
        ).inserted_primary_key[0]
    engine.dispose()
    assert cli(config, "alerts", "ack", str(alert_id)) == EXIT_OK
    assert cli(config, "alerts", "ack", str(alert_id)) == EXIT_NOTHING
    assert f"alert {alert_id}: acknowledged already, nothing to acknowledge" in capsys.readouterr().out


@pytest.mark.parametrize("empty_db_url", ["sqlite"], indirect=True)
def test_db_current_with_a_pending_upgrade_fails_the_check(empty_db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "erpsync.yaml"
    path.write_text(f"database: {{url: '{empty_db_url}'}}\n", encoding="utf-8")
    assert cli(path, "db", "current") == EXIT_FAILURE
    assert cli(path, "db", "upgrade") == EXIT_OK
    assert cli(path, "db", "current") == EXIT_OK


def test_version_needs_no_config_nor_database() -> None:
    for work in open_tmp():
        missing = {
            "ERPSYNC_CONFIG": str(work / "nope.yaml"),
            "ERPSYNC_DATABASE_URL": "mysql+pymysql://x@h:1/x",
        }
        for env in ({}, missing):
            proc = erpsync(["--version"], cwd=work, env=env)
            assert (proc.returncode, proc.stderr) == (EXIT_OK, "")
            assert proc.stdout == f"erpsync {metadata.version('erpsync')}\n"
        assert list(work.iterdir()) == []  # nothing created: no var/, no database
