"""What the command line says when a command fails: one or two lines and an exit code.

``erpsync.cli.run_cli`` hands every exception that ends a command to :func:`explain`, which
gives back a :class:`Failure`: the lines for stderr and the exit code (table in
``erpsync.exits``). An expected failure gets a sentence saying what failed, where, and the
command or setting that fixes it:

- a mistake in the config or on the command line (``ConfigError``): its findings — exit 2;
- the database: the server cannot be reached (exit 1); the login is refused, the database does
  not exist, the schema is not created or is older than the code, a SQLite file cannot be opened
  or written (exit 2) — each naming the url (password masked) and where it is set;
- a file or folder erpsync may not read or write (``OSError`` with its path) — exit 2;
- any other ``ErpsyncError`` (a remote system refused or failed) — exit 1.

Anything else is unexpected: one line with the exception's type and first line, ending with
"(run with --debug for details)", and exit 1. What a driver or library says passes
``redact_text``; database urls are shown with ``***`` for the password and without their query.

>>> explain(ConfigError("no connector named 'erp'"), None)
Failure(lines=("no connector named 'erp'",), code=2, expected=True)
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from core.errors import ConfigError, ErpsyncError
from core.excerpt import shorten
from core.redact import redact_text
from erpsync.exits import EXIT_FAILURE, EXIT_USAGE
from store.db import refusal_message

DEBUG_HINT = "(run with --debug for details)"
#: MySQL/MariaDB error codes: the server cannot be reached (client side)
_UNREACHABLE = {2002, 2003, 2005, 2006, 2013}
_LOGIN_REFUSED, _DB_DENIED, _UNKNOWN_DB = 1045, 1044, 1049
_NO_TABLE, _NO_COLUMN = 1146, 1054
#: denied a statement on a table or database (grants are missing)
_COMMAND_DENIED = {1142, 1143, 1227}
_USER = re.compile(r"'[^']*'@'[^']*'")
_PARENTHESISED = re.compile(r"\(\[Errno [-\d]+\] ([^)]*)\)|\((timed out)\)")


@dataclass(frozen=True)
class DatabaseInfo:
    """The database a command worked on, as the messages name it."""

    url: str  #: with the password masked
    setting: str  #: where the url is set, e.g. "database.url in erpsync.yaml" or "ERPSYNC_DATABASE_URL"
    sqlite_path: Path | None = None  #: the file, for a SQLite database
    name: str | None = None  #: the database's name, for a MySQL/MariaDB database


@dataclass(frozen=True)
class Failure:
    """The lines to print on stderr (one or two, or a config file's findings) and the exit code."""

    lines: tuple[str, ...]
    code: int
    #: False for a failure nobody foresaw: its line ends with DEBUG_HINT
    expected: bool = True


def explain(exc: BaseException, database: DatabaseInfo | None) -> Failure:
    """The message and exit code for ``exc``, which ended a command (see the module docstring)."""
    if isinstance(exc, ConfigError):
        return _config(exc)
    if isinstance(exc, DBAPIError):
        return _database(exc, database) or _unexpected_database(exc, database)
    if isinstance(exc, OSError) and exc.filename is not None:
        return _file(exc)
    if isinstance(exc, ErpsyncError):
        return _failure(f"error: {exc}", code=EXIT_FAILURE)
    first = redact_text((str(exc).strip().splitlines() or [""])[0])
    what = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return _failure(f"error: {shorten(what, 300)} {DEBUG_HINT}", code=EXIT_FAILURE, expected=False)


def _failure(*lines: str, code: int, expected: bool = True) -> Failure:
    return Failure(lines, code, expected)


def _config(exc: ConfigError) -> Failure:
    if exc.problems == [exc.message]:
        return _failure(str(exc), code=EXIT_USAGE)  # with its hint
    lines = [*exc.problems, str(exc)] if str(exc) not in exc.problems else exc.problems
    return _failure(*lines, code=EXIT_USAGE)


def _codes(exc: DBAPIError) -> tuple[int | None, str]:
    """The driver's error code (MySQL) and message, redacted."""
    args = exc.orig.args if exc.orig is not None else ()
    if len(args) >= 2 and isinstance(args[0], int):
        return args[0], redact_text(str(args[1]))
    return None, redact_text(str(exc.orig))


def _database(exc: DBAPIError, db: DatabaseInfo | None) -> Failure | None:
    """The message for a database error a person can fix or wait out; None for any other."""
    code, said = _codes(exc)
    url = db.url if db else "the database"
    if code in (_NO_TABLE, _NO_COLUMN) or said.startswith(("no such table", "no such column")):
        state = "is not created" if code == _NO_TABLE or "table" in said else "is older than this erpsync"
        return _failure(
            f"error: the database schema {state} in {url}; run `erpsync db upgrade`", code=EXIT_USAGE
        )
    if code is not None:
        return _server(code, said, db or DatabaseInfo(url, "database.url"))
    if db is not None and db.sqlite_path is not None:
        return _sqlite(said, db)
    return None


def _server(code: int, said: str, db: DatabaseInfo) -> Failure | None:
    """A MySQL/MariaDB server that cannot be reached, refuses the login or lacks the database."""
    url, setting = db.url, db.setting
    if code in _UNREACHABLE:
        match = _PARENTHESISED.search(said)
        reason = next((g for g in match.groups() if g), "") if match else ""
        return _failure(
            f"error: cannot connect to the database at {url}" + (f": {reason.lower()}" if reason else ""),
            f"check that the database server runs and that the host and port in {setting} are right",
            code=EXIT_FAILURE,
        )
    if code == _LOGIN_REFUSED:
        who = _USER.search(said)
        return _failure(
            f"error: the database at {url} refused the login"
            + (f" of {who.group(0)}" if who else "")
            + ": wrong user or password",
            f"check the user and password in {setting}",
            code=EXIT_USAGE,
        )
    if code == _UNKNOWN_DB:
        return _failure(
            f"error: the database at {url} does not exist",
            "run `erpsync db upgrade` to create it (or create it with CHARACTER SET utf8mb4)",
            code=EXIT_USAGE,
        )
    if code == _DB_DENIED or code in _COMMAND_DENIED:
        who = _USER.search(said)
        grant = f"GRANT ALL PRIVILEGES ON `{db.name or 'NAME'}`.* TO {who.group(0) if who else 'USER'};"
        maybe_missing = "the database may not exist yet: `erpsync db upgrade` creates it when the user may; "
        return _failure(
            f"error: the database at {url} refused access: {said}",
            (maybe_missing if code == _DB_DENIED else "") + f"an administrator can run: {grant}",
            code=EXIT_USAGE,
        )
    return None


def _sqlite(said: str, db: DatabaseInfo) -> Failure | None:
    path = db.sqlite_path
    assert path is not None
    folder = path.parent
    if "unable to open database file" in said or "readonly database" in said:
        if not folder.is_dir():
            why = f"the folder {folder} does not exist"
        elif not os.access(folder, os.W_OK | os.X_OK):
            why = f"the folder {folder} is not writable by this user"
        elif path.exists() and not os.access(path, os.R_OK | os.W_OK):
            why = f"the file {path} is not readable and writable by this user"
        else:
            why = said
        return _failure(
            f"error: cannot open the SQLite database {path}: {why}",
            f"give this user write access there, or point {db.setting} at a writable place",
            code=EXIT_USAGE,
        )
    if "file is not a database" in said:
        return _failure(
            f"error: {path} is not a SQLite database; point {db.setting} at another file", code=EXIT_USAGE
        )
    if "database is locked" in said:
        return _failure(
            f"error: the SQLite database {path} is locked by another process; try again shortly",
            code=EXIT_FAILURE,
        )
    return None


def _unexpected_database(exc: DBAPIError, db: DatabaseInfo | None) -> Failure:
    where = f" ({db.url})" if db else ""
    said = shorten(redact_text(refusal_message(exc)), 300)
    line = f"error: the database failed{where}: {said} {DEBUG_HINT}"
    return _failure(line, code=EXIT_FAILURE, expected=False)


def _file(exc: OSError) -> Failure:
    path = exc.filename
    if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
        return _failure(
            f"error: permission denied: {path}",
            "give the user running erpsync access to it, or change the path in the config",
            code=EXIT_USAGE,
        )
    reason = (exc.strerror or type(exc).__name__).lower()
    usage = isinstance(exc, FileNotFoundError | FileExistsError | NotADirectoryError | IsADirectoryError)
    return _failure(f"error: {reason}: {path}", code=EXIT_USAGE if usage else EXIT_FAILURE)
