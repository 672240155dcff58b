"""Schema migrations: the only way the central schema is created or changed.

``upgrade(url)`` brings a database to the newest revision; ``current(url)`` tells which revision
it is at; ``pending(url)`` lists what an upgrade would apply. Migrations live in
``store/migrations/versions`` and run the same on MySQL/MariaDB and SQLite.

``ensure_database(engine)`` comes first on MySQL/MariaDB: a database that does not exist yet is
created (``CREATE DATABASE … CHARACTER SET utf8mb4 COLLATE utf8mb4_bin``, connecting to the server
without it) when the user may; when not, ``DatabaseMissing`` gives the exact statements for an
administrator. A SQLite file is created by its first connection.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from core.errors import ConfigError
from store.db import is_mysql, make_engine

MIGRATIONS = Path(__file__).with_name("migrations")
#: MySQL/MariaDB: unknown database; access denied to a database (also what a user without rights
#: on it is told when it does not exist); access denied (a login, a command, a privilege)
_UNKNOWN_DATABASE, _DATABASE_DENIED = 1049, 1044
_DENIED = (1044, 1045, 1142, 1227)


class DatabaseMissing(ConfigError):
    """The database does not exist and this user may not create it; ``statement`` creates it."""

    def __init__(self, message: str, statement: str, grant: str) -> None:
        super().__init__(message, problems=[message, f"ask an administrator to run: {statement}; {grant}"])
        self.statement = statement
        self.grant = grant


def _error_code(exc: DBAPIError) -> int | None:
    args = exc.orig.args if exc.orig is not None else ()
    return args[0] if args and isinstance(args[0], int) else None


def create_statement(name: str) -> str:
    """The ``CREATE DATABASE`` statement for database ``name``, as erpsync needs it."""
    return f"CREATE DATABASE {_quoted(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def ensure_database(engine: Engine) -> bool:
    """Create the MySQL/MariaDB database of ``engine`` if it does not exist; True when created.

    ``DatabaseMissing`` when the user may not create it. Other backends: nothing to do (False).
    """
    name = engine.url.database
    if not is_mysql(engine) or not name:
        return False
    try:
        with engine.connect():
            return False
    except DBAPIError as exc:
        # 1044: the server does not tell a user without rights whether the database exists
        if _error_code(exc) not in (_UNKNOWN_DATABASE, _DATABASE_DENIED):
            raise
        unknown = _error_code(exc) == _UNKNOWN_DATABASE
    server = make_engine(engine.url._replace(database=None))  # URL.set(database=None) changes nothing
    statement = create_statement(name)
    try:
        with server.connect() as conn:
            account = str(conn.exec_driver_sql("SELECT CURRENT_USER()").scalar() or "")
            try:
                conn.exec_driver_sql(statement)  # DDL: committed by the server itself
            except DBAPIError as exc:
                if _error_code(exc) not in _DENIED:
                    raise
                raise _missing(engine, name, account, unknown=unknown) from None
    finally:
        server.dispose()
    return True


def _missing(engine: Engine, name: str, account: str, *, unknown: bool) -> DatabaseMissing:
    user, _, host = account.rpartition("@")
    who = f"'{user}'@'{host}'" if user else f"'{engine.url.username or ''}'@'%'"
    url = engine.url
    where = url._replace(database=None, query=type(url.query)()).render_as_string(hide_password=True)
    state = "does not exist" if unknown else "does not exist or is not open to this user"
    return DatabaseMissing(
        f"the database {_quoted(name)} {state} on {where}, and {who} may not create it",
        create_statement(name),
        f"GRANT ALL PRIVILEGES ON {_quoted(name)}.* TO {who};",
    )


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic config pointing at our migrations (and at ``engine`` when given)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration up to ``revision`` in one connection."""
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head() -> str:
    """The newest revision in the code."""
    rev = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert rev is not None
    return rev


def pending(engine: Engine) -> list[str]:
    """Revisions an upgrade would apply, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    at = current(engine)
    revs = [r.revision for r in script.iterate_revisions("head", at)]
    return list(reversed(revs))
