"""Operational alerts for IT staff: before the business notices that something is wrong.

Checked on a schedule, each with one open alert per subject and a ``resolved`` message when it
clears:

- ``sync_failing``: the last N runs of a stream failed (``alerts.operational.failing_runs``);
- ``stream_stale``: no successful run for longer than the stream's ``staleness``;
- ``unmapped_sku``: records of a stream wait in quarantine for a SKU binding;
- ``negative_stock``: a source reported negative on-hand;
- ``dispatch_sla``: a dispatch instruction was not acknowledged in time (re-sent, escalated);
- ``drift``: a channel shows a quantity off by more than the tolerance from what erpsync last
  pushed there (from the drift check).

Raised by the sync engine as it runs (``raise_condition`` / ``clear_condition``, in the run's own
transaction), each resolved by the run that finds it cleared:

- ``snapshot_held``: a stock snapshot would zero too much of its source and waits for a person
  (``sync.snapshot_guard``);
- ``cursor_ahead``: records dated past the run's start (plus the allowed clock skew) held the
  cursor back (``sync.cursor_cap``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from alerts.notify import AlertPolicy, Where, notify
from core.excerpt import shorten
from core.statuses import DISPATCH_UNACKNOWLEDGED, AlertSeverity, AlertState, RunStatus
from store.models import Alert, DispatchInstruction, Location, Quarantine, StockLevel, SyncRun
from store.task_state import Checkpoint


@dataclass(frozen=True)
class Condition:
    kind: str
    subject: str  # what it is about, e.g. "erp/stock"
    severity: AlertSeverity
    reason: str
    where: Where = field(default_factory=Where)


#: the task_state row that makes checks of conditions run one at a time across processes
CONDITIONS = "alerts:conditions"


def _key(kind: str, subject: str) -> str:
    return f"{kind}:{subject}"[:191]


def reconcile_conditions(
    conn: Connection,
    policy: AlertPolicy,
    kinds: Iterable[str],
    active: list[Condition],
    now: datetime,
    *,
    prefix: str = "",
    exact: bool = False,
) -> tuple[int, int]:
    """Open alerts for new conditions, resolve those of ``kinds`` no longer active; (opened, resolved).

    With ``prefix``, only open alerts whose key starts with it are considered (one channel's drift);
    with ``exact``, only the one whose key is ``prefix``. Holds the ``task_state`` row
    ``alerts:conditions`` until the caller's transaction ends: two services checking at once would
    otherwise both find a new condition without its alert (READ COMMITTED) and both open it, and
    the unique ``open_key`` would fail the second check.
    """
    Checkpoint(CONDITIONS).covered(conn, lock=True)
    kinds = set(kinds)
    scope = Alert.open_key == prefix if exact else Alert.open_key.startswith(prefix)
    current = {
        r.open_key: r
        for r in conn.execute(
            select(Alert.__table__)
            .where(Alert.kind.in_(kinds), Alert.open_key.is_not(None), scope)
            .with_for_update()
        )
    }
    opened = resolved = 0
    wanted = {_key(c.kind, c.subject): c for c in active}
    for key, c in wanted.items():
        if key in current:
            continue
        details = {"subject": c.subject, "reason": c.reason}
        res = conn.execute(
            insert(Alert).values(
                kind=c.kind,
                severity=c.severity,
                state=AlertState.OPEN,
                open_key=key,
                details=details,
                opened_at=now,
                updated_at=now,
            )
        )
        alert = {"kind": c.kind, "severity": c.severity, "sku": None, **details}
        notify(
            conn,
            policy,
            alert_id=int(res.inserted_primary_key[0]),  # type: ignore[index]
            event="opened",
            alert=alert,
            where=c.where,
            now=now,
        )
        opened += 1
    for key, row in current.items():
        if key in wanted:
            continue
        conn.execute(
            update(Alert)
            .where(Alert.id == row.id)
            .values(state=AlertState.RESOLVED, open_key=None, resolved_at=now, updated_at=now)
        )
        info: dict[str, Any] = dict(row.details or {})
        alert = {"kind": row.kind, "severity": row.severity, "sku": None, **info, "reason": "cleared"}
        notify(conn, policy, alert_id=row.id, event="resolved", alert=alert, where=Where(), now=now)
        resolved += 1
    return opened, resolved


def raise_condition(conn: Connection, policy: AlertPolicy, condition: Condition, now: datetime) -> bool:
    """Open the alert of ``condition``'s kind and subject unless it is open already; True if opened."""
    opened, _ = reconcile_conditions(
        conn,
        policy,
        [condition.kind],
        [condition],
        now,
        prefix=_key(condition.kind, condition.subject),
        exact=True,
    )
    return opened > 0


def clear_condition(conn: Connection, policy: AlertPolicy, kind: str, subject: str, now: datetime) -> bool:
    """Resolve the open alert of ``kind`` about ``subject``, if there is one; True if resolved."""
    key = _key(kind, subject)
    _, resolved = reconcile_conditions(conn, policy, [kind], [], now, prefix=key, exact=True)
    return resolved > 0


def sync_conditions(
    conn: Connection, *, failing_runs: int, staleness: Mapping[tuple[str, str], timedelta], now: datetime
) -> list[Condition]:
    """Failing and stale streams, and streams with records waiting for a SKU binding."""
    found: list[Condition] = []
    recent = conn.execute(
        select(SyncRun.connector, SyncRun.stream, SyncRun.status, SyncRun.error)
        .where(SyncRun.status != RunStatus.BUSY)
        .order_by(SyncRun.id.desc())
        .limit(5000)
    ).all()
    streams: dict[tuple[str, str], list[Any]] = {}
    for r in recent:
        streams.setdefault((r.connector, r.stream), []).append(r)
    for (c, s), runs in streams.items():
        last = runs[:failing_runs]
        if len(last) == failing_runs and all(r.status == RunStatus.FAILED for r in last):
            found.append(
                Condition(
                    "sync_failing",
                    f"{c}/{s}",
                    AlertSeverity.CRITICAL,
                    f"the last {failing_runs} runs failed; latest: {shorten(last[0].error or '', 200)}",
                )
            )
    last_ok = {
        (c, s): t
        for c, s, t in conn.execute(
            select(SyncRun.connector, SyncRun.stream, func.max(SyncRun.finished_at))
            .where(SyncRun.status == RunStatus.OK)
            .group_by(SyncRun.connector, SyncRun.stream)
        )
    }
    for key, limit in staleness.items():
        ok = last_ok.get(key)
        if ok is None or now - ok > limit:
            since = "never" if ok is None else f"{int((now - ok).total_seconds() // 60)} min ago"
            found.append(
                Condition(
                    "stream_stale",
                    f"{key[0]}/{key[1]}",
                    AlertSeverity.WARNING,
                    f"no successful run for longer than {limit} (last: {since})",
                )
            )
    for c, s, n in conn.execute(
        select(Quarantine.connector, Quarantine.stream, func.count())
        .where(Quarantine.status == "open", Quarantine.reason_code == "unmapped_sku")
        .group_by(Quarantine.connector, Quarantine.stream)
    ):
        found.append(
            Condition(
                "unmapped_sku",
                f"{c}/{s}",
                AlertSeverity.WARNING,
                f"{n} record(s) wait for a SKU binding: erpsync quarantine list --reason unmapped_sku",
            )
        )
    return found


def stock_conditions(conn: Connection) -> list[Condition]:
    """Negative on-hand reported by a source, and dispatch instructions past their SLA."""
    found = [
        Condition(
            "negative_stock",
            f"{sku}@{code}",
            AlertSeverity.WARNING,
            f"{source or 'a source'} reports {on_hand} on hand",
            Where(code, kind),
        )
        for sku, code, kind, on_hand, source in conn.execute(
            select(StockLevel.sku, Location.code, Location.kind, StockLevel.on_hand, StockLevel.source)
            .join(Location, Location.id == StockLevel.location_id)
            .where(StockLevel.on_hand < 0)
        )
    ]
    found += [
        Condition(
            "dispatch_sla",
            number,
            AlertSeverity.WARNING,
            f"not acknowledged in time by {code}; sent {sends} time(s)",
            Where(code, kind),
        )
        for number, code, kind, sends in conn.execute(
            select(DispatchInstruction.number, Location.code, Location.kind, DispatchInstruction.send_count)
            .join(Location, Location.id == DispatchInstruction.location_id)
            .where(
                DispatchInstruction.escalated_at.is_not(None),
                DispatchInstruction.status.in_(DISPATCH_UNACKNOWLEDGED),
            )
        )
    ]
    return found


OPERATIONAL_KINDS = ("sync_failing", "stream_stale", "unmapped_sku", "negative_stock", "dispatch_sla")
