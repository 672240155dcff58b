"""The cursor cap: a record dated in the future is applied but never moves the cursor past the run's
start plus the allowed skew, so the records that arrive after it are still read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from store.locations import LocationSpec, apply_locations
from store.models import Alert, StockLevel, SyncCursor, SyncRun
from sync.cursor_cap import CursorClock, cap_cursor
from sync.engine import StreamJob, run_stream
from tests.sync.fakes import ListSource, plain_mapper

START = datetime(2026, 5, 1, 8, 0, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cursor", "capped"),
    [
        ("2027-01-01 00:00:00", "2026-05-01 08:05:00"),  # Odoo: naive UTC, a space
        ("2027-01-01T00:00:00Z", "2026-05-01T08:05:00Z"),
        ("2027-01-01T00:00:00.5+08:00", "2026-05-01T16:05:00.1+08:00"),
        ("2027-01-01T00:00:00.000000+0800", "2026-05-01T16:05:00.123456+0800"),
        ("2027-01-01T09:30", "2026-05-01T08:05"),
        ("2027-01-01", "2026-05-01"),
    ],
)
def test_a_future_timestamp_is_capped_in_its_own_format(cursor: str, capped: str) -> None:
    result = cap_cursor(cursor, START, CursorClock())
    assert result.value == capped
    assert result.ahead is not None
    assert result.ahead > timedelta(days=200)


def test_naive_times_are_read_in_the_configured_zone() -> None:
    # 15:00 in Shanghai is 07:00 UTC: before the run's start, so it stays
    shanghai = CursorClock(zone="Asia/Shanghai")
    assert cap_cursor("2026-05-01T15:00:00", START, shanghai).ahead is None
    assert cap_cursor("2026-05-01T15:00:00", START, CursorClock()).value == "2026-05-01T08:05:00"
    assert cap_cursor("2026-05-02T00:00:00", START, shanghai).value == "2026-05-01T16:05:00"


def test_unix_times_are_capped_only_when_the_stream_says_so() -> None:
    later = str(int((START + timedelta(days=30)).timestamp()))
    limit = int((START + timedelta(minutes=5)).timestamp())
    assert cap_cursor(later, START, CursorClock()).ahead is None  # a number may be an id
    assert cap_cursor(later, START, CursorClock(epoch="seconds")).value == str(limit)
    in_ms = str(int((START + timedelta(minutes=5)).timestamp() * 1000))
    assert cap_cursor(later + "000", START, CursorClock(epoch="milliseconds")).value == in_ms
    assert cap_cursor(later + ".25", START, CursorClock(epoch="seconds")).value == f"{limit}.12"


@pytest.mark.parametrize(
    "cursor", ["2026-05-01T08:04:59Z", "0000000042:ab12", "token-xyz", "2026-13-45", "17"]
)
def test_past_times_and_other_cursors_are_kept(cursor: str) -> None:
    assert cap_cursor(cursor, START, CursorClock(skew=timedelta(minutes=5))).value == cursor


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def row(sku: str, qty: int, updated: datetime) -> dict[str, Any]:
    return {"id": sku, "updated": stamp(updated), "data": {"sku": sku, "location": "WH1", "on_hand": qty}}


def open_alerts(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        query = select(Alert.details).where(Alert.kind == "cursor_ahead", Alert.state == "open")
        return [str((d or {}).get("reason")) for d in conn.execute(query).scalars()]


def test_a_record_from_next_year_is_applied_but_does_not_hide_later_records(
    store_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_locations(store_engine, [LocationSpec("WH1", "Factory", "warehouse")])
    now = datetime.now(UTC)
    source = ListSource("erp", {"stock": [row("A", 1, now - timedelta(hours=2))]}, size=10)
    source.rows["stock"].append(row("FUTURE", 7, now + timedelta(days=365)))
    job = StreamJob(source, "stock", plain_mapper("stock"), clock=CursorClock(skew=timedelta(minutes=10)))

    first = run_stream(store_engine, job)

    with store_engine.connect() as conn:
        started = conn.execute(select(SyncRun.started_at).where(SyncRun.id == first.run_id)).scalar_one()
        saved = conn.execute(select(SyncCursor.value)).scalar_one()
        levels = dict(conn.execute(select(StockLevel.sku, StockLevel.on_hand)).tuples().all())
    assert first.status == "ok"
    assert saved == first.cursor == stamp(started + timedelta(minutes=10))
    assert levels == {"A": 1, "FUTURE": 7}
    [reason] = open_alerts(store_engine)
    assert "a record is dated " + stamp(now + timedelta(days=365)) in reason
    assert "365d past the run's start (allowed clock skew 10m)" in reason

    # half an hour later a record changes; a cursor left at next year would never see it
    source.rows["stock"].append(row("LATE", 3, started + timedelta(minutes=30)))
    monkeypatch.setattr("sync.engine.utcnow", lambda: datetime.now(UTC) + timedelta(hours=1))
    second = run_stream(store_engine, job)
    assert second.status == "ok"
    assert source.calls[-1] == ("stock", saved)
    with store_engine.connect() as conn:
        assert conn.execute(select(StockLevel.on_hand).where(StockLevel.sku == "LATE")).scalar_one() == 3
    assert len(open_alerts(store_engine)) == 1  # the record is still dated next year

    source.rows["stock"][1] = row("FUTURE", 7, now)  # corrected at the source
    monkeypatch.setattr("sync.engine.utcnow", lambda: datetime.now(UTC) + timedelta(hours=2))
    assert run_stream(store_engine, job).status == "ok"
    assert open_alerts(store_engine) == []
