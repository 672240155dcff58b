"""Statements whose IN lists grow with a page, sent in slices the database accepts.

Each value of ``column.in_(values)`` is one bound parameter, and databases cap how many one
statement may carry: SQLite refuses more than its ``SQLITE_MAX_VARIABLE_NUMBER`` with "too many SQL
variables" (999 before SQLite 3.32, 32,766 since, other numbers in some builds), MySQL's
prepared statements stop at 65,535 and PyMySQL's inlined ones at ``max_allowed_packet``. So a
page of any size lands: a query keyed by a page's values runs once per slice of at most
:func:`param_budget` values, which is the whole page in the usual case (one query per page).

Multi-row inserts need nothing of this: ``conn.execute(insert(T), rows)`` is an executemany,
which SQLAlchemy batches within the limit itself.

>>> rows = select_in(conn, lambda part: select(Product.sku).where(Product.sku.in_(part)), skus)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import Connection, Row
from sqlalchemy.sql import Executable

T = TypeVar("T")

#: parameters a statement keeps for its other conditions (``system = ?``, ``status = ?``...)
RESERVED_PARAMS = 16
#: MySQL slices stay far below ``max_allowed_packet`` (16 MiB by default) with long keys
MYSQL_SLICE = 10_000


def param_budget(conn: Connection) -> int:
    """How many IN-list values one statement on ``conn`` may carry besides its other parameters."""
    if conn.dialect.name == "sqlite":
        dbapi = conn.connection.dbapi_connection
        if isinstance(dbapi, sqlite3.Connection):
            limit = dbapi.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
            return max(1, limit - RESERVED_PARAMS)
        return 999 - RESERVED_PARAMS  # another driver: the lowest limit SQLite ever had
    return MYSQL_SLICE


def slices(values: Iterable[T], size: int) -> Iterator[list[T]]:
    """``values`` in lists of at most ``size`` (the last may be shorter), in their order."""
    items = iter(values)
    while part := list(islice(items, size)):
        yield part


def in_slices(conn: Connection, values: Iterable[T], per_value: int = 1) -> Iterator[list[T]]:
    """``values`` in slices that fit one statement on ``conn``; ``per_value`` parameters each."""
    return slices(values, max(1, param_budget(conn) // per_value))


def select_in(
    conn: Connection,
    statement: Callable[[list[T]], Executable],
    values: Iterable[T],
    per_value: int = 1,
) -> list[Row[Any]]:
    """The rows of ``statement(part)`` for every slice ``part`` of ``values``, concatenated."""
    rows: list[Row[Any]] = []
    for part in in_slices(conn, values, per_value):
        rows.extend(conn.execute(statement(part)))
    return rows


def execute_in(conn: Connection, statement: Callable[[list[T]], Executable], values: Sequence[T]) -> int:
    """Run ``statement(part)`` (an UPDATE or DELETE) for every slice of ``values``; rows affected."""
    affected = 0
    for part in in_slices(conn, values):
        affected += conn.execute(statement(part)).rowcount
    return affected
