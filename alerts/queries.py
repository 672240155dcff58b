"""The alerts' read queries for people: lists, one alert, the messages sent about it.

Each function takes a connection and explicit filters and gives typed rows (frozen dataclasses),
lists as a :class:`store.paging.Page` (rows + total). ``locations`` limits a caller to the alerts
about some locations, by code (None: every alert); an alert about no location (most operational
alerts) is outside every such scope. The CLI (``erpsync alerts``), the HTTP API and reports format
these rows and word them with ``alerts.texts``; changes go through ``alerts.lifecycle``.

- :func:`list_alerts`: alerts, newest first, by state and kind;
- :func:`get_alert`: one alert; :func:`alert_state`: only its state;
- :func:`alert_messages`: the messages sent (or waiting) about an alert, with their texts.

Errors: ``ValueError`` for a bad ``limit``/``offset``; database errors are SQLAlchemy's.

>>> with engine.connect() as conn:
...     page = list_alerts(conn, state="open", kinds=["shortage"], limit=100)
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, select

from store.models import Alert, Location, Outbox
from store.paging import Page, fetch_page

_COLUMNS = (
    Alert.id,
    Alert.kind,
    Alert.severity,
    Alert.state,
    Alert.sku,
    Location.code,
    Alert.details,
    Alert.opened_at,
    Alert.acknowledged_at,
    Alert.acknowledged_by,
    Alert.muted_until,
    Alert.resolved_at,
)


@dataclass(frozen=True)
class AlertRow:
    """One alert: what it is about (``sku`` at ``location``, or ``details["subject"]``) and its state."""

    id: int
    kind: str
    severity: str
    state: str
    sku: str | None
    location: str | None
    details: dict[str, Any]
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    muted_until: datetime | None
    resolved_at: datetime | None


def _row(row: Row[Any]) -> AlertRow:
    return AlertRow(
        id=row.id,
        kind=row.kind,
        severity=row.severity,
        state=row.state,
        sku=row.sku,
        location=row.code,
        details=row.details or {},
        opened_at=row.opened_at,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        muted_until=row.muted_until,
        resolved_at=row.resolved_at,
    )


def _alerts(locations: Collection[str] | None) -> Select[Any]:
    stmt = select(*_COLUMNS).outerjoin(Location, Location.id == Alert.location_id)
    return stmt if locations is None else stmt.where(Location.code.in_(set(locations)))


def list_alerts(
    conn: Connection,
    *,
    state: str | None = None,
    kinds: Collection[str] | None = None,
    locations: Collection[str] | None = None,
    limit: int | None = 100,
    offset: int = 0,
) -> Page[AlertRow]:
    """A page of alerts, newest first (``state``: only those; ``kinds``: only these kinds)."""
    stmt = _alerts(locations).order_by(Alert.id.desc())
    if state is not None:
        stmt = stmt.where(Alert.state == state)
    if kinds:
        stmt = stmt.where(Alert.kind.in_(set(kinds)))
    return fetch_page(conn, stmt, _row, limit=limit, offset=offset)


def get_alert(
    conn: Connection, alert_id: int, *, locations: Collection[str] | None = None
) -> AlertRow | None:
    """Alert ``alert_id``; None when there is none, or it is about no location of ``locations``."""
    row = conn.execute(_alerts(locations).where(Alert.id == alert_id)).first()
    return None if row is None else _row(row)


def alert_state(conn: Connection, alert_id: int) -> str | None:
    """The state of alert ``alert_id`` (open, acknowledged, resolved); None when there is no such alert."""
    return conn.execute(select(Alert.state).where(Alert.id == alert_id)).scalar()


@dataclass(frozen=True)
class AlertMessage:
    """A message about an alert: where it goes, for which event, whether it went, and its text."""

    id: int
    #: the route's name (the outbox partition)
    route: str
    #: opened, worse, escalated, resolved ... (the third part of the message key)
    event: str
    delivered_at: datetime | None
    last_error: str | None
    title: str
    text: str


def alert_messages(conn: Connection, alert_id: int) -> list[AlertMessage]:
    """The messages about alert ``alert_id``, oldest first."""
    stmt = (
        select(
            Outbox.id,
            Outbox.partition_key,
            Outbox.key,
            Outbox.delivered_at,
            Outbox.last_error,
            Outbox.payload,
        )
        .where(Outbox.key.startswith(f"alert:{alert_id}:", autoescape=True))
        .order_by(Outbox.id)
    )
    found = []
    for row in conn.execute(stmt):
        payload = row.payload if isinstance(row.payload, dict) else {}
        event = row.key.split(":")[2]
        found.append(
            AlertMessage(
                row.id,
                row.partition_key,
                event,
                row.delivered_at,
                row.last_error,
                str(payload.get("title", "")),
                str(payload.get("text", "")),
            )
        )
    return found
