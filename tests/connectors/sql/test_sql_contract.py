"""SqlConnector under the shared connector contract (tests/connectors/contract.py), on each backend."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from connectors.sql import SqlConnector, SqlSettings
from core.errors import AuthError, PermanentError, RetriableError
from tests.connectors.contract import check_error_mapping, check_stream
from tests.connectors.sql.conftest import Source

INCREMENTAL = {
    "query": "SELECT item_code, wh_code, qty, modified_at FROM inventory "
    "WHERE modified_at >= :cursor ORDER BY modified_at, item_code, wh_code",
    "primary_key": ["item_code", "wh_code"],
    "cursor_column": "modified_at",
    "initial_cursor": "1970-01-01",
    "page_size": 2,
}
SNAPSHOT = {
    "query": "SELECT item_code, wh_code, qty FROM inventory ORDER BY item_code, wh_code",
    "primary_key": ["item_code", "wh_code"],
    "snapshot": True,
    "page_size": 3,
}


def build(url: str, **settings: Any) -> SqlConnector:
    raw = {"url": url, "streams": {"stock": INCREMENTAL, "levels": SNAPSHOT}} | settings
    return SqlConnector("erp", SqlSettings.model_validate(raw))


def test_streams_keep_the_contract(source: Source) -> None:
    connector = build(source.url)

    def serve(run: int, cursor: str | None) -> None:
        if run == 1:
            source.put(("A-2", "WH1", "21.000", "2024-05-02 08:00:00"))

    try:
        first, second = check_stream(connector, "stock", serve)
        assert [len(p.records) for p in first] == [2, 2, 1]
        assert [r["item_code"] for p in second for r in p.records] == ["A-5", "A-2"]
        (levels,) = check_stream(connector, "levels", lambda run, cursor: None, runs=1)
        assert sum(len(p.records) for p in levels) == 5
    finally:
        connector.close()


class SqliteTrouble:
    """Makes the next read fail: 503 holds an exclusive lock, 404 hides the table."""

    def __init__(self, source: Source) -> None:
        self.path = make_url(source.url).database or ""
        self.locker: sqlite3.Connection | None = None

    def __call__(self, status: int) -> None:
        self.release()
        if status == 503:
            self.locker = sqlite3.connect(self.path, isolation_level=None)
            self.locker.execute("BEGIN EXCLUSIVE")
        else:
            with sqlite3.connect(self.path) as conn:
                conn.execute("ALTER TABLE inventory RENAME TO inventory_gone")

    def release(self) -> None:
        if self.locker is not None:
            self.locker.execute("ROLLBACK")
            self.locker.close()
            self.locker = None


@pytest.fixture
def reader(source: Source) -> Iterator[str]:
    """On MariaDB, a login that may only read the scratch database (dropped at the end)."""
    if source.backend != "mysql":
        yield source.url
        return
    url = make_url(source.url)
    name, password = f"erpsync_reader_{uuid.uuid4().hex[:6]}", "Reader-pw-1"
    with source.engine.begin() as conn:
        conn.execute(text(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'"))
        conn.execute(text(f"GRANT SELECT ON `{url.database}`.* TO '{name}'@'%'"))
    try:
        yield url.set(username=name, password=password).render_as_string(hide_password=False)
    finally:
        with source.engine.begin() as conn:
            conn.execute(text(f"DROP USER IF EXISTS '{name}'@'%'"))


def test_database_errors_map_onto_the_error_tree(source: Source, reader: str) -> None:
    connector = build(reader, connect_timeout_s=1)
    try:
        if source.backend == "sqlite":
            trouble = SqliteTrouble(source)
            try:
                check_error_mapping(
                    connector, "stock", trouble, cases=((503, RetriableError), (404, PermanentError))
                )
            finally:
                trouble.release()
            return

        def serve_status(status: int) -> None:
            admin = create_engine(source.url)
            user = make_url(reader).username
            with admin.begin() as conn:
                if status == 401:  # the ERP's administrator changed the reader's password
                    conn.execute(text(f"ALTER USER '{user}'@'%' IDENTIFIED BY 'Changed-pw-2'"))
                else:  # the password is right again, but the table was renamed by an upgrade
                    conn.execute(text(f"ALTER USER '{user}'@'%' IDENTIFIED BY 'Reader-pw-1'"))
                    conn.execute(text("RENAME TABLE inventory TO inventory_gone"))
            admin.dispose()
            connector.engine.dispose()  # sessions already open keep their login

        check_error_mapping(connector, "stock", serve_status, cases=((401, AuthError), (404, PermanentError)))
    finally:
        connector.close()
