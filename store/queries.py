"""The store's read queries for people: outbox messages, stock levels, SKU bindings.

Each function takes a connection and explicit filters and gives typed rows (frozen dataclasses),
lists as a :class:`store.paging.Page` (rows + total). ``locations`` limits a caller to some
locations by code (None: every location). The CLI, the HTTP API and reports format these rows;
the writes that go with them are elsewhere (``store.outbox_retry`` requeues messages).

- :func:`list_messages` / :func:`count_messages`: outbox messages by topic and status, never
  their payloads (a payload may hold personal data);
- :func:`get_message`: one message, its payload reduced to the names of its fields and the order
  or dispatch instruction it refers to (ids, not personal data);
- :func:`messages_by_key`: the messages with given keys or key prefixes, in one query;
- :func:`stock_levels`: on hand, reserved, safety stock and available per SKU and location;
- :func:`list_bindings`: SKU bindings (a system's SKU ↔ ours, with the unit factor).

Errors: ``ValueError`` for a bad ``limit``/``offset``; database errors are SQLAlchemy's.

>>> with engine.connect() as conn:
...     failed = list_messages(conn, status=MessageState.FAILED, limit=50)
>>> print(f"showing {len(failed)} of {failed.total}")
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from core.statuses import MessageState
from store.models import DispatchInstruction, Location, Outbox, Product, SalesOrder, SkuBinding, StockLevel
from store.outbox import KEY_HEAD_CHARS, is_pending
from store.paging import Page, fetch_page

_INFO_COLUMNS = tuple(column for column in Outbox.__table__.columns if column.name != "payload")


@dataclass(frozen=True)
class MessageInfo:
    """One message without its payload (it may hold personal data)."""

    id: int
    topic: str
    partition: str
    key: str
    status: MessageState
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    claimed_by: str | None
    claimed_until: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    failed_at: datetime | None


@dataclass(frozen=True)
class MessageDetail:
    """One message for ``outbox show``: its row, the names of its payload's fields, what it is about."""

    info: MessageInfo
    payload_fields: tuple[str, ...]
    payload_chars: int
    #: ``channel/external_id`` of the order the payload names (``order_id``), if any
    order: str | None
    #: number of the dispatch instruction the payload names (``instruction_id``), if any
    instruction: str | None


@dataclass(frozen=True)
class KeyedMessage:
    """A message found by key: its state, and the order its payload names (``order_id``)."""

    id: int
    topic: str
    key: str
    status: MessageState
    last_error: str | None
    order_id: int | None


def status_filter(status: MessageState) -> ColumnElement[bool]:
    """The condition a message in ``status`` meets."""
    if status == MessageState.PENDING:
        return is_pending()
    if status == MessageState.DELIVERED:
        return Outbox.delivered_at.is_not(None)
    return Outbox.failed_at.is_not(None)


def message_filters(topic: str | None, status: MessageState | None) -> list[ColumnElement[bool]]:
    """The conditions of messages of ``topic`` in ``status`` (None: any)."""
    found = [Outbox.topic == topic] if topic is not None else []
    return found + ([status_filter(status)] if status is not None else [])


def _status(row: Row[Any]) -> MessageState:
    if row.delivered_at is not None:
        return MessageState.DELIVERED
    return MessageState.FAILED if row.failed_at is not None else MessageState.PENDING


def _info(row: Row[Any]) -> MessageInfo:
    return MessageInfo(
        id=row.id,
        topic=row.topic,
        partition=row.partition_key,
        key=row.key,
        status=_status(row),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        claimed_by=row.claimed_by,
        claimed_until=row.claimed_until,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
        failed_at=row.failed_at,
    )


def list_messages(
    conn: Connection,
    *,
    topic: str | None = None,
    status: MessageState | None = None,
    limit: int | None = 100,
    offset: int = 0,
) -> Page[MessageInfo]:
    """A page of messages: pending ones oldest first (delivery order), others newest first."""
    stmt = (
        select(*_INFO_COLUMNS)
        .where(*message_filters(topic, status))
        .order_by(Outbox.id if status == MessageState.PENDING else Outbox.id.desc())
    )
    return fetch_page(conn, stmt, _info, limit=limit, offset=offset)


def count_messages(conn: Connection, *, topic: str | None = None, status: MessageState | None = None) -> int:
    """How many messages :func:`list_messages` would list without a limit."""
    stmt = select(func.count()).select_from(Outbox).where(*message_filters(topic, status))
    return int(conn.execute(stmt).scalar_one())


def get_message(conn: Connection, message_id: int) -> MessageDetail | None:
    """Message ``message_id`` for a person to read (its payload reduced, see the module doc), or None."""
    row = conn.execute(select(*_INFO_COLUMNS, Outbox.payload).where(Outbox.id == message_id)).first()
    if row is None:
        return None
    payload = row.payload if isinstance(row.payload, dict) else {}
    order, instruction = payload.get("order_id"), payload.get("instruction_id")
    order_ref = None
    if isinstance(order, int):
        found = conn.execute(
            select(SalesOrder.channel, SalesOrder.external_id).where(SalesOrder.id == order)
        ).first()
        order_ref = f"{found.channel}/{found.external_id}" if found else None
    number = None
    if isinstance(instruction, int):
        number = conn.execute(
            select(DispatchInstruction.number).where(DispatchInstruction.id == instruction)
        ).scalar()
    return MessageDetail(
        _info(row), tuple(payload), len(str(row.payload)), order_ref, str(number) if number else None
    )


def messages_by_key(
    conn: Connection, keys: Sequence[str], prefixes: Sequence[str] = ()
) -> list[KeyedMessage]:
    """The messages whose key is one of ``keys`` or starts with one of ``prefixes`` (one query).

    A prefix longer than the head a long key keeps (:data:`store.outbox.KEY_HEAD_CHARS`) matches
    on that head: compare ``order_id`` to tell apart two keys sharing it.
    """
    if not keys and not prefixes:
        return []
    heads = {prefix[:KEY_HEAD_CHARS] for prefix in prefixes}
    conditions: list[ColumnElement[bool]] = [Outbox.key.in_(keys)] if keys else []
    conditions += [Outbox.key.startswith(head, autoescape=True) for head in sorted(heads)]
    rows = conn.execute(
        select(*_INFO_COLUMNS, Outbox.payload).where(or_(*conditions)).order_by(Outbox.id)
    ).all()
    found = []
    for row in rows:
        order = row.payload.get("order_id") if isinstance(row.payload, dict) else None
        found.append(
            KeyedMessage(
                row.id,
                row.topic,
                row.key,
                _status(row),
                row.last_error,
                order if isinstance(order, int) else None,
            )
        )
    return found


@dataclass(frozen=True)
class StockRow:
    """The stock of one SKU at one location, in the SKU's unit (``unit`` None: no product row yet)."""

    sku: str
    unit: str | None
    location: str
    on_hand: int
    reserved: int
    safety_stock: int
    source: str | None
    updated_at: datetime

    @property
    def available(self) -> int:
        """What may still be promised: on hand − reserved − safety stock, never below 0."""
        return max(0, self.on_hand - self.reserved - self.safety_stock)


def stock_levels(
    conn: Connection,
    *,
    sku: str | None = None,
    location: str | None = None,
    locations: Collection[str] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Page[StockRow]:
    """A page of stock levels by SKU then location code (``location``: one code; ``locations``: scope)."""
    stmt = (
        select(
            StockLevel.sku,
            Product.uom,
            Location.code,
            StockLevel.on_hand,
            StockLevel.reserved,
            Location.safety_stock,
            StockLevel.source,
            StockLevel.updated_at,
        )
        .join(Location, Location.id == StockLevel.location_id)
        .outerjoin(Product, Product.sku == StockLevel.sku)  # a level may arrive before its product
        .order_by(StockLevel.sku, Location.code)
    )
    if sku is not None:
        stmt = stmt.where(StockLevel.sku == sku)
    if location is not None:
        stmt = stmt.where(Location.code == location)
    if locations is not None:
        stmt = stmt.where(Location.code.in_(set(locations)))
    return fetch_page(conn, stmt, lambda r: StockRow(*r), limit=limit, offset=offset)


@dataclass(frozen=True)
class BindingRow:
    """A SKU binding: ``uom_factor`` of our units make one unit of ``system``'s ``external_sku``."""

    system: str
    external_sku: str
    sku: str
    uom_factor: int
    updated_at: datetime


def list_bindings(
    conn: Connection,
    *,
    system: str | None = None,
    sku: str | None = None,
    limit: int | None = 200,
    offset: int = 0,
) -> Page[BindingRow]:
    """A page of SKU bindings by system, then external SKU (``system``, ``sku``: only those)."""
    b = SkuBinding
    stmt = select(b.system, b.external_sku, b.sku, b.uom_factor, b.updated_at)
    stmt = stmt.order_by(b.system, b.external_sku)
    if system is not None:
        stmt = stmt.where(SkuBinding.system == system)
    if sku is not None:
        stmt = stmt.where(SkuBinding.sku == sku)
    return fetch_page(conn, stmt, lambda r: BindingRow(*r), limit=limit, offset=offset)
