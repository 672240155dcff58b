"""Every expected failure of the installed ``erpsync`` command: one or two lines, no traceback.

Each test runs the console script in a subprocess, as a person would, and checks the exit code,
that stderr holds at most two lines naming what failed, where and the fix, that no secret is in
them, and that ``--debug`` (or ``ERPSYNC_DEBUG=1``) shows the traceback.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from store.db import make_engine
from tests.conftest import BACKENDS, mysql_server_url
from tests.erpsync.processes import erpsync, failure_lines, open_tmp, unprivileged

SECRET = "pw-" + uuid.uuid4().hex[:12]


@pytest.fixture
def work() -> Iterator[Path]:
    yield from open_tmp()


def write_config(folder: Path, body: str, name: str = "erpsync.yaml") -> Path:
    path = folder / name
    path.write_text(body, encoding="utf-8")
    path.chmod(0o644)
    return path


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("empty_db_url", BACKENDS, indirect=True)
def test_schema_not_created_says_run_db_upgrade(work: Path, empty_db_url: str) -> None:
    write_config(work, f"database: {{url: '{empty_db_url}'}}\n")
    proc = erpsync(["status"], cwd=work)
    assert proc.returncode == 2
    (line,) = failure_lines(proc)
    shown = make_url(empty_db_url).render_as_string(hide_password=True)
    assert line == f"error: the database schema is not created in {shown}; run `erpsync db upgrade`"


@pytest.mark.parametrize("how", ["--debug", "ERPSYNC_DEBUG"])
def test_debug_shows_the_traceback(work: Path, how: str) -> None:
    write_config(work, f"database: {{url: 'sqlite:///{work}/e.db'}}\n")
    args, env = (["--debug", "status"], {}) if how == "--debug" else (["status"], {"ERPSYNC_DEBUG": "1"})
    proc = erpsync(args, cwd=work, env=env)
    assert proc.returncode == 2
    assert "Traceback (most recent call last)" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: the database schema is not created")


def test_json_logs_make_the_failure_one_json_event(work: Path) -> None:
    write_config(work, f"database: {{url: 'sqlite:///{work}/e.db'}}\n")
    proc = erpsync(["--log-format", "json", "status"], cwd=work)
    assert proc.returncode == 2
    (line,) = failure_lines(proc)
    event = json.loads(line)
    assert event["level"] == "error"
    assert event["exit_code"] == 2
    assert "erpsync db upgrade" in event["event"]


def test_database_unreachable(work: Path) -> None:
    port = closed_port()
    write_config(work, f"database: {{url: 'mysql+pymysql://erpsync:{SECRET}@127.0.0.1:{port}/erpsync'}}\n")
    proc = erpsync(["status"], cwd=work)
    assert proc.returncode == 1
    first, fix = failure_lines(proc)
    assert f"cannot connect to the database at mysql+pymysql://erpsync:***@127.0.0.1:{port}/erpsync" in first
    assert "connection refused" in first
    assert "database.url in erpsync.yaml" in fix
    assert SECRET not in proc.stderr


def test_database_url_from_the_environment_is_named_as_such(work: Path) -> None:
    url = f"mysql+pymysql://erpsync:{SECRET}@127.0.0.1:{closed_port()}/erpsync"
    proc = erpsync(["db", "upgrade"], cwd=work, env={"ERPSYNC_DATABASE_URL": url})
    assert proc.returncode == 1
    assert "ERPSYNC_DATABASE_URL" in failure_lines(proc)[1]
    assert SECRET not in proc.stderr


def test_sqlite_in_a_new_folder_is_created_then_wants_its_schema(work: Path) -> None:
    write_config(work, f"database: {{url: 'sqlite:///{work}/var/new/e.db'}}\n")
    proc = erpsync(["status"], cwd=work)
    assert proc.returncode == 2
    assert "schema is not created" in failure_lines(proc)[0]
    assert erpsync(["db", "upgrade"], cwd=work).returncode == 0
    assert erpsync(["status"], cwd=work).returncode == 0


def test_sqlite_below_a_file_names_the_path(work: Path) -> None:
    (work / "var").write_text("a file where a folder should be")
    write_config(work, f"database: {{url: 'sqlite:///{work}/var/e.db'}}\n")
    proc = erpsync(["db", "upgrade"], cwd=work)
    assert proc.returncode == 2
    (line,) = failure_lines(proc)
    assert str(work / "var") in line


def test_sqlite_in_a_read_only_folder(work: Path) -> None:
    runner = unprivileged(work)
    readonly = work / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)
    write_config(work, f"database: {{url: 'sqlite:///{readonly}/e.db'}}\n")
    proc = erpsync(["db", "upgrade"], cwd=work, **runner)
    assert proc.returncode == 2
    first, fix = failure_lines(proc)
    assert f"cannot open the SQLite database {readonly / 'e.db'}" in first
    assert "not writable" in first
    assert "database.url in erpsync.yaml" in fix


def test_a_folder_that_cannot_be_created_is_permission_denied(work: Path) -> None:
    runner = unprivileged(work)
    readonly = work / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)
    write_config(work, f"database: {{url: 'sqlite:///{readonly}/var/e.db'}}\n")
    proc = erpsync(["status"], cwd=work, **runner)
    assert proc.returncode == 2
    first, _ = failure_lines(proc)
    assert first == f"error: permission denied: {readonly / 'var'}"


def test_an_unreadable_config_file(work: Path) -> None:
    runner = unprivileged(work)
    path = write_config(work, "database: {url: 'sqlite:///e.db'}\n")
    path.chmod(0o000)
    proc = erpsync(["-c", str(path), "config", "validate"], cwd=work, **runner)
    assert proc.returncode == 2
    (line,) = failure_lines(proc)
    assert f"cannot read config file {path}" in line
    assert "permission denied" in line.lower()


def test_a_bad_config_file_names_file_line_and_field(work: Path) -> None:
    write_config(work, "database:\n  url: sqlite:///e.db\n  ecko: true\n")
    proc = erpsync(["status"], cwd=work)
    assert proc.returncode == 2
    problem, summary = failure_lines(proc)
    assert problem.startswith("erpsync.yaml:3 database.ecko")
    assert "invalid config file erpsync.yaml: 1 problem" in summary


def test_a_missing_config_file_says_how_to_name_one(work: Path) -> None:
    proc = erpsync(["status"], cwd=work, env={"ERPSYNC_CONFIG": str(work / "nope.yaml")})
    assert proc.returncode == 2
    (line,) = failure_lines(proc)
    assert f"config file not found: {work / 'nope.yaml'}" in line
    assert "--config" in line


def test_a_url_sqlalchemy_cannot_use_is_a_config_error(work: Path) -> None:
    write_config(work, "database: {url: 'postgres://db.example/erpsync'}\n")
    proc = erpsync(["status"], cwd=work)
    assert proc.returncode == 2
    (line,) = failure_lines(proc)
    assert line.startswith("database.url in erpsync.yaml: not a database url erpsync can use")


@pytest.fixture
def refusing_api() -> Iterator[int]:
    """An API on 127.0.0.1 that refuses every request with 401."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"error": "invalid token"}'
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_connector_refusing_the_credentials(work: Path, refusing_api: int) -> None:
    write_config(
        work,
        f"""\
database: {{url: 'sqlite:///{work}/e.db'}}
logging: {{level: warning}}
locations: [{{code: WH, name: Warehouse, kind: warehouse}}]
connectors:
  - name: erp
    kind: rest
    settings:
      base_url: http://127.0.0.1:{refusing_api}/
      auth: {{type: bearer, token: "${{ERP_TOKEN}}"}}
      streams: {{stock: {{path: stock, record_path: items, primary_key: [sku]}}}}
    streams:
      stock: {{mapping: {{sku: sku, location: loc, on_hand: qty}}}}
""",
    )
    assert erpsync(["db", "upgrade"], cwd=work, env={"ERP_TOKEN": SECRET}).returncode == 0
    proc = erpsync(["sync", "erp", "stock"], cwd=work, env={"ERP_TOKEN": SECRET})
    assert proc.returncode == 1
    said = "\n".join(failure_lines(proc))
    assert "401" in said
    assert "check the connector's credentials" in said
    assert SECRET not in proc.stderr + proc.stdout


def test_port_in_use(work: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        write_config(
            work,
            f"database: {{url: 'sqlite:///{work}/e.db'}}\nlogging: {{level: warning}}\n"
            f"api: {{listen: '127.0.0.1:{port}'}}\n",
        )
        assert erpsync(["db", "upgrade"], cwd=work).returncode == 0
        proc = erpsync(["run", "--for", "5"], cwd=work)
    assert proc.returncode == 2
    (line,) = failure_lines(proc)
    assert f"the api cannot listen on 127.0.0.1:{port}: address already in use" in line
    assert "api.listen" in line


@pytest.fixture
def mysql_admin_url() -> str:
    url = mysql_server_url()
    if url is None:
        pytest.skip("needs ERPSYNC_TEST_MYSQL_URL")
    return url


def test_mysql_login_refused(work: Path, mysql_admin_url: str) -> None:
    url = make_url(mysql_admin_url).set(password=SECRET, database="erpsync")
    write_config(work, f"database: {{url: '{url.render_as_string(hide_password=False)}'}}\n")
    proc = erpsync(["status"], cwd=work)
    assert proc.returncode == 2
    first, fix = failure_lines(proc)
    assert "refused the login" in first
    assert "wrong user or password" in first
    assert "check the user and password in database.url in erpsync.yaml" in fix
    assert SECRET not in proc.stderr


@pytest.fixture
def missing_database(mysql_admin_url: str) -> Iterator[str]:
    """A url of a database that does not exist yet on the test server (dropped afterwards)."""
    name = f"erpsync_missing_{uuid.uuid4().hex[:8]}"
    yield make_url(mysql_admin_url).set(database=name).render_as_string(hide_password=False)
    admin = make_engine(mysql_admin_url)
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    admin.dispose()


def test_mysql_database_missing_then_created_by_db_upgrade(work: Path, missing_database: str) -> None:
    write_config(work, f"database: {{url: '{missing_database}'}}\n")
    name = make_url(missing_database).database
    proc = erpsync(["status"], cwd=work)
    assert proc.returncode == 2
    first, fix = failure_lines(proc)
    assert first.endswith(f"/{name} does not exist")
    assert "run `erpsync db upgrade` to create it" in fix

    proc = erpsync(["db", "upgrade"], cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert f"created database `{name}` (utf8mb4, utf8mb4_bin)" in proc.stdout
    engine = make_engine(missing_database)
    with engine.connect() as conn:
        charset, collation = conn.execute(
            text(
                "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
                "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :name"
            ),
            {"name": name},
        ).one()
    engine.dispose()
    assert (charset, collation) == ("utf8mb4", "utf8mb4_bin")
    assert erpsync(["status"], cwd=work).returncode == 0


@pytest.fixture
def limited_user(mysql_admin_url: str) -> Iterator[tuple[str, str]]:
    """A user on the test server that may log in and nothing more: (name, password)."""
    user, password = f"erpsync_ro_{uuid.uuid4().hex[:6]}", SECRET
    admin = make_engine(mysql_admin_url)
    with admin.connect() as conn:
        conn.execute(text(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"))
    yield user, password
    with admin.connect() as conn:
        conn.execute(text(f"DROP USER IF EXISTS '{user}'@'%'"))
    admin.dispose()


def test_mysql_database_the_user_may_not_create(
    work: Path, missing_database: str, limited_user: tuple[str, str]
) -> None:
    user, password = limited_user
    url = make_url(missing_database).set(username=user, password=password)
    name = url.database
    write_config(work, f"database: {{url: '{url.render_as_string(hide_password=False)}'}}\n")
    proc = erpsync(["db", "upgrade"], cwd=work)
    assert proc.returncode == 2
    first, statement = failure_lines(proc)
    assert f"the database `{name}` does not exist or is not open to this user" in first
    assert f"'{user}'@'%' may not create it" in first
    assert statement == (
        f"ask an administrator to run: CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin; "
        f"GRANT ALL PRIVILEGES ON `{name}`.* TO '{user}'@'%';"
    )
    assert password not in proc.stderr


def test_an_unexpected_failure_is_one_line_that_points_at_debug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from erpsync import cli_admin
    from erpsync.cli import run_cli

    path = write_config(tmp_path, f"database: {{url: 'sqlite:///{tmp_path}/e.db'}}\n")
    assert run_cli(["-c", str(path), "db", "upgrade"]) == 0

    def broken(*args: object) -> None:
        raise RuntimeError(f"could not reach mysql://erp:{SECRET}@db/x\nsecond line")

    monkeypatch.setattr(cli_admin, "stream_status", broken)
    capsys.readouterr()
    assert run_cli(["-c", str(path), "status"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "error: RuntimeError: could not reach mysql://erp:***@db/x (run with --debug for details)"
    ]
    assert run_cli(["-c", str(path), "--debug", "status"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "in broken" in err
    assert SECRET not in err
