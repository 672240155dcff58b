"""The sync engine: run one (connector, stream) page by page, exactly once.

For each page the connector yields (the HTTP call happens *outside* any transaction):

1. map the raw records to canonical ones and check them against the schema's limits (bad ones
   become quarantine entries: ``sync.limits``);
2. open one transaction: check the lease fence, reconcile the records (isolating any the
   database still refuses: ``sync.isolate``), quarantine the refused ones, save the page's
   cursor, update the run's counters;
3. commit. Meanwhile the next page is already being read (``sync.prefetch``, one page ahead, no
   transaction open): a connector must not take a request for the next page as proof that the
   previous one landed — the saved cursor is that proof.

A crash anywhere loses nothing and duplicates nothing: a page either landed with its cursor or
not at all, and re-reading a landed page is a no-op (idempotent reconciliation). Cursors are
inclusive; records repeated at the boundary are de-duplicated by key. A look-back ``lag``
re-reads a window before an ISO-timestamp cursor to catch late updates. A cursor never moves past
the run's start plus the stream's clock skew (``sync.cursor_cap``): a record dated in the future
is applied, but cannot hide the records that arrive after it.

What a page's records are, and so how they land, is the stream's kind (``sync.kinds``), never
its name. A snapshot stream of a kind that finishes snapshots (stock levels), read from no cursor,
ends with that finish: for stock the shrink guard (``sync.snapshot_guard``), whose zeros are
applied only if they are not too many, else the run ends ``held``.

>>> result = run_stream(engine, job)        # doctest: +SKIP
>>> result.status, result.pages, result.changed
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, insert, select, update

from alerts.notify import AlertPolicy
from alerts.operational import Condition, clear_condition, raise_condition
from connectors.base import Connector, Page
from core.clock import utcnow
from core.errors import ErpsyncError, LeaseLost, PermanentError
from core.redact import redact_text
from core.statuses import AlertSeverity, RunStatus
from mapping.records import Record
from store.db import retry_on_lock_conflict
from store.models import SyncCursor, SyncRun
from store.upsert import NEW, upsert
from sync import lease as leases
from sync.cursor_cap import CursorClock, cap_cursor, describe, move_back
from sync.isolate import reconcile_isolating
from sync.kinds import FinishSnapshot, StreamKind, kind_of, landed_kind
from sync.limits import find_misfits
from sync.prefetch import prefetch
from sync.quarantine import Refused, quarantine_records, resolve_records
from sync.reconcile import PageContext
from sync.snapshot_guard import DEFAULT_MAX_SHRINK, Snapshot

log = structlog.get_logger("erpsync.sync")
CURSOR_AHEAD = "cursor_ahead"


@dataclass
class MappedPage:
    """A page after mapping: usable records and their raw payloads (by key), and refused ones."""

    records: dict[str, Record] = field(default_factory=dict)
    raws: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused: list[Refused] = field(default_factory=list)


#: maps a page of raw records; may read the store (SKU bindings) through the engine it is given
PageMapper = Callable[[Engine, list[dict[str, Any]]], MappedPage]


@dataclass
class StreamJob:
    """Everything needed to run one stream of one connector."""

    connector: Connector
    stream: str
    mapper: PageMapper
    lag: timedelta = timedelta(0)
    lease_ttl: timedelta = timedelta(minutes=5)
    seal: Callable[[str], str] | None = None
    #: after a complete snapshot read, rows it no longer lists: "zero" (default) or "keep"
    snapshot_missing: str = "zero"
    #: the share of its source's rows a snapshot may zero before it is held for a person
    max_shrink: float = DEFAULT_MAX_SHRINK
    #: how the stream's cursor relates to time (the cursor cap)
    clock: CursorClock = field(default_factory=CursorClock)
    #: who hears about operational alerts the run raises (held snapshot, records from the future)
    alerts: AlertPolicy = field(default_factory=AlertPolicy)

    @property
    def kind(self) -> StreamKind:
        """What the stream carries, as its connector declares it (``sync.kinds``)."""
        return kind_of(self.connector, self.stream)


@dataclass
class RunResult:
    run_id: int
    status: RunStatus  # ok | held | failed | stopped | busy
    pages: int = 0
    records_in: int = 0
    changed: int = 0
    quarantined: int = 0
    cursor: str | None = None
    error: str | None = None
    started_at: datetime | None = None
    #: a page's cursor stood past the run's start plus the skew and was held back
    capped: bool = False


#: called after each committed page (progress bars, tests that simulate a crash between pages)
PageHook = Callable[[RunResult], None]


def load_cursor(engine: Engine, connector: str, stream: str) -> str | None:
    """The saved cursor of a stream (None: start from the beginning)."""
    with engine.connect() as conn:
        return conn.execute(
            select(SyncCursor.value).where(SyncCursor.connector == connector, SyncCursor.stream == stream)
        ).scalar()


def apply_lag(cursor: str | None, lag: timedelta) -> str | None:
    """Move an ISO 8601 timestamp cursor back by ``lag``; other cursors are left alone."""
    if cursor is None or not lag:
        return cursor
    return move_back(cursor, lag)


def is_guarded_snapshot(job: StreamJob) -> bool:
    """True for a snapshot stream whose kind finishes a complete read (stock: the shrink guard)."""
    return job.kind.finish_snapshot is not None and job.connector.stream(job.stream).snapshot


def run_stream(
    engine: Engine,
    job: StreamJob,
    *,
    owner: str | None = None,
    full: bool = False,
    stop: threading.Event | None = None,
    on_page: PageHook | None = None,
    pages: Iterable[Page] | None = None,
    accept_shrink: bool = False,
) -> RunResult:
    """Run ``job`` once: every page from the saved cursor (or from scratch with ``full``).

    ``pages`` replaces the connector's own reading (used to replay quarantined payloads); such
    pages carry no cursor, so the saved cursor does not move. ``accept_shrink`` applies a stock
    snapshot however much it zeroes (a person has checked the source).
    """
    name, stream = job.connector.name, job.stream
    # an unknown stream (PermanentError) or kind (ConfigError) fails before any bookkeeping
    kind = landed_kind(job.connector, stream)
    guarded = is_guarded_snapshot(job)
    owner = owner or leases.worker_id()
    lease = leases.acquire(engine, name, stream, owner, job.lease_ttl)
    if lease is None:
        log.info("stream busy", connector=name, stream=stream)
        return RunResult(run_id=0, status=RunStatus.BUSY)
    saved = None if full else load_cursor(engine, name, stream)
    started = utcnow()
    result = RunResult(
        run_id=_start_run(engine, name, stream, owner, saved, started=started),
        status=RunStatus.RUNNING,
        cursor=saved,
        started_at=started,
    )
    bound = log.bind(connector=name, stream=stream, run=result.run_id)
    bound.info("run started", cursor=saved, full=full)
    # only a read from the very start (no cursor, not a replay) sees everything a snapshot lists;
    # what such a read implies (stock: what it no longer lists is gone) is its kind's to finish
    finish = kind.finish_snapshot if guarded and saved is None and pages is None else None
    try:
        source = (
            pages if pages is not None else prefetch(job.connector.fetch(stream, apply_lag(saved, job.lag)))
        )
        for page in source:
            # a deadlock victim is rolled back whole: landing the page again is safe
            land = partial(
                _land_page, engine, job, lease, result, page, kind=kind, snapshot=finish is not None
            )
            retry_on_lock_conflict(land)
            if on_page is not None:
                on_page(result)
            if stop is not None and stop.is_set():
                result.status = RunStatus.STOPPED
                break
        else:
            held = (
                _finish_snapshot(engine, job, finish, lease, result, accept=accept_shrink) if finish else None
            )
            if result.cursor is not None and not result.capped:
                _clear_cursor_alert(engine, job)
            result.status, result.error = (RunStatus.HELD, held) if held else (RunStatus.OK, None)
    except LeaseLost as exc:
        result.status, result.error = RunStatus.FAILED, str(exc)
        bound.warning("lease lost, page discarded", error=result.error)
    except ErpsyncError as exc:
        result.status, result.error = RunStatus.FAILED, str(exc)
        bound.error("run failed", error=result.error)
        raise
    except BaseException as exc:
        result.status, result.error = RunStatus.FAILED, f"{type(exc).__name__}: {exc}"
        raise
    finally:
        _finish_run(engine, result)
        leases.release(engine, lease)
        bound.info("run finished", status=result.status, pages=result.pages, changed=result.changed)
    return result


def _finish_snapshot(
    engine: Engine,
    job: StreamJob,
    finish: FinishSnapshot,
    lease: leases.Lease,
    result: RunResult,
    *,
    accept: bool,
) -> str | None:
    """The whole snapshot has landed: apply what it implies or hold it, fenced like a page; why held."""
    snap = Snapshot(job.connector.name, job.stream, result.run_id, job.snapshot_missing, job.max_shrink)
    with engine.begin() as conn:
        leases.check_fence(conn, lease)
        done = finish(
            conn, snap, empty=result.records_in == 0, accept=accept, policy=job.alerts, now=utcnow()
        )
        result.changed += done.changed
        _update_run(conn, result)
    return done.held


def _clear_cursor_alert(engine: Engine, job: StreamJob) -> None:
    """A complete read whose cursors all stood before the limit: the records from the future are due."""
    with engine.begin() as conn:
        clear_condition(conn, job.alerts, CURSOR_AHEAD, f"{job.connector.name}/{job.stream}", utcnow())


def _land_page(
    engine: Engine,
    job: StreamJob,
    lease: leases.Lease,
    result: RunResult,
    page: Page,
    *,
    kind: StreamKind,
    snapshot: bool = False,
) -> None:
    """Map a page, then reconcile it with its cursor and counters in one transaction."""
    name, stream = job.connector.name, job.stream
    mapped = job.mapper(engine, page.records)
    refused = list(mapped.refused)
    for key, error in find_misfits(mapped.records):  # values the schema cannot hold
        record = mapped.records.pop(key)
        refused.append(Refused(key, mapped.raws.get(key) or record.model_dump(mode="json"), error))
    records = list(mapped.records.values())
    after = replace(result, pages=result.pages + 1, records_in=result.records_in + len(page.records))
    with engine.begin() as conn:
        leases.check_fence(conn, lease)
        if records:
            stray = next((r for r in records if not isinstance(r, kind.record)), None)
            if kind.reconcile is None or stray is not None:
                what = type(stray).__name__ if stray is not None else "any"
                raise PermanentError(
                    f"streams of kind {kind.name} do not land {what} records", connector=name, stream=stream
                )
            context = PageContext(name, result.run_id, job.seal, snapshot)
            outcome = reconcile_isolating(conn, kind.reconcile, records, context)
            after.changed += outcome.changed
            key_of = {id(record): key for key, record in mapped.records.items()}
            refused += [
                Refused(key_of[id(r)], mapped.raws.get(key_of[id(r)]) or r.model_dump(mode="json"), e)
                for r, e in outcome.refused or []
            ]
            refused_keys = {r.key for r in refused}
            resolve_records(conn, name, stream, [k for k in mapped.records if k not in refused_keys])
        quarantine_records(conn, name, stream, refused)
        if page.cursor is not None:
            after.cursor = _capped_cursor(conn, job, after, page.cursor)
            _save_cursor(conn, name, stream, after.cursor)
        after.quarantined += len({r.key for r in refused})
        _update_run(conn, after)
    # only now, with the page committed, does the run's own view move on
    result.__dict__.update(after.__dict__)


def _capped_cursor(conn: Connection, job: StreamJob, result: RunResult, value: str) -> str:
    """The cursor to save for a page: held at the run's start plus the skew (and an alert raised)."""
    started = result.started_at or utcnow()
    capped = cap_cursor(value, started, job.clock)
    if capped.ahead is not None:
        result.capped = True
        subject = f"{job.connector.name}/{job.stream}"
        reason = describe(capped, job.clock)
        log.warning("cursor held back", connector=job.connector.name, stream=job.stream, reason=reason)
        raise_condition(
            conn, job.alerts, Condition(CURSOR_AHEAD, subject, AlertSeverity.WARNING, reason), utcnow()
        )
    return capped.value


def _save_cursor(conn: Connection, connector: str, stream: str, value: str) -> None:
    upsert(
        conn,
        SyncCursor,
        [{"connector": connector, "stream": stream, "value": value, "updated_at": utcnow()}],
        key=["connector", "stream"],
        update={"value": NEW, "updated_at": NEW},
    )


def _start_run(
    engine: Engine, connector: str, stream: str, owner: str, cursor: str | None, *, started: datetime
) -> int:
    with engine.begin() as conn:
        res = conn.execute(
            insert(SyncRun).values(
                connector=connector,
                stream=stream,
                owner=owner,
                status=RunStatus.RUNNING,
                started_at=started,
                cursor_before=cursor,
            )
        )
        return int(res.inserted_primary_key[0])  # type: ignore[index]


def _update_run(conn: Connection, result: RunResult, **extra: Any) -> None:
    conn.execute(
        update(SyncRun)
        .where(SyncRun.id == result.run_id)
        .values(
            pages=result.pages,
            records_in=result.records_in,
            records_changed=result.changed,
            records_quarantined=result.quarantined,
            cursor_after=result.cursor,
            **extra,
        )
    )


def _finish_run(engine: Engine, result: RunResult) -> None:
    with engine.begin() as conn:
        # an error text may quote what an upstream system answered: never store a secret in clear
        error = redact_text(result.error) if result.error else None
        _update_run(conn, result, status=result.status, finished_at=utcnow(), error=error)
