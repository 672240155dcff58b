"""Metrics and health read from the store at every request, so they are right whichever process did the work.

``StoreCollector(engine)`` is a ``prometheus_client`` collector; ``metrics_registry(engine)`` gives a
fresh ``CollectorRegistry`` holding one (one registry per app, never the global one). A scrape runs
six grouped queries whatever the number of streams, topics or reasons:

- ``erpsync_store_up``: 1 if the store answered this scrape, else 0 (and no other series);
- ``erpsync_sync_runs_total{connector,stream,status}``: runs recorded in ``sync_run``;
- ``erpsync_sync_records_read_total``, ``…_changed_total``, ``…_quarantined_total{connector,stream}``:
  records those runs read, changed in the store and sent to quarantine;
- ``erpsync_sync_run_errors_total{connector,stream}``: failed runs;
- ``erpsync_sync_last_success_age_seconds{connector,stream}``: since the last successful run finished;
- ``erpsync_quarantine_open{connector,stream,reason}``: open quarantine entries;
- ``erpsync_sync_run_duration_seconds{connector,stream}``: a histogram of finished runs' durations
  (``RUN_BUCKETS``);
- ``erpsync_outbox_backlog{topic,state}``: outbox messages ``pending`` or ``failed`` (dead letters);
- ``erpsync_outbox_delivery_latency_seconds{topic}``: a histogram of delivered messages' time from
  queueing to delivery (``DELIVERY_BUCKETS``) — for ``stock.push`` how soon a channel shows a
  change once planned, for ``alert.notify`` how soon an alert reaches its receivers;
- ``erpsync_stock_push_delivered_last_hour``: ``stock.push`` messages delivered in the last hour.

The ``_total`` series and the histograms are counters derived from table rows: they only go down
if someone deletes ``sync_run`` or ``outbox`` rows; quantiles come from the buckets
(``histogram_quantile(0.9, rate(erpsync_outbox_delivery_latency_seconds_bucket[1h]))``). They
replace the gauge ``erpsync_stock_push_latency_seconds{stat}`` (avg, p50, p90, p99, max of the
last hour), which could not be aggregated: its figures are the ``topic="stock.push"`` series.

A database error does not fail the scrape: ``erpsync_store_up`` says 0 and a warning names the
error's type (never its text, which may quote SQL parameters).

``health_report(engine, extra, staleness, uptime=...)`` is the body of ``GET /healthz``: whether the
database answers ``SELECT 1``, the ``extra()`` dict of the running service (scheduler alive; a false
``"ok"`` in it means unhealthy) under ``service``, and per stream its lag since the last success and
whether that exceeds its limit in ``staleness`` (a stream that never succeeded is stale once the
service has been up longer than the limit). ``ok`` sums it up.

>>> registry = metrics_registry(engine)
>>> prometheus_client.generate_latest(registry)
>>> health_report(engine, None, {("erp", "stock"): timedelta(minutes=30)}, uptime=120.0)["ok"]
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, Connection, Engine, case, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from core.clock import utcnow
from core.statuses import MessageState, RunStatus
from store.durations import elapsed_seconds
from store.models import Outbox, Quarantine, SyncRun
from store.outbox import backlog
from sync.outbound import TOPIC as STOCK_PUSH_TOPIC
from sync.queries import stream_status

DELIVERED_WINDOW = timedelta(hours=1)
#: upper bounds (seconds) of the run duration buckets: a page-sized poll to a full snapshot
RUN_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
#: upper bounds (seconds) of the delivery latency buckets: at once, to a receiver down for an hour
DELIVERY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
STREAM = ["connector", "stream"]
log = structlog.get_logger("erpsync.metrics")


@dataclass(frozen=True)
class _Snapshot:
    runs: list[Any]
    quarantine: list[Any]
    pending: dict[str, int]
    failed: dict[str, int]
    deliveries: list[Any]
    delivered_last_hour: int


def _bucket_sums(seconds: ColumnElement[float], bounds: tuple[float, ...]) -> list[Any]:
    """Per bound, how many rows took at most that long (cumulative, as Prometheus buckets are)."""
    return [func.sum(case((seconds <= bound, 1), else_=0)).label(f"le_{i}") for i, bound in enumerate(bounds)]


def _read(conn: Connection, now: datetime) -> _Snapshot:
    run_seconds = elapsed_seconds(SyncRun.started_at, SyncRun.finished_at)
    runs = conn.execute(
        select(
            SyncRun.connector,
            SyncRun.stream,
            SyncRun.status,
            func.count().label("runs"),
            func.coalesce(func.sum(SyncRun.records_in), 0).label("read"),
            func.coalesce(func.sum(SyncRun.records_changed), 0).label("changed"),
            func.coalesce(func.sum(SyncRun.records_quarantined), 0).label("quarantined"),
            func.max(SyncRun.finished_at).label("last_finished"),
            func.count(SyncRun.finished_at).label("timed"),
            func.coalesce(func.sum(run_seconds), 0).label("seconds"),
            *_bucket_sums(run_seconds, RUN_BUCKETS),
        ).group_by(SyncRun.connector, SyncRun.stream, SyncRun.status)
    ).all()
    quarantine = conn.execute(
        select(Quarantine.connector, Quarantine.stream, Quarantine.reason_code, func.count().label("n"))
        .where(Quarantine.status == "open")
        .group_by(Quarantine.connector, Quarantine.stream, Quarantine.reason_code)
    ).all()
    failed = conn.execute(
        select(Outbox.topic, func.count())
        .where(Outbox.failed_at.is_not(None), Outbox.delivered_at.is_(None))
        .group_by(Outbox.topic)
    ).all()
    latency = elapsed_seconds(Outbox.created_at, Outbox.delivered_at)
    deliveries = conn.execute(
        select(
            Outbox.topic,
            func.count().label("count"),
            func.coalesce(func.sum(latency), 0).label("seconds"),
            *_bucket_sums(latency, DELIVERY_BUCKETS),
        )
        .where(Outbox.delivered_at.is_not(None))
        .group_by(Outbox.topic)
    ).all()
    last_hour = conn.execute(
        select(func.count()).where(
            Outbox.topic == STOCK_PUSH_TOPIC, Outbox.delivered_at >= now - DELIVERED_WINDOW
        )
    ).scalar_one()
    return _Snapshot(
        runs=list(runs),
        quarantine=list(quarantine),
        pending=backlog(conn),
        failed={row.topic: row[1] for row in failed},
        deliveries=list(deliveries),
        delivered_last_hour=int(last_hour),
    )


def _buckets(row: Any, bounds: tuple[float, ...], count: int) -> list[tuple[str, float]]:
    """A histogram's buckets from a row of :func:`_bucket_sums` columns."""
    sums = [(str(bound), float(row._mapping[f"le_{i}"] or 0)) for i, bound in enumerate(bounds)]
    return [*sums, ("+Inf", float(count))]


def _run_durations(runs: Iterable[Any]) -> Metric:
    """The run duration histogram per stream, whatever the runs' outcome."""
    family = HistogramMetricFamily(
        "erpsync_sync_run_duration_seconds", "Seconds from start to end of finished sync runs.", labels=STREAM
    )
    per_stream: dict[tuple[str, str], list[float]] = {}
    for r in runs:
        # bucket counts, then the count and the sum of seconds
        row = [float(r._mapping[f"le_{i}"] or 0) for i in range(len(RUN_BUCKETS))] + [r.timed, r.seconds]
        sums = per_stream.setdefault((r.connector, r.stream), [0.0] * len(row))
        per_stream[(r.connector, r.stream)] = [a + float(b) for a, b in zip(sums, row, strict=True)]
    for key, sums in sorted(per_stream.items()):
        *counts, timed, seconds = sums
        buckets = [(str(bound), n) for bound, n in zip(RUN_BUCKETS, counts, strict=True)]
        family.add_metric(list(key), [*buckets, ("+Inf", timed)], sum_value=seconds)
    return family


def _sync_families(runs: Iterable[Any], now: datetime) -> Iterator[Metric]:
    total = CounterMetricFamily("erpsync_sync_runs", "Sync runs recorded.", labels=[*STREAM, "status"])
    read = CounterMetricFamily("erpsync_sync_records_read", "Records read by sync runs.", labels=STREAM)
    changed = CounterMetricFamily(
        "erpsync_sync_records_changed", "Records that changed the store.", labels=STREAM
    )
    quarantined = CounterMetricFamily(
        "erpsync_sync_records_quarantined", "Records sent to quarantine.", labels=STREAM
    )
    errors = CounterMetricFamily("erpsync_sync_run_errors", "Failed sync runs.", labels=STREAM)
    age = GaugeMetricFamily(
        "erpsync_sync_last_success_age_seconds",
        "Seconds since the last successful run of a stream finished.",
        labels=STREAM,
    )
    per_stream: dict[tuple[str, str], dict[str, float]] = {}
    last_ok: dict[tuple[str, str], datetime] = {}
    for r in runs:
        key = (r.connector, r.stream)
        total.add_metric([*key, r.status], r.runs)
        sums = per_stream.setdefault(key, {"read": 0, "changed": 0, "quarantined": 0, "failed": 0})
        sums["read"] += r.read
        sums["changed"] += r.changed
        sums["quarantined"] += r.quarantined
        sums["failed"] += r.runs if r.status == RunStatus.FAILED else 0
        if r.status == RunStatus.OK and r.last_finished is not None:
            last_ok[key] = r.last_finished
    for key, sums in sorted(per_stream.items()):
        read.add_metric(list(key), sums["read"])
        changed.add_metric(list(key), sums["changed"])
        quarantined.add_metric(list(key), sums["quarantined"])
        errors.add_metric(list(key), sums["failed"])
    for key, finished in sorted(last_ok.items()):
        age.add_metric(list(key), max((now - finished).total_seconds(), 0.0))
    yield from (total, read, changed, quarantined, errors, age, _run_durations(runs))


def _store_families(snapshot: _Snapshot) -> Iterator[Metric]:
    quarantine = GaugeMetricFamily(
        "erpsync_quarantine_open", "Open quarantine entries.", labels=[*STREAM, "reason"]
    )
    for q in snapshot.quarantine:
        quarantine.add_metric([q.connector, q.stream, q.reason_code], q.n)
    outbox = GaugeMetricFamily(
        "erpsync_outbox_backlog", "Outbox messages pending or failed.", labels=["topic", "state"]
    )
    for state, counts in ((MessageState.PENDING, snapshot.pending), (MessageState.FAILED, snapshot.failed)):
        for topic, n in sorted(counts.items()):
            outbox.add_metric([topic, state], n)
    latency = HistogramMetricFamily(
        "erpsync_outbox_delivery_latency_seconds",
        "Seconds from queueing to delivery of delivered outbox messages.",
        labels=["topic"],
    )
    for d in snapshot.deliveries:
        latency.add_metric([d.topic], _buckets(d, DELIVERY_BUCKETS, d.count), sum_value=float(d.seconds))
    delivered = GaugeMetricFamily(
        "erpsync_stock_push_delivered_last_hour",
        "Stock pushes delivered in the last hour.",
        value=snapshot.delivered_last_hour,
    )
    yield from (quarantine, outbox, latency, delivered)


class StoreCollector(Collector):
    """Collects the metrics listed in the module docstring from the store, at every scrape."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self._clock()
        up = GaugeMetricFamily("erpsync_store_up", "1 if the store answered this scrape.")
        try:
            with self.engine.connect() as conn:
                snapshot = _read(conn, now)
        except SQLAlchemyError as exc:
            log.warning("metrics: the store did not answer", error=type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _sync_families(snapshot.runs, now)
        yield from _store_families(snapshot)


def metrics_registry(engine: Engine, *, clock: Callable[[], datetime] = utcnow) -> CollectorRegistry:
    """A new registry holding a :class:`StoreCollector` for ``engine`` (and nothing else)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(engine, clock=clock))
    return registry


def _database(engine: Engine) -> dict[str, Any]:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:  # its text may name the server: the type is enough
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True}


def _streams(
    engine: Engine, staleness: Mapping[tuple[str, str], timedelta], uptime: float
) -> list[dict[str, Any]]:
    result = []
    for s in stream_status(engine, configured=staleness):
        limit = staleness.get((s.connector, s.stream))
        lag = s.lag.total_seconds() if s.lag is not None else None
        result.append(
            {
                "connector": s.connector,
                "stream": s.stream,
                "outcome": s.outcome,
                "last_success": s.last_success.isoformat() if s.last_success else None,
                "lag_seconds": lag,
                "stale_after_seconds": limit.total_seconds() if limit is not None else None,
                "stale": limit is not None and (uptime if lag is None else lag) > limit.total_seconds(),
            }
        )
    return result


def health_report(
    engine: Engine,
    extra: Callable[[], dict[str, Any]] | None,
    staleness: Mapping[tuple[str, str], timedelta],
    *,
    uptime: float,
) -> dict[str, Any]:
    """The health of the service as a JSON-able dict; its ``ok`` is False when anything is wrong."""
    report: dict[str, Any] = {"database": _database(engine)}
    if extra is not None:
        report["service"] = extra()
    if report["database"]["ok"]:
        report["streams"] = _streams(engine, staleness, uptime)
    healthy = (
        report["database"]["ok"]
        and report.get("service", {}).get("ok", True) is not False
        and not any(s["stale"] for s in report.get("streams", ()))
    )
    return {"ok": bool(healthy), **report}


__all__ = ["StoreCollector", "health_report", "metrics_registry"]
