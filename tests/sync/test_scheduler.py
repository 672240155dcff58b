"""The service decides when: it submits names to its executor, scheduling tasks from their last run."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from core.clock import utcnow
from store import outbox
from store.task_state import record_run
from sync.scheduler import Schedule, ScheduledStream, Service, Task, first_run

NOW = datetime(2026, 12, 9, 9, 30, tzinfo=UTC)  # 17:30 in Shanghai
HOURLY = Schedule(every=timedelta(hours=1))
DIGEST = Schedule(cron="0 8 * * *", timezone="Asia/Shanghai")
WAIT = 10.0


class Recorder:
    """An executor that notes what it was given."""

    def __init__(self) -> None:
        self.submitted: list[tuple[str, ...]] = []
        self.outbox = threading.Event()
        self.shut = False

    def submit_stream(self, connector: str, stream: str) -> bool:
        self.submitted.append(("stream", connector, stream))
        return True

    def submit_task(self, name: str) -> bool:
        self.submitted.append(("task", name))
        return True

    def submit_outbox(self, topic: str) -> bool:
        self.submitted.append(("outbox", topic))
        self.outbox.set()
        return True

    def shutdown(self, wait: bool = True) -> None:
        self.shut = True


def test_an_interval_task_goes_on_from_its_last_run() -> None:
    assert first_run(HOURLY, None, NOW) == NOW  # never ran: at once
    assert first_run(HOURLY, NOW - timedelta(minutes=10), NOW) == NOW + timedelta(minutes=50)
    assert first_run(HOURLY, NOW - timedelta(hours=3), NOW) == NOW  # overdue: at once, once


def test_a_crontab_task_runs_at_start_only_for_a_firing_it_missed() -> None:
    assert first_run(DIGEST, None, NOW) is None  # never ran: at its next firing
    sent_today = datetime(2026, 12, 9, 0, 0, 5, tzinfo=UTC)  # 08:00:05 in Shanghai
    assert first_run(DIGEST, sent_today, NOW) is None
    sent_yesterday = sent_today - timedelta(days=1)  # the service was down at 08:00 today
    assert first_run(DIGEST, sent_yesterday, NOW) == NOW


def test_the_service_submits_names_and_schedules_tasks_from_the_database(store_engine: Engine) -> None:
    ran = utcnow() - timedelta(minutes=10)
    record_run(store_engine, "alerts:velocity", ran)
    with store_engine.begin() as conn:
        outbox.enqueue(conn, "stock.push", "push-1", {"sku": "TEA"}, partition="shop")
    executor = Recorder()
    service = Service(
        store_engine,
        executor,
        streams=[ScheduledStream("erp", "stock", Schedule(cron="0 3 * * *"))],
        tasks=[Task("alerts:velocity", lambda: None, HOURLY), Task("orders:process", lambda: None, HOURLY)],
    )
    service.start()
    try:
        assert executor.outbox.wait(WAIT)  # a message is due: its topic is handed over
        velocity = service.scheduler.get_job("task:alerts:velocity")
        assert velocity is not None
        assert velocity.next_run_time == ran + timedelta(hours=1)
    finally:
        service.stop()
    assert executor.shut
    assert ("outbox", "stock.push") in executor.submitted
    assert ("task", "alerts:velocity") not in executor.submitted  # it ran ten minutes ago
