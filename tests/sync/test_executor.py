"""The thread executor: names in, one run per unit at a time, failures contained, clean shutdown."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sync.executor import ThreadExecutor

WAIT = 10.0  # seconds before a test gives up on an event; never reached when all is well


def eventually(condition: Callable[[], bool]) -> bool:
    """Whether ``condition`` comes true within ``WAIT`` seconds (polled)."""
    gave_up = threading.Event()
    timer = threading.Timer(WAIT, gave_up.set)
    timer.start()
    try:
        while not condition():
            if gave_up.wait(0.01):
                return False
        return True
    finally:
        timer.cancel()


class Gate:
    """Work whose every unit blocks until the test opens the gate."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.started: list[tuple[str, ...]] = []
        self.running = threading.Event()
        self.finished = threading.Semaphore(0)
        self.closed = False
        self.fail = False

    def _run(self, *names: str) -> None:
        self.started.append(names)
        self.running.set()
        try:
            assert self.opened.wait(WAIT)
            if self.fail:
                raise RuntimeError("a bug in the work")
        finally:
            self.finished.release()

    def run_stream(self, connector: str, stream: str) -> None:
        self._run(connector, stream)

    def run_task(self, name: str) -> None:
        self._run(name)

    def drain_outbox(self, topic: str) -> None:
        self._run(topic)

    def close(self) -> None:
        self.closed = True


def test_a_unit_queued_or_running_is_not_submitted_again() -> None:
    work = Gate()
    executor = ThreadExecutor(work, max_workers=2)
    assert executor.submit_stream("erp", "stock")
    assert work.running.wait(WAIT)
    assert not executor.submit_stream("erp", "stock")  # still running: this turn collapses into it
    assert executor.submit_stream("erp", "products")  # another unit is another matter
    work.opened.set()
    assert work.finished.acquire(timeout=WAIT)
    assert work.finished.acquire(timeout=WAIT)
    executor.shutdown()
    assert sorted(work.started) == [("erp", "products"), ("erp", "stock")]


def test_a_unit_is_taken_again_once_its_run_is_over_even_a_failed_one() -> None:
    work = Gate()
    work.opened.set()
    work.fail = True
    executor = ThreadExecutor(work)
    assert executor.submit_task("plan:shop")
    assert work.finished.acquire(timeout=WAIT)
    # the failure is logged, and the unit is free again
    assert eventually(lambda: executor.submit_task("plan:shop"))
    assert work.finished.acquire(timeout=WAIT)
    executor.shutdown()
    assert work.started == [("plan:shop",), ("plan:shop",)]


def test_outbox_topics_run_beside_streams_and_beside_each_other() -> None:
    work = Gate()
    executor = ThreadExecutor(work, max_workers=1, outbox_workers=2)
    assert executor.submit_stream("erp", "stock")  # takes the only stream thread
    assert work.running.wait(WAIT)
    assert executor.submit_outbox("stock.push")  # a long queue of pushes ...
    assert executor.submit_outbox("alert.notify")  # ... does not hold an alert back
    assert eventually(lambda: len(work.started) == 3)  # while the stream still blocks its thread
    work.opened.set()
    executor.shutdown()
    assert sorted(work.started[1:]) == [("alert.notify",), ("stock.push",)]


def test_shutdown_stops_the_work_waits_for_it_and_closes_it() -> None:
    work = Gate()
    stop = threading.Event()
    executor = ThreadExecutor(work, stop=stop)
    assert executor.submit_stream("erp", "stock")
    assert work.running.wait(WAIT)
    work.opened.set()
    executor.shutdown(wait=True)
    assert stop.is_set()  # running streams see it after their current page
    assert work.closed
    assert not executor.submit_stream("erp", "stock")
