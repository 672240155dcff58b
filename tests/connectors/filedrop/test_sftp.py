"""connectors.sftp against a real SFTP server (asyncssh) on 127.0.0.1, chrooted to a temp folder."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from connectors.dropreport import printable
from connectors.filedrop import FileDropConnector, FileDropSettings
from connectors.sftp import SftpSettings, download_new, plain_name_problem
from core.errors import AuthError, ConfigError, PermanentError, RetriableError
from tests.connectors.filedrop.files import COLUMNS, HEADER, report, write_csv

asyncssh = pytest.importorskip("asyncssh", reason="asyncssh (dev extra) runs the test SFTP server")

USER, PASSWORD = "distributor", "sftp-test-password-81c2"  # distinctive: redaction is global


class PasswordServer(asyncssh.SSHServer):  # type: ignore[name-defined,misc]
    def __init__(self, connections: list[Any]) -> None:
        self.connections = connections

    def connection_made(self, conn: Any) -> None:
        self.connections.append(conn)  # closed with the server: clients that gave up leave some open

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == USER and password == PASSWORD


@dataclass
class Server:
    root: Path  # what the SFTP client sees as /
    port: int
    public_key: str  # "ssh-ed25519 AAAA..."

    def settings(self, tmp_path: Path, **overrides: Any) -> SftpSettings:
        known = tmp_path / "known_hosts"
        known.write_text(f"[127.0.0.1]:{self.port} {self.public_key}\n")
        values: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "username": USER,
            "password": PASSWORD,
            "remote_folder": "/outbox",
            "known_hosts": str(known),
            "timeout_s": 10,
        }
        return SftpSettings.model_validate(values | overrides)


@contextlib.contextmanager
def serving(root: Path, sftp_server: type[Any]) -> Iterator[Server]:
    """An SFTP server on 127.0.0.1 whose clients see ``root`` as ``/``."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    connections: list[Any] = []
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> Any:
        return await asyncssh.listen(
            host="127.0.0.1",
            port=0,
            server_factory=lambda: PasswordServer(connections),
            server_host_keys=[key],
            sftp_factory=lambda chan: sftp_server(chan, chroot=str(root).encode()),
        )

    acceptor = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    public = key.export_public_key("openssh").decode().split()
    try:
        yield Server(root, acceptor.get_port(), f"{public[0]} {public[1]}")
    finally:

        async def stop() -> None:
            acceptor.close()
            await acceptor.wait_closed()
            for conn in connections:
                conn.close()
                await conn.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    root = tmp_path / "remote"
    (root / "outbox").mkdir(parents=True)
    with serving(root, asyncssh.SFTPServer) as running:
        yield running


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    folder = tmp_path / "drop"
    folder.mkdir()
    return folder


def test_remote_files_arrive_and_move_to_remote_done(server: Server, drop: Path, tmp_path: Path) -> None:
    outbox = server.root / "outbox"
    write_csv(outbox / "a.csv", [HEADER, ["A-1", "WH-A", 1, ""]], age_s=60)
    write_csv(outbox / "b.csv", [HEADER, ["B-1", "WH-A", 2, ""]], age_s=30)
    (outbox / "notes.txt").write_text("not a stock list")

    got = download_new(server.settings(tmp_path), drop)

    assert [p.name for p in got] == ["a.csv", "b.csv"]
    assert (drop / "a.csv").read_bytes() == (outbox / "done" / "a.csv").read_bytes()
    assert sorted(p.name for p in outbox.iterdir()) == ["done", "notes.txt"]
    assert abs((drop / "a.csv").stat().st_mtime - (outbox / "done" / "a.csv").stat().st_mtime) < 1
    assert download_new(server.settings(tmp_path), drop) == []


def test_a_local_file_of_the_same_name_is_never_overwritten(
    server: Server, drop: Path, tmp_path: Path
) -> None:
    (drop / "a.csv").write_text("an earlier, different list")
    write_csv(server.root / "outbox" / "a.csv", [HEADER, ["A-1", "WH-A", 1, ""]])
    (server.root / "outbox" / "done").mkdir()
    (server.root / "outbox" / "done" / "a.csv").write_text("uploaded last week")

    got = download_new(server.settings(tmp_path, after_download="move"), drop)

    assert [p.name for p in got] == ["a-1.csv"]
    assert (drop / "a.csv").read_text() == "an earlier, different list"
    done = server.root / "outbox" / "done"
    assert sorted(p.name for p in done.iterdir()) == ["a-1.csv", "a.csv"]
    assert (done / "a.csv").read_text() == "uploaded last week"


def test_delete_and_keep(server: Server, drop: Path, tmp_path: Path) -> None:
    outbox = server.root / "outbox"
    write_csv(outbox / "a.csv", [HEADER, ["A-1", "WH-A", 1, ""]])
    download_new(server.settings(tmp_path, after_download="keep"), drop)
    assert [p.name for p in outbox.iterdir()] == ["a.csv"]
    assert download_new(server.settings(tmp_path, after_download="keep"), drop) == [drop / "a.csv"]
    assert sorted(p.name for p in drop.iterdir()) == ["a.csv"]  # the same bytes again: no copy

    download_new(server.settings(tmp_path, after_download="delete"), drop)
    assert list(outbox.iterdir()) == []


def test_a_wrong_password_is_an_auth_error_that_hides_it(server: Server, drop: Path, tmp_path: Path) -> None:
    with pytest.raises(AuthError) as caught:
        download_new(
            server.settings(tmp_path, password="sftp-test-wrong-password-81c2"), drop, connector="south"
        )
    assert caught.value.connector == "south"
    assert "sftp-test-wrong-password-81c2" not in str(caught.value)


def test_an_unknown_host_key_is_refused(server: Server, drop: Path, tmp_path: Path) -> None:
    write_csv(server.root / "outbox" / "a.csv", [HEADER, ["A-1", "WH-A", 1, ""]])
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(PermanentError, match="unknown"):
        download_new(server.settings(tmp_path, known_hosts=str(empty)), drop)
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode()
    with pytest.raises(PermanentError, match="not the one expected"):
        download_new(server.settings(tmp_path, known_hosts=None, host_key=other.split()[1]), drop)
    assert list(drop.iterdir()) == []


def test_a_pinned_host_key_is_accepted(server: Server, drop: Path, tmp_path: Path) -> None:
    write_csv(server.root / "outbox" / "a.csv", [HEADER, ["A-1", "WH-A", 1, ""]])
    keyscan_line = f"[127.0.0.1]:{server.port} {server.public_key}"  # as ssh-keyscan prints it
    for pin in (server.public_key.split()[1], keyscan_line):
        settings = server.settings(tmp_path, known_hosts=None, host_key=pin, after_download="keep")
        assert download_new(settings, drop) == [drop / "a.csv"]


def test_no_part_file_stays_behind_when_the_transfer_breaks(
    server: Server, drop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import paramiko  # type: ignore[import-untyped]

    write_csv(server.root / "outbox" / "a.csv", [HEADER, ["A-1", "WH-A", 1, ""]])

    def broken_getfo(self: Any, remotepath: str, fl: Any, *args: Any, **kwargs: Any) -> int:
        fl.write(b"half a fi")
        raise EOFError

    monkeypatch.setattr(paramiko.SFTPClient, "getfo", broken_getfo)
    with pytest.raises(RetriableError, match=r"a\.csv"):
        download_new(server.settings(tmp_path), drop)
    assert list(drop.iterdir()) == []
    assert [p.name for p in (server.root / "outbox").iterdir()] == ["a.csv"]  # fetched next time

    monkeypatch.undo()
    download_new(server.settings(tmp_path), drop)
    assert [p.name for p in drop.iterdir()] == ["a.csv"]


def test_remote_and_network_trouble_map_onto_the_error_tree(
    server: Server, drop: Path, tmp_path: Path
) -> None:
    with pytest.raises(PermanentError, match="/nowhere"):
        download_new(server.settings(tmp_path, remote_folder="/nowhere"), drop)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with pytest.raises(RetriableError):
        download_new(server.settings(tmp_path, port=closed_port), drop)


def test_settings_need_a_credential() -> None:
    with pytest.raises(ValueError, match="password or key_file"):
        SftpSettings(host="h", username="u", remote_folder="/")
    with pytest.raises(ValueError, match="host_key"):
        SftpSettings(host="h", username="u", password="p", remote_folder="/", host_key="not base64")


def test_unusable_key_settings_are_config_errors(server: Server, drop: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="key_file"):
        download_new(server.settings(tmp_path, password=None, key_file=str(tmp_path / "no_key")), drop)
    with pytest.raises(ConfigError, match="host key"):
        download_new(server.settings(tmp_path, known_hosts=str(tmp_path / "no_known_hosts")), drop)
    with pytest.raises(ConfigError, match="host key"):  # valid base64, but no key
        download_new(server.settings(tmp_path, host_key="AAAAC3NzaC1lZDI1NTE5"), drop)


def test_without_paramiko_the_error_says_what_to_install(drop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "paramiko", None)
    settings = SftpSettings(host="h", username="u", password=PASSWORD, remote_folder="/")
    with pytest.raises(ConfigError, match=r"erpsync\[sftp\]"):
        download_new(settings, drop)


def test_the_file_connector_imports_what_sftp_brought(server: Server, drop: Path, tmp_path: Path) -> None:
    write_csv(server.root / "outbox" / "south.csv", [HEADER, ["A-1", "WH-A", "1,200", ""]], age_s=60)
    settings = FileDropSettings(
        folder=drop,
        columns=COLUMNS,
        required=["sku", "location"],
        numeric=["qty"],
        sftp=server.settings(tmp_path),
    )  # the default min_age_s (10 s) applies to the upload's time, kept on the download

    pages = list(FileDropConnector("south", settings).fetch("stock", None))

    assert [page.meta["file"] for page in pages] == ["south.csv"]
    assert [(r["sku"], r["location"], r["qty"], r["_file"]) for r in pages[0].records] == [
        ("A-1", "WH-A", "1200", "south.csv")
    ]
    assert (server.root / "outbox" / "done" / "south.csv").exists()


def hostile_listing(names: list[bytes]) -> type[Any]:
    """An SFTP server class whose listing of /outbox also shows ``names`` as regular files."""

    class Hostile(asyncssh.SFTPServer):  # type: ignore[name-defined,misc]
        async def scandir(self, path: bytes) -> Any:
            async for entry in super().scandir(path):
                yield entry
            if path.rstrip(b"/").endswith(b"outbox"):
                for name in names:
                    attrs = asyncssh.SFTPAttrs(
                        type=asyncssh.FILEXFER_TYPE_REGULAR, permissions=0o100644, size=20, mtime=1
                    )
                    yield asyncssh.SFTPName(name, attrs=attrs)

    return Hostile


def test_remote_names_that_are_not_plain_file_names_are_skipped_and_reported(
    tmp_path: Path, drop: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    hostile = [
        str(outside / "evil.csv"),  # absolute: would land there
        "../escape.csv",
        "sub/../../up.csv",
        "..\\windows.csv",
        "bell\x07.csv",
        "nul\x00.csv",
        "",
    ]
    root = tmp_path / "remote"
    (root / "outbox").mkdir(parents=True)
    write_csv(root / "outbox" / "good.csv", [HEADER, ["A-1", "WH-A", 1, ""]])
    for name in hostile:  # each served, so that a client following the name would get bytes
        with contextlib.suppress(OSError, ValueError):
            target = root / "outbox" / name.lstrip("/") if name.startswith("/") else root / "outbox" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            write_csv(target, [HEADER, ["EVIL-1", "WH-A", 666, ""]])
    (root / str(outside).lstrip("/")).mkdir(parents=True)
    write_csv(root / str(outside / "evil.csv").lstrip("/"), [HEADER, ["EVIL-1", "WH-A", 666, ""]])
    failed = drop / "failed"
    failed.mkdir()

    with serving(root, hostile_listing([n.encode() for n in hostile])) as running, capture_logs() as logs:
        got = download_new(running.settings(tmp_path, after_download="keep"), drop, report_dir=failed)
        again = download_new(running.settings(tmp_path, after_download="keep"), drop, report_dir=failed)

    assert got == again == [drop / "good.csv"]
    assert sorted(p.name for p in drop.iterdir()) == ["failed", "good.csv"]
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "escape.csv").exists()
    assert not (tmp_path / "up.csv").exists()
    reported = sorted(row[2] for f in failed.iterdir() for row in report(f))
    assert reported == sorted(printable(name) for name in hostile)
    assert len(list(failed.iterdir())) == len(hostile)  # once each, not again on the second run
    warned = [e for e in logs if e["log_level"] == "warning" and e["event"] == "entry skipped"]
    assert len(warned) == len(hostile)


@pytest.mark.parametrize(
    "name", ["", ".", "..", "/etc/x.csv", "a/b.csv", "..\\x.csv", "a\x00.csv", "a\x1b[31m.csv", "a\r.csv"]
)
def test_only_plain_file_names_are_accepted(name: str) -> None:
    assert plain_name_problem(name) is not None
    assert plain_name_problem("stock 2026-11-30 (华南).csv") is None
