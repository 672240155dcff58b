"""Routing's read queries for people: orders, their lines and dispatch instructions, parcels.

Each function takes a connection and explicit filters and gives typed rows (frozen dataclasses),
lists as a :class:`store.paging.Page` (rows + total). ``locations`` limits a caller to some
locations by code (None: every location): a warehouse sees the instructions of its locations
and the orders dispatched to them, nothing else. The CLI (``erpsync orders``, ``erpsync
dispatch``), the HTTP API and reports format these rows; changes go through ``routing.dispatch``,
``routing.shipments`` and the order lifecycle.

- :func:`list_orders` / :func:`count_orders`: orders, newest first, by status and channel;
- :func:`find_orders`: the orders a person's reference names (``channel/external_id``, an
  external id, or our id);
- :func:`order_lines`, :func:`order_instructions`: one order's lines and instructions;
- :func:`list_instructions`: dispatch instructions, newest first, by status and location;
- :func:`get_instruction`: one instruction by number; :func:`instruction_parcels`: its parcels.

Errors: ``ValueError`` for a bad ``limit``/``offset``; database errors are SQLAlchemy's.

>>> with engine.connect() as conn:
...     page = list_instructions(conn, status="sent", locations={"DS-GZ"}, limit=50)
>>> [row.number for row in page], page.total
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, exists, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from store.models import DispatchInstruction, Location, OrderLine, SalesOrder, Shipment
from store.paging import Page, fetch_page


def _dispatched_to(locations: Collection[str]) -> ColumnElement[bool]:
    """An order has an instruction at one of ``locations`` (by code)."""
    return exists(
        select(DispatchInstruction.id)
        .join(Location, Location.id == DispatchInstruction.location_id)
        .where(DispatchInstruction.order_id == SalesOrder.id, Location.code.in_(set(locations)))
    )


@dataclass(frozen=True)
class OrderSummary:
    """One order in a list: where it stands and why (hold reason, change note)."""

    id: int
    channel: str
    external_id: str
    status: str
    ship_region: str | None
    hold_reason: str | None
    change_note: str | None


def _order_filters(
    status: str | None, channel: str | None, locations: Collection[str] | None
) -> list[ColumnElement[bool]]:
    found = [SalesOrder.status == status] if status is not None else []
    found += [SalesOrder.channel == channel] if channel is not None else []
    return found + ([_dispatched_to(locations)] if locations is not None else [])


def list_orders(
    conn: Connection,
    *,
    status: str | None = None,
    channel: str | None = None,
    locations: Collection[str] | None = None,
    limit: int | None = 50,
    offset: int = 0,
) -> Page[OrderSummary]:
    """A page of orders, newest first (only those in ``status``, of ``channel``, when given)."""
    stmt = (
        select(
            SalesOrder.id,
            SalesOrder.channel,
            SalesOrder.external_id,
            SalesOrder.status,
            SalesOrder.ship_region,
            SalesOrder.hold_reason,
            SalesOrder.change_note,
        )
        .where(*_order_filters(status, channel, locations))
        .order_by(SalesOrder.id.desc())
    )
    return fetch_page(conn, stmt, lambda r: OrderSummary(*r), limit=limit, offset=offset)


def count_orders(
    conn: Connection,
    *,
    status: str | None = None,
    channel: str | None = None,
    locations: Collection[str] | None = None,
) -> int:
    """How many orders :func:`list_orders` would give without a limit."""
    stmt = select(func.count()).select_from(SalesOrder).where(*_order_filters(status, channel, locations))
    return int(conn.execute(stmt).scalar_one())


@dataclass(frozen=True)
class OrderHead:
    """An order without its lines: what a person names it by, its state, where it ships."""

    id: int
    channel: str
    external_id: str
    status: str
    hold_reason: str | None
    customer_ref: str | None
    ship_region: str | None
    ship_postal: str | None


def find_orders(conn: Connection, ref: str, *, locations: Collection[str] | None = None) -> list[OrderHead]:
    """The orders ``ref`` names: ``channel/external_id``, else an external id or our id (any channel).

    Surrounding blanks do not count (the key rule of ``mapping.records``: "A1 " is "A1"); more
    than one order means the reference needs its channel.
    """
    ref = ref.strip()
    channel, _, ext = ref.rpartition("/")
    channel, ext = channel.strip(), ext.strip()
    stmt = select(
        SalesOrder.id,
        SalesOrder.channel,
        SalesOrder.external_id,
        SalesOrder.status,
        SalesOrder.hold_reason,
        SalesOrder.customer_ref,
        SalesOrder.ship_region,
        SalesOrder.ship_postal,
    )
    if channel:
        stmt = stmt.where(SalesOrder.channel == channel, SalesOrder.external_id == ext)
    else:
        our_id = int(ref) if ref.isdigit() else -1
        stmt = stmt.where(or_(SalesOrder.external_id == ref, SalesOrder.id == our_id))
    if locations is not None:
        stmt = stmt.where(_dispatched_to(locations))
    return [OrderHead(*row) for row in conn.execute(stmt.order_by(SalesOrder.id))]


@dataclass(frozen=True)
class OrderLineRow:
    """One line of an order: what was ordered, shipped and returned, in the SKU's base unit."""

    id: int
    line_no: int
    sku: str
    description: str | None
    qty: int
    qty_shipped: int
    qty_returned: int


def order_lines(conn: Connection, order_id: int) -> list[OrderLineRow]:
    """The lines of order ``order_id`` by line number."""
    stmt = (
        select(
            OrderLine.id,
            OrderLine.line_no,
            OrderLine.sku,
            OrderLine.description,
            OrderLine.qty,
            OrderLine.qty_shipped,
            OrderLine.qty_returned,
        )
        .where(OrderLine.order_id == order_id)
        .order_by(OrderLine.line_no)
    )
    return [OrderLineRow(*row) for row in conn.execute(stmt)]


@dataclass(frozen=True)
class InstructionRef:
    """A dispatch instruction as an order's page names it."""

    number: str
    location: str
    status: str


def order_instructions(conn: Connection, order_id: int) -> list[InstructionRef]:
    """The dispatch instructions of order ``order_id``, oldest first."""
    stmt = (
        select(DispatchInstruction.number, Location.code, DispatchInstruction.status)
        .join(Location, Location.id == DispatchInstruction.location_id)
        .where(DispatchInstruction.order_id == order_id)
        .order_by(DispatchInstruction.id)
    )
    return [InstructionRef(*row) for row in conn.execute(stmt)]


@dataclass(frozen=True)
class InstructionSummary:
    """One dispatch instruction in a list."""

    number: str
    status: str
    location: str
    channel: str
    external_id: str
    due_at: datetime | None
    send_count: int
    tracking_no: str | None


def list_instructions(
    conn: Connection,
    *,
    status: str | None = None,
    location: str | None = None,
    locations: Collection[str] | None = None,
    limit: int | None = 200,
    offset: int = 0,
) -> Page[InstructionSummary]:
    """A page of dispatch instructions, newest first (``location``: one code; ``locations``: scope)."""
    stmt = (
        select(
            DispatchInstruction.number,
            DispatchInstruction.status,
            Location.code,
            SalesOrder.channel,
            SalesOrder.external_id,
            DispatchInstruction.due_at,
            DispatchInstruction.send_count,
            DispatchInstruction.tracking_no,
        )
        .join(Location, Location.id == DispatchInstruction.location_id)
        .join(SalesOrder, SalesOrder.id == DispatchInstruction.order_id)
        .order_by(DispatchInstruction.id.desc())
    )
    if status is not None:
        stmt = stmt.where(DispatchInstruction.status == status)
    if location is not None:
        stmt = stmt.where(Location.code == location)
    if locations is not None:
        stmt = stmt.where(Location.code.in_(set(locations)))
    return fetch_page(conn, stmt, lambda r: InstructionSummary(*r), limit=limit, offset=offset)


@dataclass(frozen=True)
class InstructionHead:
    """One dispatch instruction without its lines (``routing.dispatch.instruction_document`` has them)."""

    id: int
    number: str
    status: str
    location: str
    order_id: int
    channel: str
    external_id: str
    due_at: datetime | None
    send_count: int
    carrier: str | None
    tracking_no: str | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    shipped_at: datetime | None
    created_at: datetime


def get_instruction(
    conn: Connection, number: str, *, locations: Collection[str] | None = None
) -> InstructionHead | None:
    """Instruction ``number``; None when there is none, or it is at a location outside ``locations``."""
    di = DispatchInstruction
    stmt = (
        select(
            di.id,
            di.number,
            di.status,
            Location.code,
            di.order_id,
            SalesOrder.channel,
            SalesOrder.external_id,
            di.due_at,
            di.send_count,
            di.carrier,
            di.tracking_no,
            di.acknowledged_at,
            di.acknowledged_by,
            di.shipped_at,
            di.created_at,
        )
        .join(Location, Location.id == di.location_id)
        .join(SalesOrder, SalesOrder.id == di.order_id)
        .where(di.number == number)
    )
    if locations is not None:
        stmt = stmt.where(Location.code.in_(set(locations)))
    row = conn.execute(stmt).first()
    return None if row is None else InstructionHead(*row)


@dataclass(frozen=True)
class Parcel:
    """A parcel reported for a dispatch instruction."""

    carrier: str
    tracking_no: str
    shipped_at: datetime


def instruction_parcels(conn: Connection, instruction_id: int) -> list[Parcel]:
    """The parcels reported for instruction ``instruction_id``, in the order they were reported."""
    stmt = (
        select(Shipment.carrier, Shipment.tracking_no, Shipment.shipped_at)
        .where(Shipment.dispatch_id == instruction_id)
        .order_by(Shipment.id)
    )
    return [Parcel(*row) for row in conn.execute(stmt)]
