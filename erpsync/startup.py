"""What the service builds from its config at start, checked as a whole before anything runs.

``erpsync run`` builds its service from :func:`check_startup`, and ``erpsync config validate``
calls the same function, so a config that validates is one the service starts with. It builds
everything ``erpsync.service`` needs (through ``erpsync.wiring``) and reports every problem at
once, each as ``FILE:LINE PATH: message`` like the loader's own findings:

- every connector is built from its settings (a SQL connector's url and database driver, ...);
- every enabled stream of an enabled connector is one its kind offers, of a stream kind erpsync
  lands (``sync.kinds``; a stream named in the settings of a ``rest``, ``sql`` or ``file``
  connector is of the kind its ``kind:`` names, else of the kind its name is), and its field map
  compiles: the config's ``mapping:`` or else the kind's default — a bad JMESPath, a field the
  record does not have, an unknown converter, a required field left unmapped, each at its own line;
- every enabled channel's connector accepts stock pushes;
- ``routing.erp_connector`` names a connector that creates sales orders and whose settings turn
  that on (Tryton: ``sale.create_sales`` and ``sale.customer_party``; Odoo: ``create_sales`` and
  ``partner_id``; Kingdee: ``create_sales``, ``customer_number`` and ``sale_org``);
- every alert destination can be used as configured (a DingTalk secret starts with ``SEC``);
- once the config reads orders (an enabled stream whose kind is routed: ``orders``), every
  location the router may send an order to has a ``dispatch:`` target: a location serving
  ``regions``, the location of a pin, ``routing.fallback`` or, without one, the warehouse at the
  top of the tree the router falls back to. Without a target its dispatch instructions would wait
  in the outbox for ever.

Disabled connectors and streams are not built, as the service does not build them. The checks run
on a loaded config: a file with problems of its own (``config.load_config``) is reported first.

Errors: ``ConfigError`` whose ``problems`` list every finding, sorted by line.

Example::

    parts = check_startup(load_config("erpsync.yaml"))
    parts.streams[0].job.stream            # 'stock'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from alerts.evaluate import AlertSettings
from alerts.notifiers import NotifyHandler
from config import ConnectorConfig, ErpsyncConfig, Loc, Problem, invalid_config
from connectors.base import Connector
from core.errors import ConfigError
from core.ports import FulfilmentChannel, SalesOrderSink, StockChannel
from erpsync.wiring import (
    PlannedStream,
    alert_settings,
    build_connector,
    channel_policies,
    dispatch_sender,
    fulfilment_channel,
    mapping_spec,
    notifier_destination,
    order_settings,
    plan_stream,
    sales_order_sink,
    sealer,
    stock_channel,
    stream_kind,
)
from mapping.fieldmap import FieldMap
from routing.delivery import DispatchSender
from routing.process import OrderSettings
from sync.kinds import KINDS, landed_kind
from sync.sellable import ChannelPolicy

T = TypeVar("T")


@dataclass(frozen=True)
class Startup:
    """Everything the service is built from, each part checked."""

    streams: list[PlannedStream]
    policies: list[ChannelPolicy]
    stock_channels: dict[str, StockChannel]
    fulfilment_channels: dict[str, FulfilmentChannel]
    sales_order_sinks: dict[str, SalesOrderSink]
    dispatch: DispatchSender
    notify: NotifyHandler
    alerts: AlertSettings
    orders: OrderSettings


class _Findings:
    """The problems found so far, each at the line of the value it is about."""

    def __init__(self, cfg: ErpsyncConfig) -> None:
        self.cfg = cfg
        self.problems: list[Problem] = []

    def add(self, loc: Loc, message: str, *, key: bool = False) -> None:
        self.problems.append(self.cfg.problem(loc, message, key=key))

    def build(self, loc: Loc, make: Callable[..., T], *args: Any, key: bool = False) -> T | None:
        """Return ``make(*args)``, or None after noting the ``ConfigError``/``ValueError`` it raised."""
        try:
            return make(*args)
        except ConfigError as exc:
            for problem in exc.problems:
                self.add(loc, problem, key=key)
        except ValueError as exc:  # the models' own checks, e.g. a notifier destination's
            self.add(loc, str(exc), key=key)
        return None


def check_startup(cfg: ErpsyncConfig) -> Startup:
    """Return the parts of the service built from ``cfg``; ``ConfigError`` listing every problem."""
    found = _Findings(cfg)
    built = {
        c.name: found.build(("connectors", index, "settings"), build_connector, c)
        for index, c in enumerate(cfg.connectors)
    }
    alerts = found.build(("alerts",), alert_settings, cfg)
    streams = _streams(cfg, found, built, alerts) if alerts is not None else []
    channels = _stock_channels(cfg, found, built)
    sinks = _sales_order_sinks(cfg, found, built)
    destinations = {
        d.name: found.build(("alerts", "destinations", index), notifier_destination, d)
        for index, d in enumerate(cfg.alerts.destinations)
    }
    _dispatch_targets(cfg, found, built)
    policies = found.build(("channels",), channel_policies, cfg)
    orders = found.build(("routing",), order_settings, cfg)
    sender = found.build(("locations",), dispatch_sender, cfg)
    if found.problems or alerts is None or policies is None or orders is None or sender is None:
        raise invalid_config(cfg, found.problems)
    notify = NotifyHandler({name: d for name, d in destinations.items() if d is not None}, sender.smtp)
    fulfilment = {c.name: fulfilment_channel(c) for c in cfg.connectors}
    return Startup(
        streams,
        policies,
        channels,
        {name: channel for name, channel in fulfilment.items() if channel is not None},
        sinks,
        sender,
        notify,
        alerts,
        orders,
    )


def _streams(
    cfg: ErpsyncConfig, found: _Findings, built: dict[str, Connector | None], alerts: AlertSettings
) -> list[PlannedStream]:
    """The job of every enabled stream of every enabled connector that could be built."""
    seal = sealer(cfg)
    planned = []
    for index, c in enumerate(cfg.connectors):
        instance = built[c.name]
        if not c.enabled or instance is None:
            continue
        for name, conf in c.streams.items():
            loc = ("connectors", index, "streams", name)
            if not conf.enabled:
                continue
            if name not in instance.streams:
                offered = ", ".join(sorted(instance.streams)) or "none"
                found.add(
                    loc, f"connector kind {c.kind!r} has no stream {name!r} (it offers: {offered})", key=True
                )
                continue
            if found.build(loc, landed_kind, instance, name, key=True) is None:
                continue
            fields = _field_map(found, loc, c, instance, name)
            if fields is not None:
                planned.append(plan_stream(c, instance, name, fields=fields, seal=seal, alerts=alerts.policy))
    return planned


def _field_map(
    found: _Findings, loc: Loc, c: ConnectorConfig, instance: Connector, name: str
) -> FieldMap | None:
    """The stream's compiled field map, or None after noting each bad field at its own line."""
    spec = found.build(loc, mapping_spec, instance, c, name, key=True)
    if spec is None:
        return None
    try:
        return FieldMap.compile(spec, stream_kind(instance, c, name).record)
    except ValueError as exc:
        written = c.streams[name].mapping
        for line in str(exc).splitlines():
            if written is None:
                found.add(loc, f"the default mapping of kind {c.kind!r}: {line}", key=True)
                continue
            field, _, message = line.partition(": ")
            top, _, inner = field.partition(".")
            if top in written:  # the line of the field at fault
                found.add((*loc, "mapping", top), f"{inner}: {message}" if inner else message)
            else:
                found.add((*loc, "mapping"), line)
    return None


def _stock_channels(
    cfg: ErpsyncConfig, found: _Findings, built: dict[str, Connector | None]
) -> dict[str, StockChannel]:
    by_name = {c.name: c for c in cfg.connectors}
    channels = {}
    for index, ch in enumerate(cfg.channels):
        if ch.enabled and built.get(ch.name) is not None:
            channel = found.build(("channels", index, "name"), stock_channel, by_name[ch.name])
            if channel is not None:
                channels[ch.name] = channel
    return channels


def _sales_order_sinks(
    cfg: ErpsyncConfig, found: _Findings, built: dict[str, Connector | None]
) -> dict[str, SalesOrderSink]:
    name = cfg.routing.erp_connector
    conf = next((c for c in cfg.connectors if c.name == name), None)
    if name is None or conf is None or built.get(name) is None:
        return {}  # no such connector is the loader's finding; a broken one is noted already
    sink = found.build(("routing", "erp_connector"), sales_order_sink, conf)
    return {name: sink} if sink is not None else {}


def reads_orders(cfg: ErpsyncConfig, built: dict[str, Connector | None]) -> bool:
    """Whether the service takes orders in: an enabled stream of an enabled connector is of a routed kind."""
    for c in cfg.connectors:
        instance = built.get(c.name)
        if not c.enabled or instance is None:
            continue
        for name, conf in c.streams.items():
            meta = instance.streams.get(name)
            kind = KINDS.get(meta.kind) if meta is not None else None
            if conf.enabled and kind is not None and kind.routed:
                return True
    return False


def routing_targets(cfg: ErpsyncConfig) -> dict[str, str]:
    """Each location code the router may send an order to, with why (see the module docstring)."""
    targets: dict[str, str] = {}
    for loc in cfg.locations:
        if loc.regions:
            targets.setdefault(loc.code, "it serves regions")
    for pin in cfg.routing.pins:
        targets.setdefault(pin.location, "a routing pin names it")
    if cfg.routing.fallback is not None:
        targets.setdefault(cfg.routing.fallback, "it is routing.fallback")
    else:
        roots = [loc for loc in cfg.locations if loc.parent is None and loc.kind == "warehouse"]
        if roots:
            top = min(roots, key=lambda loc: (loc.priority, loc.code))
            targets.setdefault(top.code, "it is the warehouse the router falls back to (no routing.fallback)")
    return targets


def _dispatch_targets(cfg: ErpsyncConfig, found: _Findings, built: dict[str, Connector | None]) -> None:
    if not reads_orders(cfg, built):
        return
    targets = routing_targets(cfg)
    for index, loc in enumerate(cfg.locations):
        if loc.dispatch is None and loc.code in targets:
            found.add(
                ("locations", index),
                f"location {loc.code!r} has no dispatch target but orders can be routed to it "
                f"({targets[loc.code]}): add `dispatch:` (webhook, csv or email)",
            )
