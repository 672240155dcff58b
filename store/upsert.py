"""Batched insert-or-update for MySQL/MariaDB and SQLite in one statement per batch.

``upsert(conn, table, rows, key=..., update=...)`` sends all ``rows`` as one multi-row
``INSERT … ON DUPLICATE KEY UPDATE`` (MySQL) or ``INSERT … ON CONFLICT DO UPDATE`` (SQLite).
``update`` maps each column to change on conflict to either ``NEW`` (take the inserted value)
or a SQL expression over the existing row without bound parameters (``increment(col)``).

``key`` must be a unique key of the table (its primary key, a unique constraint or a unique
index), and it must be the only one the rows can collide on: MySQL's ``ON DUPLICATE KEY``
fires on *any* unique key, so rows that also carry the columns of another unique key could
update a different row than ``key`` names. Such a call raises ``ValueError`` on every backend;
update by that key with an ``UPDATE`` instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, cast

from sqlalchemy import Connection, Table, UniqueConstraint, literal_column
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

NEW: Final = object()  # marker: "the value being inserted"


def increment(column: ColumnElement[int] | InstrumentedAttribute[int]) -> ColumnElement[int]:
    """``column + 1`` with the 1 inline: PyMySQL's batched executemany allows no bound
    parameter after ``VALUES (…)``, so update expressions must not bind values."""
    return column + literal_column("1")


def unique_keys(table: Table) -> list[frozenset[str]]:
    """The column sets of the table's primary key, unique constraints and unique indexes."""
    keys = [frozenset(c.name for c in table.primary_key.columns)] if table.primary_key.columns else []
    keys += [
        frozenset(c.name for c in constraint.columns)
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint)
    ]
    keys += [frozenset(c.name for c in index.columns) for index in table.indexes if index.unique]
    return keys


def _check_key(table: Table, key: Sequence[str], given: Sequence[str]) -> None:
    """``ValueError`` unless ``key`` is the one unique key rows with columns ``given`` can hit."""
    target = frozenset(key)
    uniques = unique_keys(table)
    if target not in uniques:
        known = "; ".join(", ".join(sorted(k)) for k in uniques)
        raise ValueError(
            f"upsert into {table.name}: ({', '.join(key)}) is not a unique key (those are: {known})"
        )
    present = set(given)
    other = next((k for k in uniques if k != target and k <= present), None)
    if other is not None:
        raise ValueError(
            f"upsert into {table.name} by ({', '.join(key)}) is ambiguous: the rows also carry the unique "
            f"key ({', '.join(sorted(other))}), and MySQL updates a row found by either; "
            "update by one key with an UPDATE statement instead"
        )


def upsert(
    conn: Connection,
    target: Table | type[DeclarativeBase],
    rows: Sequence[Mapping[str, Any]],
    *,
    key: Sequence[str],
    update: Mapping[str, object],
) -> None:
    """Insert ``rows`` into ``target`` (a table or a model); on a ``key`` conflict apply ``update``.

    ``ValueError`` when ``key`` is not a unique key of the table, or when the rows also carry
    every column of another unique key (see the module docstring).
    """
    if not rows:
        return
    table = target if isinstance(target, Table) else cast(Table, target.__table__)
    _check_key(table, key, list(rows[0]))  # a multi-row INSERT gives every row the same columns
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
