"""The service's alert work: evaluate shortages right after stock changes, escalate, check operations.

``AlertEvaluator``, after each run of a stream whose kind changes stock (``sync.kinds``) that
changed something, evaluates only the SKUs whose stock changed since its last pass; where that
pass got to is kept in the database with the findings (``store.task_state``, row
``alerts:shortages``), so a restarted service or another worker goes on from there. Once an hour
it evaluates everything, for rules based on sales velocity. ``OperationalCheck`` raises and clears
the operational alerts; ``DriftAlerts`` wraps a channel's drift check. Each records its
findings in one transaction, run again when the database picks it as a deadlock victim.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import Engine

from alerts.digest import send_digest
from alerts.evaluate import SHORTAGES, AlertSettings, escalate_due, evaluate, places
from alerts.operational import (
    OPERATIONAL_KINDS,
    Condition,
    reconcile_conditions,
    stock_conditions,
    sync_conditions,
)
from core.clock import utcnow
from core.ports import StockChannel
from core.statuses import AlertSeverity
from store.db import retry_on_lock_conflict
from store.task_state import Checkpoint, fingerprint
from sync.drift import check_drift
from sync.engine import RunResult, StreamJob
from sync.sellable import ChannelPolicy


class AlertEvaluator:
    """Evaluates shortages for what changed since its last pass.

    ``config``: the fingerprint of the configuration the settings come from; a pass recorded
    under other settings covers nothing, and the next pass evaluates everything.
    """

    def __init__(self, engine: Engine, settings: AlertSettings, *, config: str = "") -> None:
        self.engine, self.settings = engine, settings
        self.checkpoint = Checkpoint(SHORTAGES, fingerprint(settings, config))
        self._lock = threading.Lock()

    def after_run(self, job: StreamJob, result: RunResult) -> None:
        """Service hook: a run of a stream whose kind changes stock changed something, look at it now."""
        if result.changed and job.kind.changes_stock:
            self.changed()

    def changed(self) -> int:
        with self._lock:
            summary = evaluate(self.engine, self.settings, checkpoint=self.checkpoint)
            return summary.opened + summary.worse + summary.resolved

    def everything(self) -> int:
        with self._lock:
            summary = evaluate(self.engine, self.settings, since=None)
            return summary.opened + summary.worse + summary.resolved

    def escalate(self) -> int:
        return escalate_due(self.engine, self.settings)


class OperationalCheck:
    """Raises and clears operational alerts (see ``alerts.operational``)."""

    def __init__(
        self,
        engine: Engine,
        settings: AlertSettings,
        *,
        failing_runs: int,
        staleness: dict[tuple[str, str], timedelta],
    ) -> None:
        self.engine, self.settings, self.failing_runs, self.staleness = (
            engine,
            settings,
            failing_runs,
            staleness,
        )

    def __call__(self) -> tuple[int, int]:
        return retry_on_lock_conflict(partial(self._check, utcnow()))

    def _check(self, now: datetime) -> tuple[int, int]:
        with self.engine.begin() as conn:
            active = sync_conditions(conn, failing_runs=self.failing_runs, staleness=self.staleness, now=now)
            active += stock_conditions(conn)
            return reconcile_conditions(conn, self.settings.policy, OPERATIONAL_KINDS, active, now)


class DriftAlerts:
    """A channel's drift check whose differences above the tolerance become alerts."""

    def __init__(
        self,
        engine: Engine,
        settings: AlertSettings,
        policies: Sequence[ChannelPolicy],
        channel: StockChannel,
        *,
        tolerance: int,
        correct: bool,
    ) -> None:
        self.engine, self.settings, self.policies, self.channel = engine, settings, policies, channel
        self.tolerance, self.correct = tolerance, correct

    def __call__(self) -> int:
        drifts = check_drift(
            self.engine, self.policies, self.channel, tolerance=self.tolerance, correct=self.correct
        ).drifts
        active = [
            Condition(
                "drift",
                f"{self.channel.name}:{d.sku}",
                AlertSeverity.WARNING,
                f"{self.channel.name} shows {d.actual if d.actual is not None else 'nothing'} for {d.sku}, "
                f"erpsync last pushed {d.expected}" + (" (correction queued)" if self.correct else ""),
            )
            for d in drifts
        ]
        retry_on_lock_conflict(partial(self._record, active, utcnow()))
        return len(drifts)

    def _record(self, active: list[Condition], now: datetime) -> None:
        with self.engine.begin() as conn:
            reconcile_conditions(
                conn, self.settings.policy, ["drift"], active, now, prefix=f"drift:{self.channel.name}:"
            )


class Digest:
    """Queues the daily digest (see ``alerts.digest``)."""

    def __init__(self, engine: Engine, settings: AlertSettings) -> None:
        self.engine, self.settings = engine, settings

    def __call__(self) -> int:
        return retry_on_lock_conflict(partial(self._send, utcnow()))

    def _send(self, now: datetime) -> int:
        with self.engine.begin() as conn:
            _, by_id = places(conn)
            return send_digest(conn, self.settings.policy, by_id, now)
