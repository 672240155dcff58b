"""Rows written straight into the store for the query tests: only the columns a query reads.

Each helper inserts one row in the caller's transaction and returns its id, so a test states the
store it reads in a few lines (and on both backends).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert

from core.clock import utcnow
from store.models import (
    Alert,
    DispatchInstruction,
    Location,
    OrderLine,
    Product,
    Quarantine,
    SalesOrder,
    Shipment,
    SkuBinding,
    StockLevel,
    SyncRun,
)

#: a fixed moment the seeded rows are stamped with (tests order by id, not by time)
AT = utcnow().replace(microsecond=0) - timedelta(hours=1)


def _insert(conn: Connection, table: Any, **values: Any) -> int:
    key = conn.execute(insert(table).values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def location(conn: Connection, code: str, *, safety_stock: int = 0) -> int:
    return _insert(
        conn,
        Location,
        code=code,
        name=f"{code} store",
        kind="warehouse",
        safety_stock=safety_stock,
        updated_at=AT,
    )


def product(conn: Connection, sku: str, uom: str = "pcs") -> int:
    return _insert(conn, Product, sku=sku, name=sku, uom=uom, created_at=AT, updated_at=AT)


def level(conn: Connection, sku: str, location_id: int, on_hand: int, reserved: int = 0) -> int:
    return _insert(
        conn, StockLevel, sku=sku, location_id=location_id, on_hand=on_hand, reserved=reserved, updated_at=AT
    )


def order(conn: Connection, channel: str, external_id: str, status: str = "received", **values: Any) -> int:
    return _insert(
        conn,
        SalesOrder,
        channel=channel,
        external_id=external_id,
        status=status,
        created_at=AT,
        updated_at=AT,
        **values,
    )


def line(conn: Connection, order_id: int, line_no: int, sku: str, qty: int) -> int:
    return _insert(
        conn, OrderLine, order_id=order_id, line_no=line_no, sku=sku, qty=qty, unit_price=Decimal("9.90")
    )


def instruction(conn: Connection, number: str, order_id: int, location_id: int, status: str = "sent") -> int:
    return _insert(
        conn,
        DispatchInstruction,
        number=number,
        order_id=order_id,
        location_id=location_id,
        status=status,
        created_at=AT,
        updated_at=AT,
    )


def parcel(conn: Connection, instruction_id: int, tracking_no: str, shipped_at: datetime = AT) -> int:
    return _insert(
        conn,
        Shipment,
        dispatch_id=instruction_id,
        carrier="SF",
        tracking_no=tracking_no,
        shipped_at=shipped_at,
        lines={"lines": []},
        created_at=AT,
    )


def binding(conn: Connection, system: str, external_sku: str, sku: str, factor: int = 1) -> int:
    return _insert(
        conn, SkuBinding, system=system, external_sku=external_sku, sku=sku, uom_factor=factor, updated_at=AT
    )


def alert(
    conn: Connection,
    kind: str,
    *,
    location_id: int | None = None,
    sku: str | None = None,
    state: str = "open",
    details: dict[str, Any] | None = None,
) -> int:
    return _insert(
        conn,
        Alert,
        kind=kind,
        sku=sku,
        location_id=location_id,
        severity="warning",
        state=state,
        details=details,
        opened_at=AT,
        updated_at=AT,
    )


def run(conn: Connection, connector: str, stream: str, status: str = "ok", records_in: int = 0) -> int:
    return _insert(
        conn,
        SyncRun,
        connector=connector,
        stream=stream,
        status=status,
        started_at=AT,
        finished_at=AT,
        records_in=records_in,
    )


def quarantined(
    conn: Connection,
    connector: str,
    stream: str,
    key: str,
    *,
    code: str = "unmapped_sku",
    status: str = "open",
) -> int:
    return _insert(
        conn,
        Quarantine,
        connector=connector,
        stream=stream,
        record_key=key,
        reason_code=code,
        reason=f"{code}: {key}",
        payload={"id": key},
        status=status,
        first_seen=AT,
        last_seen=AT,
    )
