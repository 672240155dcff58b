"""The service ``erpsync run`` starts: streams, stock planning and pushing, drift checks.

Assembles, from the config: one scheduled job per stream; per channel a planning task (its
``push.every``: first a full plan, then only what changed since the previous plan) and, when
configured, a drift check; and one outbox worker thread that delivers every queued message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import Engine

from alerts.notify import TOPIC as ALERT_TOPIC
from config import ErpsyncConfig
from core.clock import utcnow
from delivery.worker import OutboxWorker
from erpsync.alerting import AlertEvaluator, Digest, DriftAlerts, OperationalCheck
from erpsync.api import ApiTokenSpec, create_app
from erpsync.api_server import ApiServer
from erpsync.startup import check_startup
from erpsync.wiring import unsealer
from routing import dispatch
from routing.dispatch import InstructionHandler
from routing.erp import TOPIC as ERP_TOPIC
from routing.erp import ErpOrderHandler
from routing.fulfilment import FulfilmentHandler
from routing.process import OrderSettings, process_orders
from store.nonces import SqlNonceStore
from sync import lease as leases
from sync.outbound import TOPIC, channel_blockers, plan_and_enqueue
from sync.scheduler import Schedule, Service, Task
from sync.sellable import ChannelPolicy
from sync.stock_push import PushHandler


class ChannelPlanner:
    """Plans one channel: everything the first time, then what changed since the last plan.

    While the channel is blocked (no stock report yet from a source, a held snapshot) nothing is
    planned, and the first plan after it is a full one: what changed meanwhile was never planned.
    """

    def __init__(self, engine: Engine, policies: Sequence[ChannelPolicy], channel: str, owner: str) -> None:
        self.engine, self.policies, self.channel, self.owner = engine, policies, channel, owner
        self.since: datetime | None = None

    def __call__(self) -> int:
        lease = leases.acquire(self.engine, self.channel, "stock_plan", self.owner, timedelta(minutes=5))
        if lease is None:
            return 0  # another worker plans this channel right now
        started = utcnow()
        policy = next(p for p in self.policies if p.channel == self.channel)
        try:
            blocked = bool(channel_blockers(self.engine, policy))
            # a blocked channel plans nothing (the planner logs why)
            queued = plan_and_enqueue(self.engine, self.policies, self.channel, since=self.since)
            # blocked before or while planning (a snapshot held meanwhile): plan everything next time
            self.since = None if blocked or channel_blockers(self.engine, policy) else started
        finally:
            leases.release(self.engine, lease)
        return queued


def order_tasks(engine: Engine, settings: OrderSettings) -> list[Task]:
    """Orders: route what came in, send recalls, re-send what a warehouse did not acknowledge."""
    # no start jitter: it reads our own database only, and a jitter longer than 5 s would make
    # "every 5 s" every 5 to 15 s
    return [
        Task(
            "orders:process",
            partial(process_orders, engine, settings),
            Schedule(every=timedelta(seconds=5), jitter=timedelta(0)),
        ),
        Task(
            "dispatch:recalls",
            partial(dispatch.request_recalls, engine),
            Schedule(every=timedelta(seconds=30)),
        ),
        Task("dispatch:sla", partial(dispatch.resend_overdue, engine), Schedule(every=timedelta(minutes=1))),
    ]


def build_service(engine: Engine, cfg: ErpsyncConfig, *, max_workers: int = 4) -> Service:
    """The service for ``cfg``: scheduled streams, channel planners, drift checks, outbox worker.

    ``ConfigError`` lists every problem :func:`erpsync.startup.check_startup` finds in ``cfg``.
    """
    parts = check_startup(cfg)
    planned = [p for p in parts.streams if p.schedule is not None]
    policies = parts.policies
    channels = parts.stock_channels
    owner = leases.worker_id()
    alerting = parts.alerts
    evaluator = AlertEvaluator(engine, alerting)
    tasks = []
    for ch in cfg.channels:
        if ch.name not in channels:
            continue
        tasks.append(
            Task(
                f"plan:{ch.name}",
                ChannelPlanner(engine, policies, ch.name, owner),
                Schedule(every=ch.push.every, jitter=timedelta(0)),
            )
        )
        if ch.drift.every is not None:
            check = DriftAlerts(
                engine,
                alerting,
                policies,
                channels[ch.name],
                tolerance=ch.drift.tolerance,
                correct=ch.drift.correct,
            )
            tasks.append(Task(f"drift:{ch.name}", check, Schedule(every=ch.drift.every)))
    tasks += order_tasks(engine, parts.orders)
    operational = OperationalCheck(
        engine, alerting, failing_runs=cfg.alerts.operational.failing_runs, staleness=staleness_limits(cfg)
    )
    tasks += [
        Task("alerts:velocity", evaluator.everything, Schedule(every=timedelta(hours=1))),
        Task("alerts:escalate", evaluator.escalate, Schedule(every=timedelta(minutes=1))),
        Task("alerts:operational", operational, Schedule(every=timedelta(minutes=1))),
    ]
    if cfg.alerts.digest_at and any(r.digest for r in cfg.alerts.routes):
        hour, minute = cfg.alerts.digest_at.split(":")
        zone = cfg.alerts.quiet_hours.timezone if cfg.alerts.quiet_hours else "Asia/Shanghai"
        tasks.append(
            Task(
                "alerts:digest",
                Digest(engine, alerting),
                Schedule(cron=f"{int(minute)} {int(hour)} * * *", timezone=zone),
            )
        )
    worker = OutboxWorker(
        engine,
        {
            TOPIC: PushHandler(engine, channels, bound={p.channel for p in policies if p.bound}),
            dispatch.SEND_TOPIC: InstructionHandler(engine, parts.dispatch, unsealer(cfg)),
            dispatch.FULFIL_TOPIC: FulfilmentHandler(engine, parts.fulfilment_channels),
            ALERT_TOPIC: parts.notify,
            ERP_TOPIC: ErpOrderHandler(engine, parts.sales_order_sinks, unsealer(cfg)),
        },
        per_partition={TOPIC: max((c.push.batch for c in cfg.channels), default=50), dispatch.SEND_TOPIC: 20},
        report_unhandled=True,  # it handles every topic erpsync writes: any other is a mistake to report
    )
    background = [lambda stop: worker.run_forever(stop, idle_sleep=0.5)]
    return Service(
        engine,
        [(p.job, p.schedule) for p in planned if p.schedule],
        max_workers=max_workers,
        owner=owner,
        on_result=evaluator.after_run,
        tasks=tasks,
        background=background,
    )


def staleness_limits(cfg: ErpsyncConfig) -> dict[tuple[str, str], timedelta]:
    """Each stream's ``staleness`` limit, for health checks and operational alerts."""
    return {
        (c.name, s): conf.staleness
        for c in cfg.connectors
        if c.enabled
        for s, conf in c.streams.items()
        if conf.staleness is not None
    }


def build_api(engine: Engine, cfg: ErpsyncConfig, service: Service) -> ApiServer:
    """The HTTP API on ``api.listen``: health, metrics, warehouse acknowledgements and shipments."""
    tokens = [
        ApiTokenSpec(t.name, t.token.get_secret_value(), t.role, tuple(t.locations)) for t in cfg.api.tokens
    ]
    secrets = {
        loc.code: loc.dispatch.secret.get_secret_value()
        for loc in cfg.locations
        if loc.dispatch is not None and loc.dispatch.secret is not None
    }
    app = create_app(
        engine,
        tokens,
        location_secrets=secrets,
        nonce_store=SqlNonceStore(engine),
        health=lambda: {
            "ok": service.scheduler.running,
            "jobs": len(service.jobs),
            "tasks": len(service.tasks),
        },
        staleness=staleness_limits(cfg),
        max_body_bytes=cfg.api.max_body_bytes,
    )
    return ApiServer(app, cfg.api.listen)
