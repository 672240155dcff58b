"""The service loop of ``erpsync run``: it decides *when* work is due and hands it to an executor.

One APScheduler job per (connector, stream) and per scheduled task, each with an interval
(``every``) or a crontab (``cron``), and for streams a random start jitter so that many streams
do not all hit their systems at the same second. When a job fires, the service submits the names
of its work to the :class:`~sync.executor.Executor`, which decides *where* it runs (threads of
this process by default) and never runs a unit that is still queued or running a second time:
a slow run is never overlapped by the next one, and missed turns collapse into one. Every half
second the outbox topics with a message due (``store.outbox.due_topics``) are submitted too.
Across processes, the lease in ``sync.lease`` keeps two workers from running the same stream.

Interval streams run once soon after start. A scheduled task goes on from its last run, which is
kept in the database (``store.task_state``): it runs at start only if its interval has passed
since then, and a crontab task runs at once when the service was down at its last firing (a
missed daily digest is sent on start, once). A task that never ran runs at start (interval) or
at its next firing (crontab).

``Service.start()`` first cleans up after a crashed predecessor (``sync.lease.recover``: leases of
processes that are provably gone are freed, their runs marked ``interrupted``, their outbox
claims given back) and repeats the lease and run part every minute.

``Service.stop()`` (the CLI calls it on SIGTERM/SIGINT) stops submitting and shuts the executor
down: running streams stop after their current page (it finishes or rolls back, nothing is left
half-done), and the executor waits for them.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from core.clock import utcnow
from core.redact import redact_text
from store.outbox import due_topics
from store.task_state import last_runs
from sync.executor import Executor
from sync.lease import recover, worker_id

log = structlog.get_logger("erpsync.service")
RECOVER_EVERY = timedelta(minutes=1)
#: how often the service looks for outbox topics with messages due
OUTBOX_EVERY = 0.5


@dataclass(frozen=True)
class Task:
    """A scheduled piece of work that is not a stream (planning stock pushes, a drift check).

    The service knows a task by its name and schedule; the work that runs it knows ``run``.
    """

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


@dataclass(frozen=True)
class ScheduledStream:
    connector: str
    stream: str
    schedule: Schedule


class Service:
    """Submits the scheduled streams and tasks and the due outbox topics to ``executor`` until ``stop()``."""

    def __init__(
        self,
        engine: Engine,
        executor: Executor,
        *,
        streams: Sequence[ScheduledStream] = (),
        tasks: Sequence[Task] = (),
        outbox: bool = True,
        owner: str | None = None,
    ) -> None:
        self.engine = engine
        self.executor = executor
        self.jobs = list(streams)
        self.tasks = list(tasks)
        self.outbox = outbox
        self._threads: list[threading.Thread] = []
        self.owner = owner or worker_id()
        self.stopping = threading.Event()
        # its jobs only submit (or recover leases): two threads are plenty
        self.scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(2)}, timezone="UTC")

    def start(self) -> None:
        """Recover after a crash, schedule every job and start the scheduler thread."""
        recover(self.engine)
        now = utcnow()
        for job in self.jobs:
            first = None
            if job.schedule.every is not None and not job.schedule.cron:
                first = now + timedelta(seconds=random.uniform(0, job.schedule.jitter.total_seconds()))  # noqa: S311
            self._add(f"{job.connector}:{job.stream}", job.schedule, first, self._submit_stream, job)
        ran = last_runs(self.engine, [task.name for task in self.tasks])
        for task in self.tasks:
            first = first_run(task.schedule, ran.get(task.name), now)
            self._add(f"task:{task.name}", task.schedule, first, self._submit_task, task.name)
        recovery = Schedule(every=RECOVER_EVERY)
        self._add("leases:recover", recovery, now, partial(recover, self.engine, claims=False))
        if self.outbox:
            thread = threading.Thread(target=self._submit_due_topics, name="erpsync-outbox-due", daemon=True)
            thread.start()
            self._threads.append(thread)
        self.scheduler.start()
        log.info("service started", owner=self.owner, jobs=len(self.jobs), tasks=len(self.tasks))

    def _add(
        self, id: str, schedule: Schedule, first: datetime | None, run: Callable[..., object], *args: Any
    ) -> None:
        self.scheduler.add_job(
            run,
            trigger=schedule.trigger(),
            args=list(args),
            id=id,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            **({"next_run_time": first} if first is not None else {}),
        )

    def _submit_stream(self, job: ScheduledStream) -> None:
        if not self.stopping.is_set():
            self.executor.submit_stream(job.connector, job.stream)

    def _submit_task(self, name: str) -> None:
        if not self.stopping.is_set():
            self.executor.submit_task(name)

    def _submit_due_topics(self) -> None:
        while not self.stopping.is_set():
            try:
                for topic in due_topics(self.engine):
                    self.executor.submit_outbox(topic)
            except OperationalError as exc:
                # The store is unreachable: messages stay where they are, look again shortly.
                log.warning("outbox store unavailable", error=redact_text(str(exc.orig)))
            self.stopping.wait(OUTBOX_EVERY)

    def stop(self, wait: bool = True) -> None:
        """Stop scheduling; running streams stop after their current page."""
        self.stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        for thread in self._threads:
            thread.join(timeout=60)
        self.executor.shutdown(wait=wait)
        log.info("service stopped", owner=self.owner)


def first_run(schedule: Schedule, last: datetime | None, now: datetime) -> datetime | None:
    """When a task that last ran at ``last`` runs first after a start at ``now`` (None: its trigger says).

    An interval task runs once its interval has passed since its last run, at once if it never
    ran; a crontab task runs at once if it missed a firing since its last run, else at its next.
    """
    if schedule.cron:
        if last is not None:
            missed = schedule.trigger().get_next_fire_time(None, last)
            if missed is not None and missed <= now:
                return now
        return None
    if last is None or schedule.every is None:
        return now
    return max(now, last + schedule.every)
