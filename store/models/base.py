"""What every table of the central schema shares: the declarative base, naming, column types.

Conventions: surrogate ``id`` keys (BIGINT; INTEGER on SQLite so that it is the rowid), business
keys as unique constraints, SKUs and location codes as plain strings, money as
``DECIMAL(18,4)``, timestamps as UTC with microseconds (``store.types.UTCDateTime``); every
MySQL/MariaDB table is InnoDB, utf8mb4 with a binary collation.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Integer, MetaData, Numeric, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from store.types import JSONText, UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
MYSQL_TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

SKU = String(64)
CODE = String(64)
MONEY = Numeric(18, 4)
# BIGINT on MySQL, INTEGER on SQLite so that it is an alias of the rowid (autoincrement works).
ID = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar = {datetime: UTCDateTime(), dict[str, Any]: JSONText(), Decimal: MONEY}


def id_column() -> Mapped[int]:
    """The surrogate primary key column every table has."""
    return mapped_column(ID, primary_key=True, autoincrement=True)
