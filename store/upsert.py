"""Batched insert-or-update for MySQL/MariaDB and SQLite in one statement per batch.

``upsert(conn, table, rows, key=..., update=...)`` sends all ``rows`` as one multi-row
``INSERT … ON DUPLICATE KEY UPDATE`` (MySQL) or ``INSERT … ON CONFLICT DO UPDATE`` (SQLite).
``update`` maps each column to change on conflict to either ``NEW`` (take the inserted value)
or a SQL expression over the existing row without bound parameters (``increment(col)``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, cast

from sqlalchemy import Connection, Table, literal_column
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

NEW: Final = object()  # marker: "the value being inserted"


def increment(column: ColumnElement[int] | InstrumentedAttribute[int]) -> ColumnElement[int]:
    """``column + 1`` with the 1 inline: PyMySQL's batched executemany allows no bound
    parameter after ``VALUES (…)``, so update expressions must not bind values."""
    return column + literal_column("1")


def upsert(
    conn: Connection,
    target: Table | type[DeclarativeBase],
    rows: Sequence[Mapping[str, Any]],
    *,
    key: Sequence[str],
    update: Mapping[str, object],
) -> None:
    """Insert ``rows`` into ``target`` (a table or a model); on a ``key`` conflict apply ``update``."""
    if not rows:
        return
    table = target if isinstance(target, Table) else cast(Table, target.__table__)
    if conn.dialect.name in ("mysql", "mariadb"):
        my = mysql.insert(table)
        my_set = {col: my.inserted[col] if expr is NEW else expr for col, expr in update.items()}
        conn.execute(my.on_duplicate_key_update(**my_set), list(rows))
        return
    lite = sqlite.insert(table)
    lite_set: dict[str, ColumnElement[Any] | object] = {
        col: lite.excluded[col] if expr is NEW else expr for col, expr in update.items()
    }
    conn.execute(lite.on_conflict_do_update(index_elements=list(key), set_=lite_set), list(rows))
