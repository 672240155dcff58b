"""The service ``erpsync run`` starts: the schedule in this process, the work on its threads.

:func:`build_service` assembles, from the config, a :class:`~sync.scheduler.Service` that decides
*when* work is due — one job per scheduled stream, the scheduled tasks of
:class:`~erpsync.runner.Runner` (per channel its stock planning every ``push.every`` and, when
configured, a drift check; order processing; alert passes; the digest) and the outbox topics
with messages due — and a :class:`~sync.executor.ThreadExecutor` that decides *where*: threads
of this process, running the units by name through one ``Runner``. Another executor would hand
the same names to worker processes, each with a ``Runner`` of its own (``docs/architecture.md``,
"Executors and state").
"""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from config import ErpsyncConfig
from erpsync.api import ApiTokenSpec, create_app
from erpsync.api_server import ApiServer
from erpsync.runner import Runner, staleness_limits
from erpsync.startup import check_startup
from store.nonces import SqlNonceStore
from sync import lease as leases
from sync.executor import ThreadExecutor
from sync.scheduler import ScheduledStream, Service


def build_service(engine: Engine, cfg: ErpsyncConfig, *, max_workers: int = 4) -> Service:
    """The service for ``cfg``: scheduled streams and tasks, outbox topics, on ``max_workers`` threads.

    ``ConfigError`` lists every problem :func:`erpsync.startup.check_startup` finds in ``cfg``.
    """
    parts = check_startup(cfg)
    owner = leases.worker_id()
    stop = threading.Event()
    runner = Runner(engine, cfg, parts=parts, owner=owner, stop=stop)
    streams = [
        ScheduledStream(p.job.connector.name, p.job.stream, p.schedule)
        for p in parts.streams
        if p.schedule is not None
    ]
    topics = len(runner.outbox.handlers)
    executor = ThreadExecutor(runner, max_workers=max_workers, outbox_workers=topics, stop=stop)
    return Service(engine, executor, streams=streams, tasks=list(runner.tasks.values()), owner=owner)


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


__all__ = ["build_api", "build_service", "staleness_limits"]
