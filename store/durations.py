"""Seconds between two timestamp columns, in SQL, the same on SQLite and MySQL/MariaDB.

``elapsed_seconds(start, end)`` is a SQL expression: the seconds from ``start`` to ``end`` as a
floating-point number, never below 0 (a clock that stepped back counts as no time at all), NULL
when either is NULL. Metrics bucket durations with it in the database instead of fetching rows:

>>> select(func.sum(case((elapsed_seconds(SyncRun.started_at, SyncRun.finished_at) <= 60, 1), else_=0)))

SQLite keeps timestamps as text and measures with ``julianday`` (to within a few microseconds);
MySQL/MariaDB count microseconds with ``TIMESTAMPDIFF``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

Timestamp = ColumnElement[Any] | InstrumentedAttribute[Any]


class elapsed_seconds(FunctionElement[float]):  # lower case: it reads as the SQL function it is
    """The seconds from the first argument to the second (see the module docstring)."""

    type = Float()
    inherit_cache = True
    name = "elapsed_seconds"

    def __init__(self, start: Timestamp, end: Timestamp) -> None:
        super().__init__(start, end)


def _arguments(element: elapsed_seconds, compiler: SQLCompiler, **kw: Any) -> tuple[str, str]:
    start, end = list(element.clauses)
    return compiler.process(start, **kw), compiler.process(end, **kw)


@compiles(elapsed_seconds, "sqlite")
def _sqlite(element: elapsed_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _arguments(element, compiler, **kw)
    return f"max(0.0, (julianday({end}) - julianday({start})) * 86400.0)"


@compiles(elapsed_seconds, "mysql")
@compiles(elapsed_seconds, "mariadb")
def _mysql(element: elapsed_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _arguments(element, compiler, **kw)
    return f"GREATEST(0.0, TIMESTAMPDIFF(MICROSECOND, {start}, {end}) / 1000000.0)"


__all__ = ["elapsed_seconds"]
