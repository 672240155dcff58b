"""Alert lifecycle: one open alert per (kind, SKU, location), no flapping, escalation, resolution.

``apply_findings`` takes the current positions of the SKUs that changed and, in the caller's
transaction: opens an alert for a new shortage (message ``opened``); on an open one follows the
current severity but sends a message only when it gets worse (``worse:<severity>``) — the same
shortage seen again, or easing, sends nothing; resolves it when stock has clearly recovered
(hysteresis, message ``resolved``). While an alert is open its numbers follow the stock, and the
messages about it still waiting in the outbox are rewritten to match (``notify.refresh_waiting``):
what a manager receives says what ``erpsync alerts list`` says.
``escalate`` re-sends critical alerts nobody acknowledged in time. ``open_key`` is set only
while an alert is open, and is unique: two workers cannot open the same alert twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from alerts.notify import AlertPolicy, Where, notify, refresh_waiting
from alerts.shortage import Position, Rule, assess, recovered, rule_for, suggestion
from core.statuses import SEVERITY_RANK, AlertSeverity, AlertState
from store.batching import select_in
from store.models import Alert, Location


@dataclass
class Summary:
    opened: int = 0
    worse: int = 0
    resolved: int = 0
    escalated: int = 0


def shortage_key(sku: str, location: str) -> str:
    return f"shortage:{sku}@{location}"


def _open_alerts(conn: Connection, keys: Sequence[str]) -> dict[str, Any]:
    rows = select_in(
        conn, lambda part: select(Alert.__table__).where(Alert.open_key.in_(part)).with_for_update(), keys
    )
    return {r.open_key: r for r in rows}


def apply_findings(
    conn: Connection,
    *,
    policy: AlertPolicy,
    rules: Sequence[Rule],
    positions: Sequence[Position],
    others: Sequence[Position],
    where: Mapping[str, Where],
    now: datetime,
) -> Summary:
    """Open, worsen or resolve shortage alerts for ``positions`` (see the module docstring)."""
    summary = Summary()
    changed: dict[int, dict[str, Any]] = {}  # open alerts whose numbers moved: their waiting messages follow
    current = _open_alerts(conn, [shortage_key(p.sku, p.location) for p in positions])
    loc_ids = dict(conn.execute(select(Location.code, Location.id)).tuples().all())
    for p in positions:
        rule = rule_for(rules, p)
        if rule is None:
            continue
        key = shortage_key(p.sku, p.location)
        finding, existing = assess(rule, p), current.get(key)
        if finding is not None:
            details = {
                "available": p.available,
                "velocity": round(p.velocity, 3),
                "reason": finding.reason,
                "threshold": finding.threshold,
                "suggestion": suggestion(p, finding, others, rules, policy.hysteresis),
                "cover_days": None if finding.cover == float("inf") else round(finding.cover, 2),
                "cover_target": rule.cover_days,
            }
            alert = {
                "kind": "shortage",
                "severity": finding.severity,
                "sku": p.sku,
                "location": p.location,
                "subject": f"{p.sku} @ {p.location}",
                **details,
            }
            if existing is None:
                res = conn.execute(
                    insert(Alert).values(
                        kind="shortage",
                        sku=p.sku,
                        location_id=loc_ids.get(p.location),
                        severity=finding.severity,
                        state=AlertState.OPEN,
                        open_key=key,
                        details=details,
                        opened_at=now,
                        updated_at=now,
                    )
                )
                alert_id = int(res.inserted_primary_key[0])  # type: ignore[index]
                summary.opened += (
                    notify(
                        conn,
                        policy,
                        alert_id=alert_id,
                        event="opened",
                        alert=alert,
                        where=where[p.location],
                        now=now,
                    )
                    and 1
                )
            else:
                worse = SEVERITY_RANK[finding.severity] > SEVERITY_RANK[existing.severity]
                if details != existing.details or finding.severity != existing.severity:
                    changed[existing.id] = alert
                conn.execute(
                    update(Alert)
                    .where(Alert.id == existing.id)
                    .values(
                        severity=finding.severity,  # easing is recorded silently; only worse is announced
                        details=details,
                        updated_at=now,
                    )
                )
                if worse and not _muted(existing, now):
                    notify(
                        conn,
                        policy,
                        alert_id=existing.id,
                        event=f"worse:{finding.severity}",
                        alert=alert,
                        where=where[p.location],
                        now=now,
                    )
                    summary.worse += 1
        elif existing is not None and recovered(rule, p, policy.hysteresis):
            _resolve(conn, policy=policy, row=existing, p=p, where=where[p.location], now=now)
            summary.resolved += 1
    refresh_waiting(conn, policy, changed, now)
    return summary


def _muted(row: Any, now: datetime) -> bool:
    return row.muted_until is not None and row.muted_until > now


def _resolve(
    conn: Connection, *, policy: AlertPolicy, row: Any, p: Position, where: Where, now: datetime
) -> None:
    conn.execute(
        update(Alert)
        .where(Alert.id == row.id)
        .values(state=AlertState.RESOLVED, open_key=None, resolved_at=now, updated_at=now)
    )
    if not _muted(row, now):
        alert = {
            "kind": row.kind,
            "severity": row.severity,
            "sku": p.sku,
            "location": p.location,
            "subject": f"{p.sku} @ {p.location}",
            "available": p.available,
            "reason": f"{p.available} available again",
        }
        notify(conn, policy, alert_id=row.id, event="resolved", alert=alert, where=where, now=now)


def escalate(conn: Connection, policy: AlertPolicy, where: Mapping[int, Where], now: datetime) -> int:
    """Send critical alerts nobody acknowledged within ``escalate_after`` again, marked escalated."""
    due = now - policy.escalate_after
    rows = conn.execute(
        select(Alert.__table__)
        .where(
            Alert.state == AlertState.OPEN,
            Alert.severity.in_((AlertSeverity.CRITICAL, AlertSeverity.OUT_OF_STOCK)),
            ((Alert.escalated_at.is_(None) & (Alert.opened_at <= due)) | (Alert.escalated_at <= due)),
        )
        .with_for_update()
    ).all()
    count = 0
    for row in rows:
        if _muted(row, now):
            continue
        conn.execute(update(Alert).where(Alert.id == row.id).values(escalated_at=now, updated_at=now))
        place = (where.get(row.location_id) if row.location_id is not None else None) or Where()
        alert = {
            "kind": row.kind,
            "severity": row.severity,
            "sku": row.sku,
            "subject": f"{row.sku} @ {place.code}"
            if row.sku
            else (row.details or {}).get("subject", row.kind),
            **(row.details or {}),
        }
        notify(
            conn,
            policy,
            alert_id=row.id,
            event=f"escalated:{now:%Y%m%d%H%M}",
            alert=alert,
            where=place,
            now=now,
        )
        count += 1
    return count


def acknowledge(conn: Connection, alert_id: int, by: str, now: datetime) -> bool:
    """A person took the alert on: it is no longer escalated (it still resolves by itself)."""
    result = conn.execute(
        update(Alert)
        .where(Alert.id == alert_id, Alert.state == AlertState.OPEN)
        .values(state=AlertState.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=by, updated_at=now)
    )
    return bool(result.rowcount)


def mute(conn: Connection, alert_id: int, until: datetime, now: datetime) -> bool:
    """No messages about this alert until ``until``."""
    result = conn.execute(update(Alert).where(Alert.id == alert_id).values(muted_until=until, updated_at=now))
    return bool(result.rowcount)
