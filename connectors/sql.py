"""The SQL connector: read a legacy ERP (K/3 WISE, U8, an in-house system) from its database.

Each stream is one read-only query with named bind parameters. An incremental stream names the
column its rows advance on (``cursor_column``) and the parameter that receives the saved cursor
(``cursor_param``, default ``cursor``): the query filters ``>=`` on it (the start is inclusive;
the engine de-duplicates rows repeated at the boundary by primary key) and must ``ORDER BY`` it,
so that every page's cursor is safe to save. A ``snapshot`` stream lists everything each time.
``kind`` says what the rows are (``stock``, ``stock_moves``, ``products``, ``orders``, ...:
``sync.kinds``); left out, it is the stream's name.

.. code-block:: yaml

    kind: sql
    url: "mysql+pymysql://erp_reader:${ERP_DB_PASSWORD}@10.0.0.5:3306/erp"
    timezone: Asia/Shanghai          # the ERP's clock, for date-times stored without a zone
    streams:
      stock:
        query: >
          SELECT item_code, wh_code, qty, modified_at FROM inventory
          WHERE modified_at >= :cursor AND wh_code <> :skip
          ORDER BY modified_at, item_code, wh_code
        primary_key: [item_code, wh_code]
        cursor_column: modified_at
        initial_cursor: "1970-01-01"
        params: {skip: SCRAP}

The query decides the columns, so there are no default field maps; for the stream above::

    sku: item_code
    location: wh_code
    on_hand: {path: qty, convert: [decimal]}   # 12.500 kg: a SKU binding's uom_factor makes it whole
    as_of: {path: modified_at, convert: [datetime]}

Safety: values reach the database as bound parameters only. The query is checked when the config
loads (one ``SELECT`` or ``WITH`` statement, no ``;``, no writing or locking keyword), but the
real protection is the transaction every read runs in: ``START TRANSACTION READ ONLY`` on
MySQL/MariaDB, ``SET TRANSACTION READ ONLY`` on PostgreSQL, ``PRAGMA query_only`` on SQLite.
MySQL and MariaDB commit implicitly before a schema change, so there only the check and the
login's grants stop a ``CREATE`` or ``DROP``: give the connector a login with ``SELECT`` grants.
Other databases (SQL Server has no read-only transaction) need ``read_only: account``: a login
that may only read (``db_datareader``).

Values: rows are streamed (server-side cursors where the driver has them), ``page_size`` at a
time. Decimals become text (``"12.500"``), dates ISO 8601, date-times ISO 8601 in UTC (a value
without a zone is taken to be in ``timezone``). The cursor keeps the database's own clock: it is
the highest ``cursor_column`` value seen, as ISO text, and goes back to the query unchanged. SQLite
keeps date-times as text: there, compare ``datetime(modified_at) >= datetime(:cursor)`` if the
stream has a look-back ``lag`` (the engine writes the moved-back cursor with a ``T``).

Errors: a refused login is ``AuthError``; a refused connection, a timeout, a lock wait or a
deadlock ``RetriableError``; a syntax error, an unknown table or column, a write refused by the
read-only transaction ``PermanentError`` naming the stream. Messages carry the database's own
text with the URL's password masked (:mod:`core.redact`), never the query's parameters.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from connectors.base import Connector, ConnectorSettings, Page, Stream
from connectors.cursors import MaxCursor
from core.errors import AuthError, ConfigError, ConnectorError, PermanentError, RetriableError
from core.excerpt import shorten
from core.redact import redact_text, register_secret

# comments and quoted text (literals, quoted identifiers), which the query check looks past
_QUOTED = re.compile(
    r"""--[^\n]*|/\*.*?\*/|'(?:[^'\\]|\\.|'')*'|"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]\n]*\]""", re.S
)
# the words of statements that write, change the schema or lock; ``replace(`` and ``insert(``
# are string functions, and ``t.update`` a column, so a call or a qualified name is allowed
_WRITES = re.compile(
    r"(?<![.\w])(insert|update|delete|merge|replace|upsert|drop|alter|create|truncate|rename|grant"
    r"|revoke|attach|detach|pragma|vacuum|call|exec|execute|handler|load|lock|copy|into)\b(?!\s*\()",
    re.I,
)
_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")  # how SQLAlchemy's text() finds bind parameters
_READ_ONLY_SQL = {
    "mysql": "START TRANSACTION READ ONLY",
    "mariadb": "START TRANSACTION READ ONLY",
    "postgresql": "SET TRANSACTION READ ONLY",  # psycopg has already sent BEGIN
}


def checked_query(query: str) -> str:
    """The query with comments and quoted text blanked; ``ValueError`` unless it only reads."""
    if "/*!" in query:
        raise ValueError("MySQL executable comments (/*! … */) are not allowed in a query")
    bare = _QUOTED.sub(lambda m: "''" if m.group(0)[0] in "'\"`[" else " ", query).strip()
    bare = bare.removesuffix(";").rstrip()
    if ";" in bare:
        raise ValueError("the query must be one statement: found ';' between statements")
    first = re.match(r"[\s(]*(\w+)", bare)
    if first is None or first.group(1).lower() not in ("select", "with"):
        got = first.group(1).upper() if first else "nothing"
        raise ValueError(f"the query must start with SELECT or WITH, not {got}")
    write = _WRITES.search(bare)
    if write is not None:
        raise ValueError(
            f"the query must only read: {write.group(1).upper()} is not allowed "
            "(no writes, schema changes, SELECT … INTO or locking reads)"
        )
    return bare


class SqlStream(ConnectorSettings):
    kind: str | None = Field(default=None, min_length=1)
    query: str = Field(min_length=1)
    primary_key: list[str] = Field(min_length=1)
    cursor_column: str | None = None
    cursor_param: str = Field(default="cursor", pattern=r"^\w+$")
    initial_cursor: str | None = None
    snapshot: bool = False
    page_size: int = Field(default=1000, ge=1, le=100_000)
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _only_reads(self) -> SqlStream:
        bare = checked_query(self.query)
        binds = set(_BIND.findall(bare))
        if self.cursor_column is not None:
            if self.cursor_param not in binds:
                raise ValueError(
                    f"cursor_column is set, so the query must filter on :{self.cursor_param} "
                    f"(e.g. WHERE {self.cursor_column} >= :{self.cursor_param})"
                )
            if self.initial_cursor is None:
                raise ValueError("set initial_cursor (e.g. '1970-01-01'): the cursor of the very first read")
            if not re.search(r"\border\s+by\b", bare, re.I):
                raise ValueError(f"an incremental query must ORDER BY its cursor_column {self.cursor_column}")
        unbound = sorted(binds - set(self.params) - ({self.cursor_param} if self.cursor_column else set()))
        if unbound:
            raise ValueError(f"the query uses :{', :'.join(unbound)} but params gives no value for it")
        return self


class SqlSettings(ConnectorSettings):
    url: SecretStr
    timezone: str = "Asia/Shanghai"
    connect_timeout_s: int = Field(default=10, ge=1, le=300)
    #: "transaction": every read runs in a read-only transaction; "account": the login can only read
    read_only: Literal["transaction", "account"] = "transaction"
    streams: dict[str, SqlStream] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)"
            ) from None
        return value


def json_value(value: Any, zone: ZoneInfo) -> Any:
    """A database value as JSON-friendly data: text for decimals and times, UTC ISO for date-times."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=zone)).astimezone(UTC).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def cursor_text(value: Any) -> str | None:
    """A cursor column's value as text the database compares correctly (its own clock, no zone change)."""
    if value is None:
        return None
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


_AUTH_CODES = {1044, 1045, 1698, 1862}  # MySQL/MariaDB: access denied, password expired
_RETRY_CODES = {1040, 1205, 1213, 1317, 2002, 2003, 2005, 2006, 2013, 2055}  # busy, lock, network
_AUTH_WORDS = ("access denied", "authentication failed", "login failed", "password")
_RETRY_WORDS = (
    "timed out",
    "timeout",
    "connection refused",
    "could not connect",
    "can't connect",
    "gone away",
    "lost connection",
    "database is locked",
    "too many connections",
)


def _error_kind(exc: DBAPIError) -> type[ConnectorError]:
    orig = exc.orig
    code = orig.args[0] if orig is not None and orig.args and isinstance(orig.args[0], int) else None
    state = str(getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None) or "")
    name = str(getattr(orig, "sqlite_errorname", ""))
    message = str(orig).lower()
    if code in _AUTH_CODES or state.startswith("28") or name == "SQLITE_AUTH":
        return AuthError
    if (
        code in _RETRY_CODES
        or state[:2] in ("08", "40", "53", "57")
        or name in ("SQLITE_BUSY", "SQLITE_LOCKED")
    ):
        return RetriableError
    if code is not None or state or name:
        return PermanentError
    if any(word in message for word in _AUTH_WORDS):
        return AuthError
    if exc.connection_invalidated or any(word in message for word in _RETRY_WORDS):
        return RetriableError
    return PermanentError


def db_error(exc: DBAPIError, connector: str, stream: str | None) -> ConnectorError:
    """The connector error a driver error stands for, with the database's message (secrets masked)."""
    kind = _error_kind(exc)
    lines = str(exc.orig).strip().splitlines() or [type(exc.orig).__name__]
    said = shorten(redact_text(lines[0]), 500)
    if kind is AuthError:
        return AuthError(f"the database refused the login: {said}", connector=connector, stream=stream)
    if kind is RetriableError:
        return RetriableError(
            f"the database is unreachable or busy: {said}", connector=connector, stream=stream
        )
    hint = "fix the stream's query in the config" if stream else "check the connector's url and database"
    if "read only" in said.lower() or "readonly" in said.lower():
        hint = "this connector only reads: remove the write from the stream's query"
    return PermanentError(
        f"the database refused the query: {said}", connector=connector, stream=stream, hint=hint
    )


def _connect_args(url: URL, timeout: int) -> dict[str, Any]:
    backend = url.get_backend_name()
    if backend == "sqlite":
        return {"check_same_thread": False, "timeout": timeout}  # fetch runs in the prefetch thread
    if backend in ("mysql", "mariadb", "postgresql"):
        return {"connect_timeout": timeout}
    return {}


class SqlConnector(Connector):
    """Reads the queries a :class:`SqlSettings` declares, in read-only transactions."""

    kind = "sql"
    Settings = SqlSettings

    def __init__(self, name: str, settings: ConnectorSettings) -> None:
        settings = self.config = SqlSettings.model_validate(settings)
        super().__init__(name, settings)
        self.zone = ZoneInfo(settings.timezone)
        self.engine = self._engine(settings)

    def _engine(self, settings: SqlSettings) -> Engine:
        try:
            url = make_url(settings.url.get_secret_value())
        except ArgumentError:
            raise ConfigError("the sql connector's url is not a database URL", connector=self.name) from None
        if url.password:
            register_secret(str(url.password))
        backend = url.get_backend_name()
        if settings.read_only == "transaction" and backend not in (*_READ_ONLY_SQL, "sqlite"):
            raise ConfigError(
                f"{backend} has no read-only transaction this connector can open",
                connector=self.name,
                hint="give the connector a login that may only read and set `read_only: account`",
            )
        if backend in ("mysql", "mariadb") and "charset" not in url.query:
            url = url.update_query_dict({"charset": "utf8mb4"})
        args = _connect_args(url, settings.connect_timeout_s)
        try:
            engine = create_engine(url, pool_pre_ping=True, pool_recycle=1800, connect_args=args)
        except (NoSuchModuleError, ImportError) as exc:
            raise ConfigError(
                f"no database driver for {url.drivername}: {exc}",
                connector=self.name,
                hint="install the driver the url names (e.g. pymysql, psycopg2)",
            ) from None
        if backend == "sqlite" and settings.read_only == "transaction":
            event.listen(engine, "connect", _sqlite_query_only)
        return engine

    @property
    def cursor_timezone(self) -> str:
        return self.config.timezone  # date-times without a zone are the database's own clock

    @property
    def streams(self) -> Mapping[str, Stream]:
        return {
            name: Stream(
                name, tuple(spec.primary_key), spec.cursor_column, spec.snapshot, kind=spec.kind or name
            )
            for name, spec in self.config.streams.items()
        }

    @contextlib.contextmanager
    def read_only_connection(self) -> Iterator[Connection]:
        """A connection inside a read-only transaction (rolled back at the end): what reads run in."""
        with self.engine.connect() as conn:
            statement = _READ_ONLY_SQL.get(conn.dialect.name)
            if statement is not None and self.config.read_only == "transaction":
                conn.exec_driver_sql(statement)
            yield conn  # closing the connection rolls the transaction back

    def fetch(self, stream: str, cursor: str | None) -> Iterator[Page]:
        spec = self.config.streams[self.stream(stream).name]
        params = dict(spec.params)
        if spec.cursor_column is not None:
            params[spec.cursor_param] = cursor if cursor is not None else spec.initial_cursor
        seen = MaxCursor(cursor)
        with self._db_errors(stream), self.read_only_connection() as conn:
            result = conn.execution_options(stream_results=True, max_row_buffer=spec.page_size).execute(
                text(spec.query), params
            )
            # closing a result read only in part costs MySQL a drain of the rest; others just stop
            with contextlib.closing(result):
                columns = list(result.keys())
                self._check_columns(spec, columns, stream)
                held: Sequence[Any] | None = None
                for rows in result.partitions(spec.page_size):
                    if held is not None:
                        yield self._page(spec, columns, held, seen, last=False)
                    held = rows
            yield self._page(spec, columns, held or [], seen, last=True)

    def _page(
        self, spec: SqlStream, columns: list[str], rows: Sequence[Any], seen: MaxCursor, *, last: bool
    ) -> Page:
        records = [
            {col: json_value(value, self.zone) for col, value in zip(columns, row, strict=True)}
            for row in rows
        ]
        if spec.cursor_column is None:
            return Page(records, cursor=None, last=last)
        at = columns.index(spec.cursor_column)
        seen.update(cursor_text(row[at]) for row in rows)
        return Page(records, cursor=seen.value, last=last)

    def _check_columns(self, spec: SqlStream, columns: list[str], stream: str) -> None:
        wanted = [*spec.primary_key, *([spec.cursor_column] if spec.cursor_column else [])]
        missing = [name for name in wanted if name not in columns]
        if missing:
            raise PermanentError(
                f"the query's result has no column {', '.join(map(repr, missing))} "
                f"(its columns: {', '.join(columns)})",
                connector=self.name,
                stream=stream,
                hint="fix primary_key / cursor_column, or name the column with AS in the query",
            )

    def check(self) -> None:
        with self._db_errors(None), self.read_only_connection() as conn:
            conn.execute(text("SELECT 1")).scalar()

    def close(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def _db_errors(self, stream: str | None) -> Iterator[None]:
        try:
            yield
        except DBAPIError as exc:
            raise db_error(exc, self.name, stream) from None


def _sqlite_query_only(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()
