"""The work of ``erpsync run`` by name: what an executor's workers run (``sync.executor.Work``).

``Runner(engine, cfg)`` builds once what the config describes — every enabled stream's job, the
scheduled tasks (per channel its stock planning and drift check, order processing, the alert
passes, the digest) and the outbox worker with a handler for every topic erpsync writes — and
runs one unit at a time by its names:

- ``run_stream(connector, stream)``: the stream once (under its lease), then, for a stock stream
  that changed something, the shortage evaluation of what changed;
- ``run_task(name)``: the task once, its run recorded in ``task_state`` (the service schedules
  the task's next run from it);
- ``drain_outbox(topic)``: the topic's due messages, batch after batch, until none is left.

The thread executor of ``erpsync run`` shares one Runner between its threads; a worker process
of another executor builds one of its own from the same config file. Nothing a run needs from an
earlier one is kept here: cursors, leases, checkpoints and last runs are in the database.

>>> runner = Runner(engine, load_config("erpsync.yaml"))
>>> runner.run_stream("erp", "stock").status
'ok'
"""

from __future__ import annotations

import threading
from datetime import timedelta
from functools import partial

import structlog
from sqlalchemy import Engine

from alerts.notify import TOPIC as ALERT_TOPIC
from config import ErpsyncConfig
from core.clock import utcnow
from core.errors import ErpsyncError
from delivery.worker import OutboxWorker, RunStats
from erpsync.alerting import AlertEvaluator, Digest, DriftAlerts, OperationalCheck
from erpsync.planning import ChannelPlanner
from erpsync.startup import Startup, check_startup
from erpsync.wiring import unsealer
from routing import dispatch
from routing.dispatch import InstructionHandler
from routing.erp import TOPIC as ERP_TOPIC
from routing.erp import ErpOrderHandler
from routing.fulfilment import FulfilmentHandler
from routing.process import OrderSettings, process_orders
from store.task_state import fingerprint, record_run
from sync import lease as leases
from sync.engine import RunResult, run_stream
from sync.outbound import TOPIC
from sync.scheduler import Schedule, Task
from sync.stock_push import PushHandler

log = structlog.get_logger("erpsync.service")


class Runner:
    """Runs streams, tasks and outbox topics by name (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        cfg: ErpsyncConfig,
        *,
        parts: Startup | None = None,
        owner: str | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        parts = parts or check_startup(cfg)
        self.engine = engine
        self.owner = owner or leases.worker_id()
        self.stop = stop or threading.Event()
        self.jobs = {(p.job.connector.name, p.job.stream): p.job for p in parts.streams}
        config = config_fingerprint(cfg)
        self.evaluator = AlertEvaluator(engine, parts.alerts, config=config)
        tasks = service_tasks(engine, cfg, parts, evaluator=self.evaluator, owner=self.owner, config=config)
        self.tasks = {t.name: t for t in tasks}
        self.outbox = outbox_worker(engine, cfg, parts)

    def run_stream(self, connector: str, stream: str) -> RunResult | None:
        """The stream's run, or None when it failed (the engine has recorded and logged why)."""
        job = self.jobs[(connector, stream)]
        try:
            result = run_stream(self.engine, job, owner=self.owner, stop=self.stop)
        except ErpsyncError:
            return None  # already recorded in sync_run and logged by the engine
        except Exception:
            log.exception("stream crashed", connector=connector, stream=stream)
            return None
        self.evaluator.after_run(job, result)
        return result

    def run_task(self, name: str) -> object:
        """What the task returned, or None when it failed (logged)."""
        started = utcnow()
        try:
            return self.tasks[name].run()
        except Exception:
            log.exception("task failed", task=name)
            return None
        finally:
            record_run(self.engine, name, started)

    def drain_outbox(self, topic: str) -> RunStats:
        """What happened to the due messages of ``topic``, delivered until none is left."""
        return self.outbox.drain(topic, self.stop)

    def close(self) -> None:
        """Close the connectors' connections."""
        for job in self.jobs.values():
            job.connector.close()


def config_fingerprint(cfg: ErpsyncConfig) -> str:
    """The fingerprint of the whole configuration: a checkpoint reached under another is not used."""
    return fingerprint(cfg.model_dump(mode="json"))


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


def channel_tasks(engine: Engine, cfg: ErpsyncConfig, parts: Startup, owner: str, config: str) -> list[Task]:
    """Per enabled channel: its stock planning and, when configured, its drift check."""
    tasks = []
    for ch in cfg.channels:
        channel = parts.stock_channels.get(ch.name)
        if channel is None:
            continue
        planner = ChannelPlanner(engine, parts.policies, ch.name, owner, config=config)
        tasks.append(Task(f"plan:{ch.name}", planner, Schedule(every=ch.push.every, jitter=timedelta(0))))
        if ch.drift.every is not None:
            check = DriftAlerts(
                engine,
                parts.alerts,
                parts.policies,
                channel,
                tolerance=ch.drift.tolerance,
                correct=ch.drift.correct,
            )
            tasks.append(Task(f"drift:{ch.name}", check, Schedule(every=ch.drift.every)))
    return tasks


def service_tasks(
    engine: Engine, cfg: ErpsyncConfig, parts: Startup, *, evaluator: AlertEvaluator, owner: str, config: str
) -> list[Task]:
    """Every scheduled task of the service, by name."""
    tasks = channel_tasks(engine, cfg, parts, owner, config) + order_tasks(engine, parts.orders)
    failing_runs = cfg.alerts.operational.failing_runs
    operational = OperationalCheck(
        engine, parts.alerts, failing_runs=failing_runs, staleness=staleness_limits(cfg)
    )
    tasks += [
        Task("alerts:velocity", evaluator.everything, Schedule(every=timedelta(hours=1))),
        Task("alerts:escalate", evaluator.escalate, Schedule(every=timedelta(minutes=1))),
        Task("alerts:operational", operational, Schedule(every=timedelta(minutes=1))),
    ]
    if cfg.alerts.digest_at and any(r.digest for r in cfg.alerts.routes):
        hour, minute = cfg.alerts.digest_at.split(":")
        zone = cfg.alerts.quiet_hours.timezone if cfg.alerts.quiet_hours else "Asia/Shanghai"
        digest = Schedule(cron=f"{int(minute)} {int(hour)} * * *", timezone=zone)
        tasks.append(Task("alerts:digest", Digest(engine, parts.alerts), digest))
    return tasks


def outbox_worker(engine: Engine, cfg: ErpsyncConfig, parts: Startup) -> OutboxWorker:
    """The outbox worker with a handler for every topic erpsync writes."""
    bound = {p.channel for p in parts.policies if p.bound}
    return OutboxWorker(
        engine,
        {
            TOPIC: PushHandler(engine, parts.stock_channels, bound=bound),
            dispatch.SEND_TOPIC: InstructionHandler(engine, parts.dispatch, unsealer(cfg)),
            dispatch.FULFIL_TOPIC: FulfilmentHandler(engine, parts.fulfilment_channels),
            ALERT_TOPIC: parts.notify,
            ERP_TOPIC: ErpOrderHandler(engine, parts.sales_order_sinks, unsealer(cfg)),
        },
        per_partition={TOPIC: max((c.push.batch for c in cfg.channels), default=50), dispatch.SEND_TOPIC: 20},
        report_unhandled=True,  # it handles every topic erpsync writes: any other is a mistake to report
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
