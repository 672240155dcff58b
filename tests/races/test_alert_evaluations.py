"""Alert passes run by two workers at once open each alert once, and neither fails.

Each service evaluates shortages after its stock runs (a checkpointed pass) and once an hour over
everything; a person may run ``erpsync alerts check`` meanwhile. An alert is unique while open
(``open_key``). Two evaluations of the same 30 new shortages are held, right after each has
looked for the open alerts (and found none), until the other has looked too — the interleaving
in which both would insert the same alerts. They must end with 30 open alerts and one
``opened`` message per destination each, not with one pass failing on the duplicate key (which
rolled back every other finding of that pass).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event, select

from alerts.evaluate import evaluate
from alerts.operational import OPERATIONAL_KINDS, Condition, reconcile_conditions
from core.clock import utcnow
from core.statuses import AlertSeverity
from store import stock
from store.db import retry_on_lock_conflict
from store.models import Alert, Outbox
from store.task_state import Checkpoint
from tests.alerts.test_shortage_lifecycle import SETTINGS, ids

SKUS = [f"SKU-{n:02d}" for n in range(30)]
HOLD = 1.0  # how long a pass waits for the other at the interleaving point

__all__ = ["ids"]


class Interleave:
    """Holds each thread after its first look for open alerts until the other thread looked too."""

    def __init__(self, engine: Engine, parties: int) -> None:
        self.engine, self.parties = engine, parties
        self.arrived = 0
        self.cond = threading.Condition()
        self.local = threading.local()
        self.met = False

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if getattr(self.local, "done", False) or not statement.lstrip().upper().startswith("SELECT"):
            return
        if "FROM alert" not in statement or "FOR UPDATE" not in statement:
            return
        self.local.done = True
        with self.cond:
            self.arrived += 1
            self.cond.notify_all()
            # serialised passes never meet here: the first goes on after HOLD seconds
            self.met = self.cond.wait_for(lambda: self.arrived >= self.parties, timeout=HOLD) or self.met

    def __enter__(self) -> Interleave:
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "after_cursor_execute", self._after)


def race(*passes: Callable[[], Any]) -> None:
    barrier = threading.Barrier(len(passes))
    errors: list[BaseException] = []

    def run(fn: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            fn()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(fn,)) for fn in passes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors


def test_racing_evaluations_open_each_shortage_once(store_engine: Engine, ids: dict[str, int]) -> None:
    checkpoint = Checkpoint("alerts:shortages", "config")
    with store_engine.begin() as conn:
        for sku in SKUS:
            stock.adjust(conn, sku, ids["DS"], 2, ref="count")  # critical: 2 left, the rule says 3
    with Interleave(store_engine, 2):
        race(
            lambda: evaluate(store_engine, SETTINGS, checkpoint=checkpoint),  # after a stock run
            lambda: evaluate(store_engine, SETTINGS, since=None),  # the hourly pass, or `alerts check`
        )
    with store_engine.connect() as conn:
        alerts = conn.execute(select(Alert.id, Alert.open_key).where(Alert.state == "open")).all()
        opened = Counter(
            int(key.split(":")[1]) for key in conn.execute(select(Outbox.key)).scalars() if ":opened:" in key
        )
    open_keys = Counter(key for _, key in alerts)
    assert len(open_keys) == len(SKUS)
    assert set(open_keys.values()) == {1}
    # each alert announced once to each of its two destinations (critical: the region and head office)
    assert opened == dict.fromkeys((alert_id for alert_id, _ in alerts), 2)


def test_racing_operational_checks_open_each_condition_once(
    store_engine: Engine, ids: dict[str, int]
) -> None:
    """Both services check the operational conditions every minute (and a channel's drift check
    goes the same way): two checks finding the same new conditions open each alert once."""
    active = [
        Condition("sync_failing", f"erp/stream-{n}", AlertSeverity.CRITICAL, "the last 3 runs failed")
        for n in range(10)
    ]

    def check() -> None:
        def once() -> None:
            with store_engine.begin() as conn:
                reconcile_conditions(conn, SETTINGS.policy, OPERATIONAL_KINDS, active, utcnow())

        retry_on_lock_conflict(once)  # as the service's OperationalCheck runs it

    with Interleave(store_engine, 2):
        race(check, check)
    with store_engine.connect() as conn:
        keys = Counter(conn.execute(select(Alert.open_key).where(Alert.state == "open")).scalars())
    assert keys == {f"sync_failing:erp/stream-{n}": 1 for n in range(10)}
