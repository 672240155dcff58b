"""Seconds between two timestamps, measured by the database, alike on every backend."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, insert, select

from core.clock import utcnow
from store.durations import elapsed_seconds
from store.models import SyncRun


def test_elapsed_seconds_to_the_millisecond_never_below_zero(store_engine: Engine) -> None:
    start = utcnow()
    runs = [
        {"finished_at": start + timedelta(seconds=90, milliseconds=250)},
        {"finished_at": start - timedelta(seconds=3)},  # a clock that stepped back
        {"finished_at": None},  # still running
    ]
    with store_engine.begin() as conn:
        conn.execute(
            insert(SyncRun),
            [{"connector": "erp", "stream": "stock", "status": "ok", "started_at": start, **r} for r in runs],
        )
        seconds = (
            conn.execute(
                select(elapsed_seconds(SyncRun.started_at, SyncRun.finished_at)).order_by(SyncRun.id)
            )
            .scalars()
            .all()
        )
    assert seconds == [pytest.approx(90.25, abs=0.001), 0.0, None]
