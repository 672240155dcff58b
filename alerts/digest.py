"""The daily digest: one message per digest destination listing the alerts still open.

Routes with ``digest: true`` send nothing per event; instead, at ``alerts.digest_at`` (local
time of the quiet-hours time zone, Asia/Shanghai by default) each of their destinations gets one
message listing the open alerts that route covers, most severe first. The outbox key carries
the date, so a digest is sent once per day whatever the number of workers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection, select

from alerts.notify import AlertPolicy, RouteRule, Where, destinations_for
from core.statuses import SEVERITY_RANK, AlertSeverity
from store.models import Alert, Location
from store.outbox import NewMessage, enqueue_many

TOPIC = "alert.notify"
TITLES = {"en": "erpsync daily digest: {n} open alert(s)", "zh-CN": "erpsync 每日汇总：{n} 条未关闭预警"}


def _covered(route: RouteRule, kind: str, severity: str, where: Where) -> bool:
    digestless = RouteRule(
        route.destinations, route.regions, route.levels, route.locations, route.kinds, route.min_severity
    )
    return bool(destinations_for(AlertPolicy(routes=(digestless,)), kind, severity, where))


def _about(row: object) -> str:
    sku, code, details, kind = row.sku, row.code, row.details, row.kind  # type: ignore[attr-defined]
    return f"{sku} @ {code or ''}" if sku else str((details or {}).get("subject", kind))


def send_digest(conn: Connection, policy: AlertPolicy, places: Mapping[int, Where], now: datetime) -> int:
    """Queue today's digest for every digest route's destinations; returns how many were queued."""
    rows = conn.execute(
        select(
            Alert.id, Alert.kind, Alert.severity, Alert.sku, Alert.location_id, Alert.details, Location.code
        )
        .outerjoin(Location, Location.id == Alert.location_id)
        .where(Alert.open_key.is_not(None))
    ).all()
    lang = policy.language if policy.language in TITLES else "en"
    messages = []
    for route in (r for r in policy.routes if r.digest):
        covered = [
            r for r in rows if _covered(route, r.kind, r.severity, places.get(r.location_id or -1, Where()))
        ]
        if not covered:
            continue
        covered.sort(key=lambda r: (-SEVERITY_RANK[r.severity], r.id))
        lines = [
            f"#{r.id} {r.severity}: {_about(r)} — {(r.details or {}).get('reason', '')}" for r in covered
        ]
        title = TITLES[lang].format(n=len(covered))
        payload: dict[str, object] = {
            "title": title,
            "text": "\n".join([title, *lines]),
            "markdown": None,
            "html": None,
            "severity": AlertSeverity.INFO,
            "language": lang,
            "mention": [],
            "link": None,
        }
        messages += [
            NewMessage(TOPIC, f"digest:{now:%Y-%m-%d}:{name}", payload, partition=name)
            for name in route.destinations
        ]
    return enqueue_many(conn, messages)
