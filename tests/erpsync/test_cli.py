"""The command line: exit codes, error messages with line numbers, secrets never printed."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import structlog
import yaml
from sqlalchemy import select

from erpsync.cli import run_cli
from store.db import make_engine
from store.models import SyncRun
from tests.conftest import BACKENDS

BAD_CONFIG = """\
database:
  url: sqlite:///x.db
connectors:
  - name: erp
    kind: rest
    settings:
      base_url: https://erp.example.com
      streams: {stock: {path: /stock, record_path: items, primary_key: [id]}}
    streams:
      stock: {every: 5 minutes}
locations:
  - code: WH1
    name: Factory
    kind: depot
  - code: WH2
    name: South
    kind: distributor
    parent: WH9
"""

SECRET_CONFIG = """\
database:
  url: sqlite:///{db}
connectors:
  - name: erp
    kind: rest
    settings:
      base_url: https://erp.example.com
      auth: {{type: bearer, token: "${{ERP_TOKEN}}"}}
      streams:
        stock: {{path: /stock, record_path: items, primary_key: [id]}}
"""


def test_three_mistakes_give_three_lines_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "erpsync.yaml"
    path.write_text(BAD_CONFIG)
    code = run_cli(["--config", str(path), "config", "validate"])
    err = capsys.readouterr().err
    problems = [line for line in err.splitlines() if line.startswith(f"{path}:")]
    assert code == 2
    assert len(problems) == 3, err
    assert problems[0].startswith(f"{path}:10 connectors[0].streams.stock.every")
    assert problems[1].startswith(f"{path}:14 locations[0].kind")
    assert problems[2].startswith(f"{path}:18 locations[1].parent")


def test_secret_never_printed_by_show_nor_logged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "tok-9f8e7d6c5b4a"
    monkeypatch.setenv("ERP_TOKEN", secret)
    path = tmp_path / "erpsync.yaml"
    path.write_text(SECRET_CONFIG.format(db=tmp_path / "x.db"))
    code = run_cli(["--log-format", "json", "--config", str(path), "config", "validate", "--show"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "********" in captured.out
    assert "erp.example.com" in captured.out
    assert secret not in captured.out + captured.err

    # A log line that carries the secret in any field, or inside a message, is redacted.
    structlog.get_logger("test").warning("calling erp", token=secret, note=f"header Bearer {secret}")
    logging.getLogger("urllib3").warning("GET /stock?access_token=%s", secret)
    err = capsys.readouterr().err
    event = json.loads(err.splitlines()[0])
    assert event["event"] == "calling erp"
    assert secret not in err
    assert "access_token" in err


def test_missing_explicit_config_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli(["--config", str(tmp_path / "nope.yaml"), "config", "validate"])
    assert code == 2
    assert "nope.yaml" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["frobnicate"]) == 2


def test_db_upgrade_then_current_and_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "erpsync.yaml"
    path.write_text(f"database:\n  url: sqlite:///{tmp_path / 'e.db'}\n")
    assert run_cli(["-c", str(path), "db", "current"]) == 1  # empty database: upgrade pending
    assert "pending" in capsys.readouterr().out
    assert run_cli(["-c", str(path), "db", "upgrade"]) == 0
    assert "upgraded to" in capsys.readouterr().out
    assert run_cli(["-c", str(path), "db", "current"]) == 0
    assert "pending" not in capsys.readouterr().out
    assert run_cli(["-c", str(path), "status"]) == 0
    assert "no streams configured" in capsys.readouterr().out


def test_help_explains_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["--help"]) == 0
    out = capsys.readouterr().out
    for command in (
        "config",
        "db",
        "connectors",
        "status",
        "sync",
        "run",
        "quarantine",
        "mapping",
        "stock",
        "orders",
        "dispatch",
        "alerts",
    ):
        assert command in out


HEADER_SECRET_CONFIG = """\
database:
  url: {db}
locations:
  - {{code: WH, name: Warehouse, kind: warehouse}}
connectors:
  - name: erp
    kind: rest
    settings:
      base_url: http://127.0.0.1:{port}/api
      headers: {{Authorization: "Bearer {token}", X-Api-Key: "{key}", Accept-Language: zh-CN}}
      secret_headers: {{X-Shop-Code: "{code}"}}
      streams:
        stock: {{path: stock, record_path: items, primary_key: [sku]}}
    streams:
      stock: {{every: 5m, mapping: {{sku: sku, location: loc, on_hand: qty}}}}
"""


@pytest.fixture
def quoting_upstream() -> Iterator[tuple[int, list[dict[str, str]]]]:
    """An API on 127.0.0.1 that answers 401 quoting back every header credential it was sent."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(dict(self.headers))
            bare = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            quoted = [bare, self.headers.get("X-Api-Key"), self.headers.get("X-Shop-Code")]
            body = json.dumps(
                {"error": "invalid credentials: " + " / ".join(str(q) for q in quoted)}
            ).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("empty_db_url", BACKENDS, indirect=True)
@pytest.mark.parametrize("log_format", ["json", "console"])
def test_header_credentials_never_show_even_when_a_401_quotes_them_back(
    empty_db_url: str,
    log_format: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    quoting_upstream: tuple[int, list[dict[str, str]]],
) -> None:
    port, seen = quoting_upstream
    unique = uuid.uuid4().hex[:10]  # redaction is process-wide: values no other test registered
    token, key, code = f"hdr-tok-{unique}", f"hdr-key-{unique}", f"hdr-code-{unique}"
    path = tmp_path / "erpsync.yaml"
    path.write_text(HEADER_SECRET_CONFIG.format(db=empty_db_url, port=port, token=token, key=key, code=code))
    cli = ["--log-format", log_format, "-c", str(path)]

    assert run_cli([*cli, "config", "validate", "--show"]) == 0
    shown = capsys.readouterr()
    settings = yaml.safe_load(shown.out)["connectors"][0]["settings"]
    assert settings["headers"] == {
        "Authorization": "********",
        "X-Api-Key": "********",
        "Accept-Language": "zh-CN",
    }
    assert settings["secret_headers"] == {"X-Shop-Code": "********"}
    assert run_cli([*cli, "db", "upgrade"]) == 0
    assert run_cli([*cli, "sync", "erp", "--stream", "stock"]) == 1
    synced = capsys.readouterr()

    assert seen[0]["Authorization"] == f"Bearer {token}"  # sent as configured
    assert (seen[0]["X-Api-Key"], seen[0]["X-Shop-Code"]) == (key, code)
    engine = make_engine(empty_db_url)
    with engine.connect() as conn:
        (stored,) = conn.execute(select(SyncRun.error)).scalars().all()
    engine.dispose()
    assert "401" in stored
    assert "401" in synced.err
    everything = shown.out + shown.err + synced.out + synced.err + stored
    for secret in (token, key, code):
        assert secret not in everything
