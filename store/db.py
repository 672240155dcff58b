"""Engines and transactions for the central store.

``make_engine(url)`` gives an engine tuned for the backend:

- MySQL/MariaDB (``mysql+pymysql://``): utf8mb4, ``READ COMMITTED`` (reservations use explicit
  row locks, so the gap locks of REPEATABLE READ only add deadlocks), pre-ping, UTC session time.
- SQLite (the embedded default): WAL journal, foreign keys on, a busy timeout, and transactions
  that start with ``BEGIN IMMEDIATE`` so that writers serialise instead of failing half-way —
  the SQLite equivalent of row locks.

>>> engine = make_engine("sqlite://")
>>> with engine.begin() as conn: ...
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import tenacity
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

DEFAULT_URL = "sqlite:///var/erpsync.db"
T = TypeVar("T")


def is_mysql(engine_or_url: Engine | URL | str) -> bool:
    """True for a MySQL or MariaDB url or engine."""
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() in ("mysql", "mariadb")


def make_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """An engine for ``url`` with the per-backend settings described in the module docstring."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, echo=echo)
    if parsed.get_backend_name() in ("mysql", "mariadb"):
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        engine = create_engine(
            parsed,
            echo=echo,
            pool_pre_ping=True,
            pool_recycle=3600,
            isolation_level="READ COMMITTED",
        )

        @event.listens_for(engine, "connect")
        def _mysql_session(dbapi_conn: Any, _record: Any) -> None:
            with dbapi_conn.cursor() as cur:
                cur.execute("SET time_zone = '+00:00'")

        return engine
    return create_engine(parsed, echo=echo, pool_pre_ping=True)


def _sqlite_engine(url: URL, *, echo: bool) -> Engine:
    database = url.database or ""
    memory = database in ("", ":memory:")
    if not memory:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    if memory:
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, echo=echo, **kwargs)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, emit BEGIN, so BEGIN IMMEDIATE below is honoured.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


#: MySQL/MariaDB: deadlock found (1213), lock wait timeout (1205); SQLite: "database is locked"
_LOCK_ERRORS = (1213, 1205)


def is_lock_conflict(exc: BaseException) -> bool:
    """True for an error that only means another transaction held the same rows: try again."""
    from sqlalchemy.exc import OperationalError

    if not isinstance(exc, OperationalError):
        return False
    orig = exc.orig
    code = orig.args[0] if orig is not None and orig.args else None
    return code in _LOCK_ERRORS or "database is locked" in str(orig)


#: MySQL/MariaDB errors that refuse a value rather than the statement: truncated or incorrect
#: value (1292), division by zero (1365), a trigger's SIGNAL (1644), a value out of range in an
#: expression (1690), a CHECK constraint (3819 MySQL, 4025 MariaDB)
_REFUSAL_CODES = (1292, 1365, 1644, 1690, 3819, 4025)


def is_data_refusal(exc: BaseException) -> bool:
    """True for an error that means the database refused the values written, not the statement.

    Data and integrity errors, MySQL's value refusals above, and (SQLite's driver) an integer
    beyond 64 bits or text that is not valid UTF-8. Lock conflicts and lost connections are not:
    those are retried, never blamed on a record.
    """
    from sqlalchemy.exc import DataError, IntegrityError, InternalError, OperationalError

    if isinstance(exc, OverflowError | UnicodeEncodeError | DataError | IntegrityError):
        return True
    if isinstance(exc, OperationalError | InternalError) and not is_lock_conflict(exc):
        orig = exc.orig
        return bool(orig is not None and orig.args and orig.args[0] in _REFUSAL_CODES)
    return False


def refusal_message(exc: BaseException) -> str:
    """The database's own words for a refusal, without the statement or its parameters."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError) and exc.orig is not None:
        args = exc.orig.args
        if len(args) >= 2 and isinstance(args[0], int):  # PyMySQL: (code, message)
            return f"({args[0]}) {args[1]}"
        return str(exc.orig)
    return f"{type(exc).__name__}: {exc}"


def retry_on_lock_conflict(
    fn: Callable[[], T], attempts: int = 4, pause: float = 0.05, sleep: Callable[[float], None] = time.sleep
) -> T:
    """Run ``fn`` (one whole transaction) again when the database chose it as a deadlock victim.

    At most ``attempts`` runs, waiting ``pause`` seconds after the first, twice that after the
    second, and so on; any other error, or the last attempt's, is raised as it is.
    """
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_incrementing(start=pause, increment=pause),
        retry=tenacity.retry_if_exception(is_lock_conflict),
        sleep=sleep,
        reraise=True,
    )
    return retrying(fn)
