"""Composition: turn the validated config into connectors, stream jobs and schedules.

Everything here is construction; no I/O but what the objects do later. Field maps are compiled
now, so a bad mapping is a config error at start-up (naming connector, stream and field), not a
failure at 3 a.m.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.fernet import Fernet

from alerts.evaluate import AlertSettings
from alerts.notifiers.base import Destination as NotifierDestination
from alerts.notify import AlertPolicy, Quiet, RouteRule
from alerts.shortage import Rule as ShortageRule
from config import ConnectorConfig, Destination, ErpsyncConfig, StreamConfig
from connectors.base import Connector
from connectors.registry import connector_class
from core.errors import ConfigError
from core.ports import FulfilmentChannel, SalesOrderSink, StockChannel
from delivery.smtp import SmtpSettings
from mapping.fieldmap import FieldMap
from mapping.pipeline import Mapper
from routing.delivery import DeliveryTarget, DispatchSender
from routing.engine import PinRule, RoutingPolicy
from routing.process import OrderSettings
from store.locations import LocationSpec
from sync.cursor_cap import CursorClock
from sync.engine import StreamJob
from sync.kinds import StreamKind, kind_of, landed_kind
from sync.mapper import StreamMapper
from sync.scheduler import Schedule
from sync.sellable import ChannelPolicy, Override, Rule
from sync.snapshot_guard import DEFAULT_MAX_SHRINK


@dataclass
class PlannedStream:
    """A stream job and its schedule (None: run only on demand)."""

    job: StreamJob
    schedule: Schedule | None


def build_connector(c: ConnectorConfig) -> Connector:
    """An instance of the connector configured as ``c``."""
    return connector_class(c.kind)(c.name, c.parsed_settings)


def stream_kind(connector: Connector, c: ConnectorConfig, stream: str) -> StreamKind:
    """The kind of ``connector``'s stream ``stream``; ``ConfigError`` if it has no such stream or kind."""
    if stream not in connector.streams:
        known = ", ".join(sorted(connector.streams)) or "none"
        raise ConfigError(f"connector {c.name!r} has no stream {stream!r} (it offers: {known})")
    return kind_of(connector, stream)


def mapping_spec(connector: Connector, c: ConnectorConfig, stream: str) -> dict[str, Any]:
    """The stream's field map as written: the config's, else the connector's default."""
    kind = stream_kind(connector, c, stream)
    conf = c.streams.get(stream)
    spec: dict[str, Any] | None = (conf.mapping if conf else None) or dict(
        connector.default_mappings.get(stream, {})
    )
    if not spec:
        raise ConfigError(
            f"connector {c.name}, stream {stream}: no field mapping; add `mapping:` under "
            f"connectors[{c.name}].streams.{stream}"
        )
    if kind.channel_is_connector and "channel" not in spec:
        spec = {**spec, "channel": {"const": c.name}}
    return spec


def field_map(connector: Connector, c: ConnectorConfig, stream: str) -> FieldMap:
    """The stream's compiled field map: the config's, else the connector's default."""
    try:
        spec = mapping_spec(connector, c, stream)
        return FieldMap.compile(spec, stream_kind(connector, c, stream).record)
    except ValueError as exc:
        raise ConfigError(f"connector {c.name}, stream {stream} mapping: {exc}") from None


def sealer(cfg: ErpsyncConfig) -> Callable[[str], str] | None:
    """Encrypts personal data at rest with the configured Fernet key (None when no key is set)."""
    key = cfg.security.encryption_key
    if key is None:
        return None
    fernet = Fernet(key.get_secret_value().encode())
    return lambda text: fernet.encrypt(text.encode()).decode()


def plan_streams(
    cfg: ErpsyncConfig, *, connector: str | None = None, stream: str | None = None
) -> list[PlannedStream]:
    """Jobs for every enabled stream (or the named connector / stream only)."""
    chosen = [c for c in cfg.connectors if (c.name == connector if connector else c.enabled)]
    if connector and not chosen:
        known = ", ".join(c.name for c in cfg.connectors) or "none configured"
        raise ConfigError(f"no connector named {connector!r} in the config (known: {known})")
    seal = sealer(cfg)
    alerts = alert_settings(cfg).policy
    planned = []
    for c in chosen:
        instance = build_connector(c)
        names = [stream] if stream else [s for s, conf in c.streams.items() if conf.enabled]
        for name in names:
            fields = field_map(instance, c, name)
            planned.append(plan_stream(c, instance, name, fields=fields, seal=seal, alerts=alerts))
    return planned


def plan_stream(
    c: ConnectorConfig,
    instance: Connector,
    name: str,
    *,
    fields: FieldMap,
    seal: Callable[[str], str] | None,
    alerts: AlertPolicy,
) -> PlannedStream:
    """The job of one stream of connector ``c`` (built as ``instance``) and its schedule.

    ``ConfigError`` when the stream is of a kind erpsync does not land (``sync.kinds``).
    """
    meta = instance.stream(name)
    kind = landed_kind(instance, name)
    mapper = StreamMapper(c.name, Mapper(kind.record, fields), meta.primary_key, c.skus)
    conf = c.streams.get(name)
    schedule = None
    if conf is not None and (conf.every or conf.cron):
        schedule = Schedule(every=conf.every, cron=conf.cron, jitter=conf.jitter)
    job = StreamJob(
        instance,
        name,
        mapper,
        lag=conf.lag if conf else timedelta(0),
        seal=seal,
        snapshot_missing=conf.missing if conf else "zero",
        max_shrink=conf.max_shrink if conf else DEFAULT_MAX_SHRINK,
        clock=cursor_clock(instance, conf),
        alerts=alerts,
    )
    return PlannedStream(job, schedule)


def cursor_clock(connector: Connector, conf: StreamConfig | None) -> CursorClock:
    """How the stream's cursor relates to time: the config's settings, else the connector's clock."""
    if conf is None:
        return CursorClock(zone=connector.cursor_timezone)
    return CursorClock(conf.clock_skew, conf.cursor_timezone or connector.cursor_timezone, conf.cursor_epoch)


def location_specs(cfg: ErpsyncConfig) -> list[LocationSpec]:
    """The config's location tree in the store's terms."""
    return [
        LocationSpec(
            code=loc.code,
            name=loc.name,
            kind=loc.kind,
            parent=loc.parent,
            regions=tuple(loc.regions),
            priority=loc.priority,
            safety_stock=loc.safety_stock,
            stock_source=loc.stock_source,
        )
        for loc in cfg.locations
    ]


def channel_policies(cfg: ErpsyncConfig) -> list[ChannelPolicy]:
    """Each configured channel's sellable policy, overrides merged onto the channel rule."""
    policies = []
    bound = {c.name for c in cfg.connectors if c.skus == "bound"}
    for ch in cfg.channels:
        base = Rule(**ch.rule.model_dump())
        overrides = tuple(
            Override(
                rule=replace(
                    base, **{k: getattr(o, k) for k in o.model_fields_set if k not in ("sku", "category")}
                ),
                sku=o.sku,
                category=o.category,
            )
            for o in ch.overrides
        )
        locks: dict[str, int] = {}
        for lock in ch.locks:
            locks[lock.sku] = locks.get(lock.sku, 0) + lock.qty
        policies.append(ChannelPolicy(ch.name, tuple(ch.sources), base, overrides, locks, ch.name in bound))
    return policies


def stock_channels(cfg: ErpsyncConfig) -> dict[str, StockChannel]:
    """Connectors of the enabled channels, checked to accept stock pushes."""
    by_name = {c.name: c for c in cfg.connectors}
    return {ch.name: stock_channel(by_name[ch.name]) for ch in cfg.channels if ch.enabled}


def stock_channel(c: ConnectorConfig) -> StockChannel:
    """The connector configured as ``c``, checked to accept stock pushes (``ConfigError`` if not)."""
    connector = build_connector(c)
    if not isinstance(connector, StockChannel) or connector.push_batch_limit <= 0:
        raise ConfigError(
            f"channel {c.name!r}: connector kind {c.kind!r} is not set up to receive "
            "stock pushes (for kind rest, add `stock_push:` to its settings)"
        )
    return connector


def order_settings(cfg: ErpsyncConfig) -> OrderSettings:
    """Routing policy, SLAs and carrier hints from the config."""
    r = cfg.routing
    policy = RoutingPolicy(
        split_allowed=r.split.allowed,
        max_parts=r.split.max_parts,
        fallback=r.fallback,
        pins=tuple(PinRule(p.location, p.channel, p.customer, p.strict) for p in r.pins),
    )
    return OrderSettings(
        policy=policy,
        sla=r.sla,
        sla_by_location={
            loc.code: loc.dispatch.sla for loc in cfg.locations if loc.dispatch and loc.dispatch.sla
        },
        erp_connector=r.erp_connector,
        carrier_by_location={
            loc.code: loc.dispatch.carrier_hint
            for loc in cfg.locations
            if loc.dispatch and loc.dispatch.carrier_hint
        },
    )


def unsealer(cfg: ErpsyncConfig) -> Callable[[str], str] | None:
    """Decrypts personal data stored with ``sealer`` (None when no key is set)."""
    key = cfg.security.encryption_key
    if key is None:
        return None
    fernet = Fernet(key.get_secret_value().encode())
    return lambda token: fernet.decrypt(token.encode()).decode()


def dispatch_sender(cfg: ErpsyncConfig) -> DispatchSender:
    """Delivery targets of every location with ``dispatch:`` settings, and the SMTP server."""
    targets = {}
    for loc in cfg.locations:
        d = loc.dispatch
        if d is not None:
            targets[loc.code] = DeliveryTarget(
                d.method, d.url, d.secret.get_secret_value() if d.secret else None, d.folder, tuple(d.to)
            )
    e = cfg.email
    smtp = SmtpSettings(
        e.host,
        e.port,
        e.security,
        e.username,
        e.password.get_secret_value() if e.password else None,
        e.sender,
        e.timeout_s,
    )
    return DispatchSender(targets, smtp)


def fulfilment_channels(cfg: ErpsyncConfig) -> dict[str, FulfilmentChannel]:
    """Connectors that accept fulfilments (shipments with tracking numbers), by name."""
    found = {c.name: fulfilment_channel(c) for c in cfg.connectors}
    return {name: channel for name, channel in found.items() if channel is not None}


def fulfilment_channel(c: ConnectorConfig) -> FulfilmentChannel | None:
    """The connector configured as ``c`` when it accepts fulfilments, else None."""
    if c.kind == "rest" and getattr(c.parsed_settings, "fulfilment_push", None) is None:
        return None
    connector = build_connector(c)
    return connector if isinstance(connector, FulfilmentChannel) else None


def alert_settings(cfg: ErpsyncConfig) -> AlertSettings:
    """Shortage rules and alert policy from the config."""
    a = cfg.alerts
    quiet = None
    if a.quiet_hours is not None:
        q = a.quiet_hours
        quiet = Quiet(time.fromisoformat(q.start), time.fromisoformat(q.end), ZoneInfo(q.timezone))
    policy = AlertPolicy(
        routes=tuple(
            RouteRule(
                tuple(r.destinations),
                tuple(r.regions),
                tuple(r.levels),
                tuple(r.locations),
                tuple(r.kinds),
                r.min_severity,
                r.digest,
            )
            for r in a.routes
        ),
        quiet=quiet,
        language=a.language,
        escalate_after=a.escalate_after,
        hysteresis=a.hysteresis,
        templates=Path(a.templates) if a.templates else None,
        mentions={d.name: tuple(d.mention) for d in a.destinations},
    )
    rules = tuple(
        ShortageRule(
            warning=r.warning if r.warning is not None else r.reorder_point,
            critical=r.critical,
            cover_days=r.cover_days,
            lead_time_days=r.lead_time_days,
            target_days=r.target_days,
            sku=r.match.sku,
            category=r.match.category,
            location=r.match.location,
            level=r.match.level,
        )
        for r in a.rules
    )
    return AlertSettings(policy, rules, a.velocity_window_days, a.velocity_half_life_days)


def notifier_destination(d: Destination) -> NotifierDestination:
    """Alert destination ``d`` as its notifier takes it (``ValueError`` when it cannot be used)."""
    return NotifierDestination(
        d.kind,
        d.name,
        d.url.get_secret_value() if d.url else None,
        d.secret.get_secret_value() if d.secret else None,
        tuple(d.to),
    )


def sales_order_sinks(cfg: ErpsyncConfig) -> dict[str, SalesOrderSink]:
    """The ERP connector that receives sales documents, when ``routing.erp_connector`` names one."""
    name = cfg.routing.erp_connector
    conf = next((c for c in cfg.connectors if c.name == name), None)
    if name is None or conf is None:
        return {}
    return {name: sales_order_sink(conf)}


def sales_order_sink(c: ConnectorConfig) -> SalesOrderSink:
    """The connector configured as ``c``, checked to create sales orders with its settings."""
    connector = build_connector(c)
    if not isinstance(connector, SalesOrderSink):
        raise ConfigError(f"connector {c.name!r} (kind {c.kind}) cannot create sales orders")
    missing = connector.sales_settings_missing()
    if missing is not None:
        raise ConfigError(
            f"connector {c.name!r} (kind {c.kind}) does not create sales orders with its settings: "
            f"set {missing}"
        )
    return connector
