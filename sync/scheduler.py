"""The service loop: one APScheduler job per (connector, stream), run by ``erpsync run``.

Each job has ``max_instances=1`` and ``coalesce=True`` (a slow run is never overlapped by the
next one, and missed firings collapse into one), an interval (``every``) or a crontab (``cron``),
and a random start jitter so that many streams do not all hit their systems at the same second.
Interval streams run once soon after start. Across processes, the lease in ``sync.lease`` keeps
two ``erpsync run`` workers from running the same stream at once.

``Service.start()`` first cleans up after a crashed predecessor (``sync.lease.recover``: leases of
processes that are provably gone are freed, their runs marked ``interrupted``, their outbox
claims given back) and repeats the lease and run part every minute.

``Service.stop()`` (the CLI calls it on SIGTERM/SIGINT) sets a stop flag that running streams
check after each committed page, then waits for them: the current page finishes or rolls back,
nothing is left half-done.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from core.clock import utcnow
from core.errors import ErpsyncError
from sync.engine import RunResult, StreamJob, run_stream
from sync.lease import recover, worker_id

log = structlog.get_logger("erpsync.service")
RECOVER_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Task:
    """A scheduled piece of work that is not a stream (planning stock pushes, a drift check)."""

    name: str
    run: Callable[[], object]
    schedule: Schedule


@dataclass(frozen=True)
class Schedule:
    """When a stream runs: every ``every``, or on the crontab ``cron``; ``jitter`` spreads starts."""

    every: timedelta | None = None
    cron: str | None = None
    jitter: timedelta = timedelta(seconds=10)
    timezone: str = "UTC"  # the zone a crontab's times are in

    def trigger(self) -> BaseTrigger:
        if self.cron:
            return CronTrigger.from_crontab(self.cron, timezone=self.timezone)
        if self.every:
            return IntervalTrigger(
                seconds=self.every.total_seconds(), jitter=self.jitter.total_seconds() or None
            )
        raise ValueError("a schedule needs `every` or `cron`")


class Service:
    """Runs the scheduled streams until ``stop()``."""

    def __init__(
        self,
        engine: Engine,
        jobs: Sequence[tuple[StreamJob, Schedule]],
        *,
        max_workers: int = 4,
        owner: str | None = None,
        on_result: Callable[[StreamJob, RunResult], None] | None = None,
        tasks: Sequence[Task] = (),
        background: Sequence[Callable[[threading.Event], None]] = (),
    ) -> None:
        self.engine = engine
        self.jobs = list(jobs)
        self.tasks = list(tasks)
        self.background = list(background)
        self._threads: list[threading.Thread] = []
        self.owner = owner or worker_id()
        self.on_result = on_result
        self.stopping = threading.Event()
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers)}, timezone="UTC"
        )

    def start(self) -> None:
        """Recover after a crash, schedule every job and start the scheduler thread."""
        recover(self.engine)
        recovery = Task(
            "leases:recover", partial(recover, self.engine, claims=False), Schedule(every=RECOVER_EVERY)
        )
        for job, schedule in self.jobs:
            first = None
            if schedule.every is not None and not schedule.cron:
                first = utcnow() + timedelta(seconds=random.uniform(0, schedule.jitter.total_seconds()))  # noqa: S311
            self.scheduler.add_job(
                self._run_one,
                trigger=schedule.trigger(),
                args=[job],
                id=f"{job.connector.name}:{job.stream}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
                **({"next_run_time": first} if first is not None else {}),
            )
        for task in [*self.tasks, recovery]:
            self.scheduler.add_job(
                self._run_task,
                trigger=task.schedule.trigger(),
                args=[task],
                id=f"task:{task.name}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
                **({} if task.schedule.cron else {"next_run_time": utcnow()}),
            )
        for loop in self.background:
            thread = threading.Thread(target=loop, args=(self.stopping,), daemon=True)
            thread.start()
            self._threads.append(thread)
        self.scheduler.start()
        log.info("service started", owner=self.owner, jobs=len(self.jobs), tasks=len(self.tasks))

    def _run_task(self, task: Task) -> None:
        if self.stopping.is_set():
            return
        try:
            task.run()
        except Exception:
            log.exception("task failed", task=task.name)

    def _run_one(self, job: StreamJob) -> None:
        if self.stopping.is_set():
            return
        try:
            result = run_stream(self.engine, job, owner=self.owner, stop=self.stopping)
        except ErpsyncError:
            return  # already recorded in sync_run and logged by the engine
        except Exception:
            log.exception("stream crashed", connector=job.connector.name, stream=job.stream)
            return
        if self.on_result is not None:
            self.on_result(job, result)

    def stop(self, wait: bool = True) -> None:
        """Stop scheduling; running streams stop after their current page."""
        self.stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        for thread in self._threads:
            thread.join(timeout=60)
        for job, _ in self.jobs:
            job.connector.close()
        log.info("service stopped", owner=self.owner)
