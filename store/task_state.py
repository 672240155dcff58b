"""Where recurring work stands, kept in the database so that any process can go on from there.

The service decides when work is due and an executor decides where it runs (``sync.executor``);
what decides *what* a run does next must not live in one process's memory, or a restart — or a
second machine — would repeat or skip work. One ``task_state`` row per piece of work holds:

- ``checkpoint``: the work has covered every change up to this time. A pass reads the changes
  since the checkpoint and records the time it started as the new checkpoint only once its work
  is committed: in the same transaction where it can (a :class:`Checkpoint` saved on the pass's
  connection), else right after it (the pass must then be idempotent: doing it again finds
  nothing left to do). A pass that stops half-way leaves the checkpoint where it was, so the
  next one covers what it did not, and nothing it did is done twice.
- ``inputs``: the :func:`fingerprint` of the configuration the checkpoint was reached with. A
  checkpoint reached under other rules covers nothing: the next pass starts from scratch.
- ``last_run_at``: when the scheduled work last ran (:func:`record_run`); the service schedules
  its next run from it (:func:`last_runs`) rather than running everything again at each start.

>>> planned = Checkpoint("plan:shop", fingerprint(policies))
>>> with engine.begin() as conn:
...     since = planned.covered(conn, lock=True)  # None: start from scratch
...     started = utcnow()
...     ...  # the pass's work, then
...     planned.save(conn, started)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, select

from core.clock import utcnow
from store.models import TaskState
from store.upsert import NEW, upsert


def fingerprint(*parts: object) -> str:
    """A digest of ``parts``' ``repr``: equal for equal configuration values in any process."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Checkpoint:
    """How far the work ``name`` got under the configuration whose fingerprint is ``inputs``."""

    name: str
    inputs: str = ""

    def covered(self, conn: Connection, *, lock: bool = False) -> datetime | None:
        """Every change up to the returned time is covered; None: nothing is (start from scratch).

        ``lock`` holds the row until the transaction ends, so passes of one piece of work run one
        after the other across processes (on SQLite, transactions are serialised anyway).
        """
        query = select(TaskState.checkpoint, TaskState.inputs).where(TaskState.name == self.name)
        if lock:
            # the row must exist to be locked; the no-op update keeps what is there
            upsert(
                conn,
                TaskState,
                [{"name": self.name, "updated_at": utcnow()}],
                key=["name"],
                update={"updated_at": TaskState.updated_at},
            )
            query = query.with_for_update()
        row = conn.execute(query).tuples().first()
        if row is None or row[1] != self.inputs:
            return None
        return row[0]

    def save(self, conn: Connection, at: datetime | None) -> None:
        """Record that every change up to ``at`` is covered (None: nothing is, start from scratch)."""
        upsert(
            conn,
            TaskState,
            [{"name": self.name, "checkpoint": at, "inputs": self.inputs, "updated_at": utcnow()}],
            key=["name"],
            update={"checkpoint": NEW, "inputs": NEW, "updated_at": NEW},
        )


def record_run(engine: Engine, name: str, at: datetime) -> None:
    """Record that the scheduled work ``name`` ran at ``at``."""
    with engine.begin() as conn:
        upsert(
            conn,
            TaskState,
            [{"name": name, "last_run_at": at, "updated_at": utcnow()}],
            key=["name"],
            update={"last_run_at": NEW, "updated_at": NEW},
        )


def last_runs(engine: Engine, names: Iterable[str]) -> dict[str, datetime]:
    """When each of ``names`` last ran, for those that ever did."""
    wanted = list(names)
    if not wanted:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(TaskState.name, TaskState.last_run_at).where(
                TaskState.name.in_(wanted), TaskState.last_run_at.is_not(None)
            )
        )
        return {name: at for name, at in rows.tuples() if at is not None}


__all__ = ["Checkpoint", "fingerprint", "last_runs", "record_run"]
