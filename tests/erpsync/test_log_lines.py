"""Log lines: with JSON asked for, every line erpsync writes is JSON, the libraries' lines too."""

from __future__ import annotations

import json
import logging
import logging.config
import os
import pty
import select
import socket
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
import uvicorn.config
import yaml
from cryptography.fernet import Fernet

from erpsync.demo_files import write_demo_files
from erpsync.logging import configure_logging
from erpsync.simulator import ERP_TOKEN, SHOP_KEY, Simulator
from tests.erpsync.loopback import STOCK_CONFIG, stock_api
from tests.erpsync.processes import command, erpsync, open_tmp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def poke_with_garbage(port: int, deadline: float) -> bool:
    """Send the API a request that is not HTTP (uvicorn logs a warning); False if it never listened."""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"NOT HTTP AT ALL\r\n\r\n")
                conn.recv(1024)
                return True
        except OSError:
            time.sleep(0.1)
    return False


def demo_like_config(folder: Path, url: str, port: int) -> Path:
    path = write_demo_files(url, "en", folder)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["api"] = {"listen": f"127.0.0.1:{port}"}
    data["logging"] = {"level": "info"}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_the_service_in_json_mode_writes_nothing_but_json_lines() -> None:
    sim = Simulator(tick=0.5).start()
    env = {
        "DEMO_ERP_TOKEN": ERP_TOKEN,
        "DEMO_SHOP_KEY": SHOP_KEY,
        "DEMO_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    try:
        for work in open_tmp():
            port = free_port()
            demo_like_config(work, sim.url, port)
            assert erpsync(["db", "upgrade"], cwd=work, env=env).returncode == 0
            assert erpsync(["mapping", "import-skus", "skus.csv"], cwd=work, env=env).returncode == 0
            service = subprocess.Popen(
                [*command(), "--log-format", "json", "run", "--for", "3"],
                cwd=work,
                env={"PATH": os.environ["PATH"], "HOME": str(work), **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            poked = poke_with_garbage(port, time.monotonic() + 20)
            out, err = service.communicate(timeout=60)
            assert service.returncode == 0, err
            assert poked
    finally:
        sim.stop()
    events = [json.loads(line) for line in (out + err).splitlines()]  # fails on any line not JSON
    said = {e["event"] for e in events}
    assert {"service started", "run finished", "outbox delivery will be retried"} <= said
    assert "Invalid HTTP request received." in said  # uvicorn's own logger, as JSON
    assert all("level" in e and "timestamp" in e for e in events)


def test_library_loggers_and_warnings_are_rendered_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    # a uvicorn started elsewhere in the process may have given its loggers their own handlers
    logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)
    logging.captureWarnings(False)  # as in a fresh process: pytest records warnings its own way
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        configure_logging("info", "json")
        try:
            logging.getLogger("uvicorn.error").warning("socket trouble on %s", "127.0.0.1:8787")
            logging.getLogger("alembic.runtime.migration").warning("a migration says something")
            logging.getLogger("apscheduler.scheduler").error("job missed")
            warnings.warn("this will change", DeprecationWarning, stacklevel=1)
        finally:
            logging.captureWarnings(False)
    lines = capsys.readouterr().err.splitlines()
    events: list[dict[str, Any]] = [json.loads(line) for line in lines]
    assert [e["event"] for e in events[:3]] == [
        "socket trouble on 127.0.0.1:8787",
        "a migration says something",
        "job missed",
    ]
    assert "this will change" in events[3]["event"]


def test_sync_on_a_terminal_in_json_mode_shows_no_spinner(tmp_path: Path) -> None:
    items: list[dict[str, Any]] = [{"sku": f"SKU{n}", "qty": n} for n in range(5)]
    with stock_api(items) as port:
        path = tmp_path / "erpsync.yaml"
        path.write_text(STOCK_CONFIG.format(db=f"sqlite:///{tmp_path / 'e.db'}", port=port))
        path.write_text(path.read_text().replace("level: warning", "level: info"))
        assert erpsync(["-c", str(path), "db", "upgrade"], cwd=tmp_path).returncode == 0
        main, terminal = pty.openpty()
        try:
            proc = subprocess.run(  # noqa: PLW1510
                [*command(), "-c", str(path), "--log-format", "json", "sync", "erp", "stock"],
                cwd=tmp_path,
                env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TERM": "xterm"},
                stdout=subprocess.PIPE,
                stderr=terminal,
                timeout=60,
            )
            written = _read_all(main)
        finally:
            os.close(main)
            os.close(terminal)
    assert proc.returncode == 0
    assert "\x1b" not in written  # no cursor movement, no spinner
    events = [json.loads(line) for line in written.replace("\r\n", "\n").splitlines() if line.strip()]
    assert {e["event"] for e in events} >= {"run started", "run finished"}


def _read_all(fd: int) -> str:
    chunks = []
    while select.select([fd], [], [], 0.2)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def test_a_long_quarantine_reason_is_cut_at_a_word_in_the_list(tmp_path: Path) -> None:
    long_value = "a value written by hand " * 6
    items: list[dict[str, Any]] = [{"sku": "TEA", "qty": long_value}]
    with stock_api(items) as port:
        path = tmp_path / "erpsync.yaml"
        path.write_text(STOCK_CONFIG.format(db=f"sqlite:///{tmp_path / 'e.db'}", port=port))
        for args in (["db", "upgrade"], ["sync", "erp", "stock"]):
            erpsync(["-c", str(path), *args], cwd=tmp_path)
    proc = erpsync(["-c", str(path), "quarantine", "list"], cwd=tmp_path)
    assert proc.returncode == 0
    (row,) = [line for line in proc.stdout.splitlines() if "TEA" in line]
    reason = row.split("│")[6].strip()
    assert reason.endswith("…")
    cut = reason.removesuffix("…")
    assert cut.rsplit(" ", 1)[-1] in {"a", "value", "written", "by", "hand", "'a"} or cut.endswith(("'", '"'))
