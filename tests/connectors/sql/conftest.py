"""A real source database for the SQL connector: a SQLite file and, when configured, MariaDB.

``source`` creates an ``inventory`` table like a legacy ERP's (decimal quantities, naive
date-times in the ERP's local clock) on each backend in turn. The MariaDB variant works in a
scratch database of its own on the ``ERPSYNC_TEST_MYSQL_URL`` server, dropped at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from tests.conftest import scratch_mysql_url

SOURCE_BACKENDS = ["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)]

#: the rows every test starts from: (item_code, wh_code, qty, modified_at in the ERP's clock)
ROWS = [
    ("A-1", "WH1", "10.000", "2024-05-01 10:00:00"),
    ("A-2", "WH1", "20.000", "2024-05-01 10:00:00"),
    ("A-3", "WH2", "30.000", "2024-05-01 11:00:00"),
    ("A-4", "WH2", "0.000", "2024-05-01 12:00:00"),
    ("A-5", "WH1", "50.000", "2024-05-01 13:00:00"),
]

DDL = """
CREATE TABLE inventory (
    item_code VARCHAR(32) NOT NULL,
    wh_code VARCHAR(64) NOT NULL,
    qty DECIMAL(12, 3) NOT NULL,
    modified_at DATETIME NOT NULL,
    PRIMARY KEY (item_code, wh_code)
)
"""


@dataclass
class Source:
    """The source database: its URL (what the connector gets) and a writable engine for the test."""

    backend: str
    url: str
    engine: Engine

    def put(self, *rows: tuple[str, str, str, str]) -> None:
        """Insert or replace rows, as the ERP would when stock changes."""
        with self.engine.begin() as conn:
            for item, wh, qty, at in rows:
                key = {"item": item, "wh": wh}
                conn.execute(text("DELETE FROM inventory WHERE item_code = :item AND wh_code = :wh"), key)
                conn.execute(
                    text("INSERT INTO inventory VALUES (:item, :wh, :qty, :at)"), key | {"qty": qty, "at": at}
                )

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM inventory")).scalar_one())


@pytest.fixture(scope="session")
def _mysql_source_url() -> Iterator[str]:
    yield from scratch_mysql_url("erp")


@pytest.fixture(params=SOURCE_BACKENDS)
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Source]:
    """A fresh ``inventory`` table holding ``ROWS``, on each backend in turn."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'erp.db'}"
    else:
        url = request.getfixturevalue("_mysql_source_url")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS inventory"))
        conn.execute(text(DDL))
    src = Source(request.param, url, engine)
    src.put(*ROWS)
    yield src
    engine.dispose()
