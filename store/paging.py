"""A page of query results: the rows shown and how many there are in all.

Every list a person sees (``erpsync orders list``, the HTTP API, a dashboard table, a report)
comes from a query function returning a :class:`Page`: ``rows`` (typed rows, never SQLAlchemy
``Row`` objects), ``total`` (how many rows the same filters match without ``limit`` and
``offset``), and the ``offset`` and ``limit`` asked for. A page is a sequence of its rows, so
``for row in page`` and ``len(page)`` read the rows shown.

:func:`fetch_page` runs a statement for one page. It counts with a second query only when the page
cannot tell the total by itself: a full page, or an empty page past the first. So a short list
costs one query.

Errors: ``ValueError`` for a ``limit`` below 1 or a negative ``offset``; database errors are
SQLAlchemy's.

>>> page = fetch_page(conn, select(Outbox.id, Outbox.topic), lambda r: (r.id, r.topic), limit=50)
>>> f"showing {len(page)} of {page.total}" if page.more else ""
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from sqlalchemy import Connection, Row, Select, func, select

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Sequence[T], Generic[T]):
    """The rows of one page (``offset``, at most ``limit``; None: all) and ``total``, the rows in all."""

    rows: tuple[T, ...]
    total: int
    offset: int = 0
    limit: int | None = None

    @property
    def more(self) -> bool:
        """Whether rows after this page match too (the next page would not be empty)."""
        return self.offset + len(self.rows) < self.total

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[T, ...]: ...

    def __getitem__(self, index: int | slice) -> T | tuple[T, ...]:
        return self.rows[index]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[T]:
        return iter(self.rows)


def check_window(limit: int | None, offset: int) -> None:
    """``ValueError`` unless ``limit`` is None or at least 1 and ``offset`` is not negative."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1 (or None for every row), not {limit}")
    if offset < 0:
        raise ValueError(f"offset must not be negative, not {offset}")


def count_rows(conn: Connection, stmt: Select[Any]) -> int:
    """How many rows ``stmt`` gives without its ordering, limit and offset."""
    inner = stmt.order_by(None).limit(None).offset(None).subquery()
    return int(conn.execute(select(func.count()).select_from(inner)).scalar_one())


def fetch_page(
    conn: Connection,
    stmt: Select[Any],
    row: Callable[[Row[Any]], T],
    *,
    limit: int | None,
    offset: int = 0,
) -> Page[T]:
    """One page of ``stmt`` (ordered by the caller), each result made a typed row by ``row``."""
    check_window(limit, offset)
    query = stmt.offset(offset) if offset else stmt
    rows = tuple(row(r) for r in conn.execute(query if limit is None else query.limit(limit)))
    short = limit is None or len(rows) < limit
    # a short page ends the list, so it knows the total, unless it is empty past the first page
    total = offset + len(rows) if short and (rows or not offset) else count_rows(conn, stmt)
    return Page(rows, total, offset, limit)
