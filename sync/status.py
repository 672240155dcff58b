"""Per-stream health: the last run, its outcome, the saved cursor, open quarantine and lag.

Three queries whatever the number of streams: the latest run per stream, the cursors, and the
open-quarantine counts. ``lag`` is the time since the last successful run finished.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select

from mapping.records import utcnow
from store.models import Quarantine, SyncCursor, SyncRun

Key = tuple[str, str]


@dataclass(frozen=True)
class StreamStatus:
    connector: str
    stream: str
    last_started: datetime | None = None
    outcome: str | None = None
    error: str | None = None
    cursor: str | None = None
    records_in: int = 0
    records_changed: int = 0
    quarantined_open: int = 0
    last_success: datetime | None = None

    @property
    def lag(self) -> timedelta | None:
        return None if self.last_success is None else utcnow() - self.last_success

    def cells(self) -> list[str]:
        """The row as text cells for a table."""
        lag = self.lag
        return [
            self.connector,
            self.stream,
            self.last_started.strftime("%Y-%m-%d %H:%M:%S") if self.last_started else "never",
            (self.outcome or "-") + (f": {self.error[:60]}" if self.error else ""),
            self.cursor or "-",
            str(self.records_in),
            str(self.records_changed),
            str(self.quarantined_open),
            _human(lag) if lag is not None else "-",
        ]


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def stream_status(engine: Engine, configured: Iterable[Key] = ()) -> list[StreamStatus]:
    """Status of every configured stream and of every stream that has ever run, sorted."""
    with engine.connect() as conn:
        latest = select(func.max(SyncRun.id)).group_by(SyncRun.connector, SyncRun.stream)
        runs = {
            (r.connector, r.stream): r for r in conn.execute(select(SyncRun).where(SyncRun.id.in_(latest)))
        }
        ok = conn.execute(
            select(SyncRun.connector, SyncRun.stream, func.max(SyncRun.finished_at))
            .where(SyncRun.status == "ok")
            .group_by(SyncRun.connector, SyncRun.stream)
        ).all()
        last_ok = {(c, s): t for c, s, t in ok}
        cursors = {(c.connector, c.stream): c.value for c in conn.execute(select(SyncCursor))}
        quarantine = {
            (c, s): n
            for c, s, n in conn.execute(
                select(Quarantine.connector, Quarantine.stream, func.count())
                .where(Quarantine.status == "open")
                .group_by(Quarantine.connector, Quarantine.stream)
            )
        }
    keys = sorted(set(configured) | set(runs) | set(cursors) | set(quarantine))
    result = []
    for key in keys:
        run = runs.get(key)
        result.append(
            StreamStatus(
                connector=key[0],
                stream=key[1],
                last_started=run.started_at if run else None,
                outcome=run.status if run else None,
                error=run.error if run else None,
                cursor=cursors.get(key),
                records_in=run.records_in if run else 0,
                records_changed=run.records_changed if run else 0,
                quarantined_open=quarantine.get(key, 0),
                last_success=last_ok.get(key),
            )
        )
    return result
