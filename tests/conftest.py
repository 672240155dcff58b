"""Shared fixtures: a migrated store on SQLite and, when ERPSYNC_TEST_MYSQL_URL is set, on MySQL.

Every store test takes the ``store_engine`` fixture and so runs once per backend. The MySQL
variant is skipped (and pytest says why) unless ``ERPSYNC_TEST_MYSQL_URL`` points at a server;
``.ci/run`` sets it. Each session works in its own scratch database on that server, dropped at
the end, so parallel or repeated runs never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import structlog
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from store.db import make_engine
from store.migrate import upgrade
from store.models import Base

MYSQL_URL_ENV = "ERPSYNC_TEST_MYSQL_URL"
BACKENDS = ["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)]


def mysql_server_url() -> str | None:
    return os.environ.get(MYSQL_URL_ENV) or None


def scratch_mysql_url(tag: str) -> Iterator[str]:
    """URL of a database created for this session on the test server (dropped afterwards)."""
    url = mysql_server_url()
    if url is None:
        pytest.skip(f"MySQL tests need {MYSQL_URL_ENV}=mysql+pymysql://user@host:port/db")
    base = make_url(url)
    name = f"{base.database or 'erpsync_test'}_{tag}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base)
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """Each test starts with structlog's defaults (CLI tests configure logging for the process)."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def empty_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of an empty database on the backend named by ``request.param``."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'empty.db'}"
    else:
        yield from scratch_mysql_url("empty")


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def _migrated_mysql() -> Iterator[Engine]:
    for url in scratch_mysql_url("store"):
        engine = make_engine(url)
        upgrade(engine)
        yield engine
        engine.dispose()


def _wipe(engine: Engine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "mysql":
            conn.execute(text("SET FOREIGN_KEY_CHECKS=0"))
            for name in tables:
                conn.execute(text(f"TRUNCATE TABLE `{name}`"))
            conn.execute(text("SET FOREIGN_KEY_CHECKS=1"))
        else:
            for name in tables:
                conn.execute(text(f'DELETE FROM "{name}"'))


@pytest.fixture(params=BACKENDS)
def store_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A migrated, empty store on each backend in turn."""
    engine: Engine = request.getfixturevalue(f"_migrated_{request.param}")
    _wipe(engine)
    return engine
