"""Column types that behave the same on MySQL/MariaDB and SQLite.

- ``UTCDateTime``: stored as naive UTC with microseconds (``DATETIME(6)`` on MySQL), returned
  timezone-aware; an aware value in any zone is converted to UTC on the way in, a naive one is
  refused (it would be ambiguous).
- ``JSONText``: JSON kept in a text column (``MEDIUMTEXT`` on MySQL). MariaDB's JSON is an alias
  of LONGTEXT, so a text column keeps the schema identical on both servers.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeDecorator, TypeEngine


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetime with microsecond precision on every backend."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class JSONText(TypeDecorator[Any]):
    """A JSON document stored as UTF-8 text; keys sorted so equal documents compare equal."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.MEDIUMTEXT())
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        if not text.isascii():
            try:
                text.encode()
            except UnicodeEncodeError:
                # a lone surrogate (from a broken upstream JSON encoder) stays escaped: the same
                # document, and one the database can store (a quarantined payload must land)
                text = json.dumps(value, ensure_ascii=True, sort_keys=True, default=str)
        return text

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return json.loads(value)
