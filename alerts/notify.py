"""Who hears about an alert, when, and in what words; messages go through the outbox.

``destinations_for`` applies the routes: a route matches when every key it gives holds (the
alert's kind, the location's level or code, a region the location serves — a route for
``广东省`` matches a location serving ``广东省/广州市``) and the severity is at least its
``min_severity``; every matching route's destinations receive the message once.

Quiet hours delay all but critical messages to the end of the window (they are queued with
``not_before``). Each message is one outbox row per destination (topic ``alert.notify``,
partition = destination) keyed ``alert:<id>:<event>:<destination>``: queued once, delivered
once to a receiver that dedupes by that key.

Texts come from templates (English and Simplified Chinese by default, ``alerts.language``); IT
staff can override them with a folder of ``<event>.<language>.j2`` files. A template gets the
alert's fields, ``reason`` and ``what_to_do`` in its language (``alerts.texts``), ``kind_label``,
``severity_label``, ``event`` and ``alert_id``. ``refresh_waiting`` rewrites the messages not yet
delivered when an open alert's numbers change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from sqlalchemy import Connection, or_, select, update

from alerts import texts
from core.statuses import SEVERITY_RANK, AlertSeverity
from store.batching import select_in
from store.models import Outbox
from store.outbox import NewMessage, enqueue_many

TOPIC = "alert.notify"


@dataclass(frozen=True)
class RouteRule:
    destinations: tuple[str, ...]
    regions: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    min_severity: str = AlertSeverity.WARNING
    #: this route's destinations get one daily digest instead of a message per event
    digest: bool = False


@dataclass(frozen=True)
class Quiet:
    start: time
    end: time
    zone: ZoneInfo

    def release_time(self, now: datetime) -> datetime | None:
        """When a message written at ``now`` may go out (None: now)."""
        local = now.astimezone(self.zone)
        t = local.time()
        inside = (self.start <= t or t < self.end) if self.start > self.end else (self.start <= t < self.end)
        if not inside:
            return None
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local:
            end += timedelta(days=1)
        return end


@dataclass(frozen=True)
class AlertPolicy:
    routes: tuple[RouteRule, ...] = ()
    quiet: Quiet | None = None
    language: str = "en"
    escalate_after: timedelta = timedelta(hours=2)
    hysteresis: float = 0.2
    templates: Path | None = None
    mentions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Where:
    """The location an alert is about, as routes see it."""

    code: str | None = None
    level: str | None = None
    regions: tuple[str, ...] = ()


def _covers(route_region: str, region: str) -> bool:
    return (
        region == route_region
        or region.startswith(route_region + "/")
        or route_region.startswith(region + "/")
    )


def destinations_for(policy: AlertPolicy, kind: str, severity: str, where: Where) -> list[str]:
    """Destination names for an alert, in route order, each once."""
    found: list[str] = []
    for r in policy.routes:
        if r.digest or SEVERITY_RANK[severity] < SEVERITY_RANK[r.min_severity]:
            continue
        if r.kinds and kind not in r.kinds:
            continue
        if r.levels and where.level not in r.levels:
            continue
        if r.locations and where.code not in r.locations:
            continue
        if r.regions and not any(_covers(rr, reg) for rr in r.regions for reg in where.regions):
            continue
        found += [d for d in r.destinations if d not in found]
    return found


_DEFAULTS = {
    "en": {
        "title": "{% if event == 'resolved' %}Resolved: {% elif event.startswith('escalated') %}ESCALATED: "
        "{% endif %}{{ kind_label }} — {{ subject }}",
        "text": "{{ severity|upper }} {{ kind_label }}: {{ subject }}\n{{ reason }}"
        "{% if what_to_do %}\nWhat to do: {{ what_to_do }}.{% endif %}"
        "{% if event == 'resolved' %}\nStock has recovered.{% endif %}"
        "\nAcknowledge: erpsync alerts ack {{ alert_id }}",
    },
    "zh-CN": {
        "title": "{% if event == 'resolved' %}已恢复：{% elif event.startswith('escalated') %}【升级】"
        "{% endif %}{{ kind_label }} — {{ subject }}",
        "text": "【{{ severity_label }}】{{ kind_label }}：{{ subject }}\n{{ reason }}"
        "{% if what_to_do %}\n建议：{{ what_to_do }}。{% endif %}"
        "{% if event == 'resolved' %}\n库存已恢复。{% endif %}"
        "\n确认：erpsync alerts ack {{ alert_id }}",
    },
}
KIND_LABELS = {
    "en": {
        "shortage": "Stock shortage",
        "sync_failing": "Sync failing",
        "stream_stale": "Stream stale",
        "unmapped_sku": "Unmapped SKUs",
        "negative_stock": "Negative stock",
        "drift": "Channel drift",
        "dispatch_sla": "Dispatch not acknowledged",
        "snapshot_held": "Stock snapshot held",
        "cursor_ahead": "Records dated in the future",
    },
    "zh-CN": {
        "shortage": "缺货预警",
        "sync_failing": "同步失败",
        "stream_stale": "同步停滞",
        "unmapped_sku": "未映射 SKU",
        "negative_stock": "负库存",
        "drift": "渠道库存偏差",
        "dispatch_sla": "发货单未确认",
        "snapshot_held": "库存快照已暂停",
        "cursor_ahead": "记录时间超前",
    },
}
SEVERITY_LABELS = {"warning": "预警", "critical": "严重", "out_of_stock": "缺货", "info": "提示"}


def render(policy: AlertPolicy, event: str, alert: Mapping[str, Any]) -> dict[str, Any]:
    """The notification (title, text, severity, language) for an alert event."""
    lang = texts.language(policy.language)
    env = jinja2.Environment(autoescape=False, undefined=jinja2.ChainableUndefined)  # noqa: S701 - plain text
    context = {
        **alert,
        "event": event,
        "kind_label": KIND_LABELS[lang].get(alert["kind"], alert["kind"]),
        "severity_label": SEVERITY_LABELS.get(alert["severity"], alert["severity"]),
        "suggestion": alert.get("suggestion") or {},
        "reason": texts.reason(alert["kind"], alert["severity"], alert, lang, resolved=event == "resolved"),
        "what_to_do": "" if event == "resolved" else texts.what_to_do(alert, lang),
    }
    parts = {}
    for part in ("title", "text"):
        override = (
            policy.templates / f"{event.split(':', maxsplit=1)[0]}.{part}.{lang}.j2"
            if policy.templates
            else None
        )
        source = (
            override.read_text(encoding="utf-8") if override and override.exists() else _DEFAULTS[lang][part]
        )
        parts[part] = env.from_string(source).render(context).strip()
    return {
        "title": parts["title"],
        "text": parts["text"],
        "markdown": None,
        "html": None,
        "severity": AlertSeverity.CRITICAL
        if alert["severity"] == AlertSeverity.OUT_OF_STOCK
        else alert["severity"],
        "language": lang,
        "mention": [],
        "link": None,
    }


def notify(
    conn: Connection,
    policy: AlertPolicy,
    *,
    alert_id: int,
    event: str,
    alert: Mapping[str, Any],
    where: Where,
    now: datetime,
) -> int:
    """Queue the event's message for every destination that should hear about it."""
    names = destinations_for(policy, alert["kind"], alert["severity"], where)
    if not names:
        return 0
    message = render(policy, event, {**alert, "alert_id": alert_id})
    later = (
        None
        if alert["severity"] in (AlertSeverity.CRITICAL, AlertSeverity.OUT_OF_STOCK) or not policy.quiet
        else policy.quiet.release_time(now)
    )
    return enqueue_many(
        conn,
        [
            NewMessage(
                TOPIC,
                f"alert:{alert_id}:{event}:{name}",
                {**message, "mention": list(policy.mentions.get(name, ()))},
                partition=name,
                not_before=later,
            )
            for name in names
        ],
    )


def refresh_waiting(
    conn: Connection, policy: AlertPolicy, alerts: Mapping[int, Mapping[str, Any]], now: datetime
) -> int:
    """Rewrite the messages still waiting about ``alerts`` (by id) with what each alert says now.

    A message that was not delivered yet (its destination is down, or quiet hours hold it) would
    otherwise go out with the numbers of the moment it was queued, while ``alerts list`` shows
    today's. A message being delivered (claimed) or already delivered is left as it is; its key,
    event and destination never change. Returns how many were rewritten.
    """
    if not alerts:
        return 0
    unclaimed = or_(Outbox.claimed_until.is_(None), Outbox.claimed_until <= now)
    waiting = select_in(
        conn,
        lambda part: select(Outbox.id, Outbox.key, Outbox.payload).where(
            Outbox.topic == TOPIC,
            or_(*(Outbox.key.startswith(f"alert:{alert_id}:", autoescape=True) for alert_id in part)),
            Outbox.delivered_at.is_(None),
            Outbox.failed_at.is_(None),
            unclaimed,
        ),
        sorted(alerts),
    )
    rewritten = 0
    for row in waiting:
        _, alert_id, event = row.key.split(":", 3)[:3]
        if event == "resolved":
            continue
        message = render(policy, event, {**alerts[int(alert_id)], "alert_id": int(alert_id)})
        payload = {**message, "mention": (row.payload or {}).get("mention", [])}
        if payload != row.payload:
            rewritten += conn.execute(
                update(Outbox)
                .where(Outbox.id == row.id, Outbox.delivered_at.is_(None), unclaimed)
                .values(payload=payload)
            ).rowcount
    return rewritten


__all__ = [
    "TOPIC",
    "AlertPolicy",
    "Quiet",
    "RouteRule",
    "Where",
    "destinations_for",
    "notify",
    "refresh_waiting",
    "render",
]
