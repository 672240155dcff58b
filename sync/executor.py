"""Where due work runs: the :class:`Executor` seam between the service's schedule and the work.

The service (``sync.scheduler.Service``) decides *when* a stream, a scheduled task or an outbox
topic is due; an ``Executor`` decides *where* it runs. A submission carries names only — a
connector and a stream, a task's name, an outbox topic — never live objects, so the work can run
in another process or on another machine: there a :class:`Work` built from the same config
(``erpsync.runner.Runner``) turns the names back into connectors, jobs and handlers. What a run
does next is decided by the database (cursors, leases, ``store.task_state``), never by memory
kept between runs, so it does not matter which process ran the previous one.

:class:`ThreadExecutor` is the executor of ``erpsync run``: streams and tasks on a pool of
``max_workers`` threads, outbox topics on a pool of their own (``outbox_workers`` threads, one
per topic erpsync writes), so neither a slow stream nor a long queue of stock pushes delays a
notification. A unit submitted while it is still queued or running is
not submitted again: a slow run is never overlapped by the next one, and missed turns collapse
into one. Another executor (workers of a task queue) implements the same three ``submit_*``
methods and ``shutdown``; it hands the names to its workers, each of which runs them through a
``Work`` of its own.

>>> executor = ThreadExecutor(runner, max_workers=4, stop=stopping)
>>> executor.submit_stream("erp", "stock")  # False if erp/stock is queued or running already
True
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import structlog

log = structlog.get_logger("erpsync.service")


class Work(Protocol):
    """Runs one unit of work by its names, building nothing but from its own config."""

    def run_stream(self, connector: str, stream: str) -> object:
        """Run the stream once (its lease keeps two workers from running it at once)."""
        ...

    def run_task(self, name: str) -> object:
        """Run the scheduled task ``name`` once."""
        ...

    def drain_outbox(self, topic: str) -> object:
        """Deliver the due messages of ``topic`` until none is left or the work is told to stop."""
        ...

    def close(self) -> None:
        """Give back what the work holds (connections of connectors)."""
        ...


class Executor(Protocol):
    """Where submitted work runs; each ``submit_*`` returns False when the unit was not taken."""

    def submit_stream(self, connector: str, stream: str) -> bool: ...

    def submit_task(self, name: str) -> bool: ...

    def submit_outbox(self, topic: str) -> bool: ...

    def shutdown(self, wait: bool = True) -> None:
        """Take no more work; with ``wait``, return once the work in hand has stopped."""
        ...


class ThreadExecutor:
    """Runs submitted work on threads of this process (see the module docstring)."""

    def __init__(
        self,
        work: Work,
        *,
        max_workers: int = 4,
        outbox_workers: int = 1,
        stop: threading.Event | None = None,
    ) -> None:
        self.work = work
        self.stop = stop or threading.Event()
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="erpsync-work")
        self._outbox = ThreadPoolExecutor(outbox_workers, thread_name_prefix="erpsync-outbox")
        self._lock = threading.Lock()
        self._taken: set[str] = set()

    def submit_stream(self, connector: str, stream: str) -> bool:
        unit = f"stream {connector}/{stream}"
        return self._submit(self._pool, unit, self.work.run_stream, connector, stream)

    def submit_task(self, name: str) -> bool:
        return self._submit(self._pool, f"task {name}", self.work.run_task, name)

    def submit_outbox(self, topic: str) -> bool:
        return self._submit(self._outbox, f"outbox {topic}", self.work.drain_outbox, topic)

    def shutdown(self, wait: bool = True) -> None:
        self.stop.set()
        for pool in (self._pool, self._outbox):
            pool.shutdown(wait=wait, cancel_futures=True)
        if wait:
            self.work.close()

    def _submit(self, pool: ThreadPoolExecutor, unit: str, run: Callable[..., object], *names: str) -> bool:
        with self._lock:
            if unit in self._taken or self.stop.is_set():
                return False
            self._taken.add(unit)
        try:
            pool.submit(self._run, unit, run, *names)
        except RuntimeError:  # the pool was shut down meanwhile
            self._release(unit)
            return False
        return True

    def _run(self, unit: str, run: Callable[..., object], *names: str) -> None:
        try:
            if not self.stop.is_set():
                run(*names)
        except Exception:
            # the work logs and records its own failures; this is the last line for a bug in it
            log.exception("work crashed", unit=unit)
        finally:
            self._release(unit)

    def _release(self, unit: str) -> None:
        with self._lock:
            self._taken.discard(unit)


__all__ = ["Executor", "ThreadExecutor", "Work"]
