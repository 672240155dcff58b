"""A reference model of stock levels, a feed of stock readings, and store checks for property tests.

``Book`` says what the store should hold after each operation of ``store.stock`` and
``sync.stock_sync``, written from their docstrings; the property tests run the product and the
book side by side and compare.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text

from connectors.base import Connector, ConnectorSettings, Page, Stream
from core.clock import utcnow
from store.db import make_engine
from store.migrate import upgrade
from store.models import (
    Allocation,
    Base,
    ChannelListing,
    Location,
    OrderLine,
    SalesOrder,
    StockLevel,
    StockMovement,
)

Key = tuple[str, str]  # (sku, location code)
Move = tuple[str, Key, int]  # (move id, where, delta)


class Feed(Connector):
    """Serves ``rows[stream]`` two per page; ``stock`` is a complete snapshot, ``stock_moves`` is not."""

    kind = "feed"
    Settings = ConnectorSettings

    def __init__(self, name: str) -> None:
        super().__init__(name, ConnectorSettings())
        self.rows: dict[str, list[dict[str, Any]]] = {"stock": [], "stock_moves": []}

    @property
    def streams(self) -> Mapping[str, Stream]:
        return {s: Stream(s, ("id",), None, snapshot=s == "stock") for s in self.rows}

    def fetch(self, stream: str, cursor: str | None) -> Iterator[Page]:
        rows = self.rows[stream]
        for start in range(0, len(rows), 2):
            yield Page([dict(r) for r in rows[start : start + 2]], last=start + 2 >= len(rows))

    def check(self) -> None:
        return None


def reading(sku: str, code: str, on_hand: int, as_of: datetime) -> dict[str, Any]:
    """A raw stock-level record as a source sends it."""
    data = {"sku": sku, "location": code, "on_hand": on_hand, "as_of": as_of.isoformat()}
    return {"id": f"{sku}@{code}", "data": data}


def move(move_id: str, key: Key, delta: int) -> dict[str, Any]:
    """A raw stock-move record as a source sends it."""
    return {"id": move_id, "data": {"sku": key[0], "location": key[1], "delta": delta, "move_id": move_id}}


def migrated_sqlite(directory: Path) -> Engine:
    engine = make_engine(f"sqlite:///{directory / 'store.db'}")
    upgrade(engine)
    return engine


def wipe(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(text(f'DELETE FROM "{table.name}"'))


def order_line(conn: Connection, sku: str, qty: int, status: str = "allocated") -> int:
    """A one-line order (its ``status`` decides whether it counts as open demand)."""
    now = utcnow()
    order = conn.execute(
        insert(SalesOrder).values(
            channel="shop",
            external_id=f"o-{now.timestamp()}-{sku}-{qty}",
            status=status,
            currency="CNY",
            created_at=now,
            updated_at=now,
        )
    )
    line = conn.execute(
        insert(OrderLine).values(
            order_id=order.inserted_primary_key[0], line_no=1, sku=sku, qty=qty, unit_price=0
        )
    )
    return int(line.inserted_primary_key[0])


def stored_levels(conn: Connection) -> dict[Key, tuple[int, int]]:
    rows = conn.execute(
        select(StockLevel.sku, Location.code, StockLevel.on_hand, StockLevel.reserved).join(
            Location, Location.id == StockLevel.location_id
        )
    )
    return {(sku, code): (on_hand, reserved) for sku, code, on_hand, reserved in rows}


def ledger_replay(conn: Connection) -> tuple[dict[Key, tuple[int, int]], list[str]]:
    """The levels the ledger's deltas add up to, and every row whose ``*_after`` disagrees."""
    rows = conn.execute(
        select(
            StockMovement.id,
            StockMovement.sku,
            Location.code,
            StockMovement.reason,
            StockMovement.delta_on_hand,
            StockMovement.delta_reserved,
            StockMovement.on_hand_after,
            StockMovement.reserved_after,
        )
        .join(Location, Location.id == StockMovement.location_id)
        .order_by(StockMovement.id)
    )
    sums: dict[Key, tuple[int, int]] = {}
    wrong = []
    for row_id, sku, code, reason, d_on_hand, d_reserved, on_hand_after, reserved_after in rows:
        on_hand, reserved = sums.get((sku, code), (0, 0))
        sums[sku, code] = (on_hand + d_on_hand, reserved + d_reserved)
        if sums[sku, code] != (on_hand_after, reserved_after):
            wrong.append(f"#{row_id} {reason} {sku}@{code}: after {(on_hand_after, reserved_after)}")
    return sums, wrong


def table_size(engine: Engine, model: type[Base]) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def queued(engine: Engine, channel: str) -> dict[str, int | None]:
    """The quantity last queued for each SKU listed on ``channel``."""
    query = select(ChannelListing.sku, ChannelListing.planned_qty).where(ChannelListing.channel == channel)
    with engine.connect() as conn:
        return dict(conn.execute(query).tuples().all())


def allocation_states(conn: Connection) -> dict[int, str]:
    return dict(conn.execute(select(Allocation.id, Allocation.status)).tuples().all())


@dataclass
class Row:
    on_hand: int = 0
    reserved: int = 0
    source: str | None = None  # the connector whose reading last set (or confirmed) on-hand


@dataclass
class Held:
    key: Key
    qty: int
    status: str = "reserved"
    shipped_at: datetime | None = None


@dataclass
class Book:
    """What the store should hold: levels, allocations and applied source moves."""

    safety: dict[str, int]
    fed_by: dict[str, str | None]
    rows: dict[Key, Row] = field(default_factory=dict)
    held: dict[int, Held] = field(default_factory=dict)
    applied: set[tuple[str, str]] = field(default_factory=set)
    holds: set[str] = field(default_factory=set)  # connectors whose last snapshot was held

    def levels(self) -> dict[Key, tuple[int, int]]:
        return {k: (r.on_hand, r.reserved) for k, r in self.rows.items()}

    def can_reserve(self, key: Key, qty: int) -> bool:
        row = self.rows.get(key)
        return row is not None and qty > 0 and row.on_hand - row.reserved - self.safety[key[1]] >= qty

    def reserve(self, allocation_id: int, key: Key, qty: int) -> None:
        self.rows[key].reserved += qty
        self.held[allocation_id] = Held(key, qty)

    def change(self, key: Key, d_on_hand: int) -> None:
        """A return or an adjustment: on-hand moves, the row appears if it was not there."""
        self.rows.setdefault(key, Row()).on_hand += d_on_hand

    def cancel(self, allocation_id: int) -> None:
        held = self.held[allocation_id]
        if held.status == "reserved":
            self.rows[held.key].reserved -= held.qty
            held.status = "released"

    def ship(self, allocation_id: int, at: datetime) -> None:
        held = self.held[allocation_id]
        if held.status != "reserved":
            return
        held.shipped_at = at
        if self.fed_by[held.key[1]] is None:  # erpsync keeps the books: units leave at once
            row = self.rows[held.key]
            row.on_hand -= held.qty
            row.reserved -= held.qty
            held.status = "consumed"
        else:  # stays reserved until a reading taken at or after the shipment
            held.status = "shipped"

    def snapshot(
        self,
        connector: str,
        readings: dict[Key, int],
        as_of: datetime,
        *,
        max_shrink: float = 0.2,
        accept: bool = False,
    ) -> bool:
        """A complete snapshot; True when the shrink guard holds it.

        Listed rows take its values and become the connector's (a reading at or after a shipment
        settles it), except a zero for a row holding stock: that waits for the end. Then the rows
        to zero — the connector's rows holding stock it did not list, and the zeros it reported —
        are counted against the rows it holds: more than ``max_shrink`` of them (or any, from an
        empty snapshot) and nothing is zeroed, unless ``accept``.
        """
        deferred = {k for k, v in readings.items() if v == 0 and k in self.rows and self.rows[k].on_hand}
        listed = {k: v for k, v in readings.items() if k not in deferred}
        for key, on_hand in listed.items():
            row = self.rows.setdefault(key, Row())
            row.on_hand, row.source = on_hand, connector
        self._settle(listed, as_of)
        holding = [k for k, r in self.rows.items() if r.on_hand and (r.source == connector or k in deferred)]
        to_zero = [k for k in holding if k not in listed]
        held = bool(to_zero) and (not readings or len(to_zero) > max_shrink * len(holding)) and not accept
        if held:
            self.holds.add(connector)
            return True
        for key in to_zero:
            self.rows[key].on_hand, self.rows[key].source = 0, connector
        self._settle({k: 0 for k in to_zero if k in deferred}, as_of)
        self.holds.discard(connector)
        return False

    def _settle(self, read: Mapping[Key, int], as_of: datetime) -> None:
        for held in self.held.values():
            taken = held.key in read and held.shipped_at is not None and held.shipped_at <= as_of
            if held.status == "shipped" and taken:
                self.rows[held.key].reserved -= held.qty
                held.status = "consumed"

    def moves(self, connector: str, moves: list[Move]) -> int:
        """Apply each move once by its id; moves at a location fed by another connector are refused."""
        done = 0
        for move_id, key, delta in moves:
            fed = self.fed_by[key[1]]
            if (fed is not None and fed != connector) or (connector, move_id) in self.applied:
                continue
            self.applied.add((connector, move_id))
            row = self.rows.setdefault(key, Row())
            row.on_hand += delta
            row.source = connector
            done += 1
        return done
