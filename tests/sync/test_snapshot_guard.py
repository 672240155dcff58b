"""The shrink guard and error answers: a broken stock snapshot never zeroes the store or a channel.

A REST stock snapshot answered with HTTP 200 and ``{"success": false, "items": []}`` runs through
the real engine: with the stream's ``error`` declaration it fails with the upstream's message; without
one it is an empty snapshot, which the guard holds. Either way the store and the outbox stay as they
were until a person accepts the shrink.
"""

from __future__ import annotations

from typing import Any

import pytest
import responses
from sqlalchemy import Engine, func, select

from connectors.rest import RestConnector, RestSettings
from core.errors import PermanentError
from store.locations import LocationSpec, apply_locations
from store.models import Alert, Outbox, SnapshotHold, StockLevel, StockMovement, SyncRun
from sync.engine import StreamJob, run_stream
from sync.outbound import plan_and_enqueue
from sync.sellable import ChannelPolicy
from tests.sync.fakes import plain_mapper

BASE = "https://erp.example/api"
TOKEN = "tok-Zq81-secret-never-shown"
SHOP = [ChannelPolicy("shop", ("WH",))]


def erp(**stream: Any) -> RestConnector:
    spec = {"path": "stock", "record_path": "items", "primary_key": ["sku"], "snapshot": True} | stream
    raw = {"base_url": BASE, "auth": {"type": "bearer", "token": TOKEN}, "streams": {"stock": spec}}
    return RestConnector("erp", RestSettings.model_validate(raw))


def rest_mapper() -> Any:
    """The ERP's items as raw rows for ``plain_mapper``: ``{"sku", "qty"}`` at WH."""
    plain = plain_mapper("stock")

    def mapper(engine: Engine, raws: list[dict[str, Any]]) -> Any:
        rows = [
            {"id": r["sku"], "data": {"sku": r["sku"], "location": "WH", "on_hand": r["qty"]}} for r in raws
        ]
        return plain(engine, rows)

    return mapper


def levels(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(StockLevel.sku, StockLevel.on_hand)).tuples().all())


def count(engine: Engine, model: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def open_alerts(engine: Engine, kind: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(Alert.details).where(Alert.kind == kind, Alert.state == "open"))
        return [dict(r or {}) for r in rows.scalars()]


@pytest.fixture
def store(store_engine: Engine) -> Engine:
    apply_locations(store_engine, [LocationSpec("WH", "Factory", "warehouse", stock_source="erp")])
    return store_engine


def stocked(engine: Engine, job: StreamJob, items: list[tuple[str, int]]) -> int:
    """Land a good snapshot of ``items`` and queue it for the shop; how many pushes were queued."""
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/stock", json={"success": True, "items": [{"sku": s, "qty": q} for s, q in items]})
        assert run_stream(engine, job).status == "ok"
    return plan_and_enqueue(engine, SHOP, "shop")


def test_an_error_answer_fails_the_run_naming_the_upstream_message_and_changes_nothing(store: Engine) -> None:
    job = StreamJob(erp(error={"when": "success == `false`", "message": "msg"}), "stock", rest_mapper())
    assert stocked(store, job, [("TEA", 10), ("CUP", 4)]) == 2
    before, moves, queued = levels(store), count(store, StockMovement), count(store, Outbox)

    with responses.RequestsMock() as mock:
        reply = {"success": False, "msg": f"token {TOKEN} expired", "items": []}
        mock.get(f"{BASE}/stock", json=reply)
        with pytest.raises(PermanentError) as caught:
            run_stream(store, job)

    text = str(caught.value)
    assert "the API answered stock with a failure: token" in text
    assert "expired" in text
    assert "connector=erp stream=stock" in text
    assert TOKEN not in text
    assert levels(store) == before
    assert count(store, StockMovement) == moves
    assert plan_and_enqueue(store, SHOP, "shop") == 0
    assert count(store, Outbox) == queued
    assert count(store, SyncRun, SyncRun.status == "failed") == 1
    assert count(store, SnapshotHold) == 0


def test_an_empty_snapshot_is_held_with_an_alert_and_nothing_queued_until_accepted(store: Engine) -> None:
    job = StreamJob(erp(), "stock", rest_mapper())  # no `error:` declared: the guard is what is left
    assert stocked(store, job, [("TEA", 10), ("CUP", 4)]) == 2
    queued = count(store, Outbox)

    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/stock", json={"success": False, "items": []})
        held = run_stream(store, job)

    assert (held.status, held.changed) == ("held", 0)
    assert held.error is not None
    assert "listed no record" in held.error
    assert levels(store) == {"TEA": 10, "CUP": 4}
    [alert] = open_alerts(store, "snapshot_held")
    assert alert["subject"] == "erp/stock"
    assert "erpsync sync erp stock --accept-shrink" in alert["reason"]
    assert count(store, SnapshotHold) == 1
    assert plan_and_enqueue(store, SHOP, "shop") == 0
    assert count(store, Outbox) == queued

    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/stock", json={"success": True, "items": []})
        accepted = run_stream(store, job, accept_shrink=True)

    assert (accepted.status, accepted.changed) == ("ok", 2)
    assert levels(store) == {"TEA": 0, "CUP": 0}
    assert open_alerts(store, "snapshot_held") == []
    assert count(store, SnapshotHold) == 0
    assert plan_and_enqueue(store, SHOP, "shop") == 2  # now the zeros are real


def test_a_snapshot_zeroing_a_quarter_is_held_and_a_tenth_is_applied(store: Engine) -> None:
    job = StreamJob(erp(), "stock", rest_mapper())
    skus = [f"S{n:02d}" for n in range(20)]
    stocked(store, job, [(s, 5) for s in skus])
    queued = count(store, Outbox)

    # 5 of 20 would go to zero: 3 no longer listed, 2 reported as 0; one other row changes
    quarter = [(s, 0) for s in skus[3:5]] + [(s, 5) for s in skus[5:]]
    quarter[-1] = (skus[-1], 9)
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/stock", json={"items": [{"sku": s, "qty": q} for s, q in quarter]})
        held = run_stream(store, job)

    assert held.status == "held"
    assert "would zero 5 of the 20 row(s) erp holds (more than 20%)" in (held.error or "")
    assert levels(store) == {**dict.fromkeys(skus[:-1], 5), skus[-1]: 9}  # the non-zero change landed
    assert len(open_alerts(store, "snapshot_held")) == 1
    assert plan_and_enqueue(store, SHOP, "shop") == 0
    assert count(store, Outbox) == queued

    # 2 of 20: within the share — applied, hold released, alert resolved
    tenth = [(skus[0], 0)] + [(s, 5) for s in skus[2:]]
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/stock", json={"items": [{"sku": s, "qty": q} for s, q in tenth]})
        applied = run_stream(store, job)

    assert (applied.status, applied.changed) == ("ok", 3)  # two zeroed, the 9 back to 5
    assert levels(store) == {**dict.fromkeys(skus, 5), skus[0]: 0, skus[1]: 0}
    assert open_alerts(store, "snapshot_held") == []
    assert count(store, SnapshotHold) == 0
    assert plan_and_enqueue(store, SHOP, "shop") == 2  # the 9 was never queued: only the zeros


def test_max_shrink_is_the_config_override_and_an_empty_snapshot_still_needs_a_person(store: Engine) -> None:
    job = StreamJob(erp(), "stock", rest_mapper(), max_shrink=1.0)
    stocked(store, job, [("TEA", 10), ("CUP", 4)])
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/stock", json={"items": [{"sku": "CUP", "qty": 4}]})
        assert run_stream(store, job).status == "ok"  # half the rows, allowed by the setting
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE}/stock", json={"items": []})
        assert run_stream(store, job).status == "held"
    assert levels(store) == {"TEA": 0, "CUP": 4}


def test_with_missing_keep_only_the_zeros_it_reports_count(store: Engine) -> None:
    job = StreamJob(erp(), "stock", rest_mapper(), snapshot_missing="keep")
    stocked(store, job, [(f"S{n}", 3) for n in range(10)])
    with responses.RequestsMock() as mock:  # 3 of 10 reported as zero; the rest not listed (kept)
        mock.get(f"{BASE}/stock", json={"items": [{"sku": f"S{n}", "qty": 0} for n in range(3)]})
        assert run_stream(store, job).status == "held"
    assert set(levels(store).values()) == {3}
    with responses.RequestsMock() as mock:  # 1 of 10
        mock.get(f"{BASE}/stock", json={"items": [{"sku": "S0", "qty": 0}, {"sku": "S2", "qty": 3}]})
        assert run_stream(store, job).status == "ok"
    assert levels(store) == {"S0": 0, **{f"S{n}": 3 for n in range(1, 10)}}
