"""The HTTP API: tokens and roles, signed requests, dispatch changes, metrics, health and the server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import prometheus_client
import pytest
import requests
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, func, insert, select, update
from structlog.testing import capture_logs

from core.clock import utcnow
from core.errors import ConfigError
from delivery.signing import sign
from erpsync.api import ApiTokenSpec, create_app
from erpsync.api_server import ApiServer
from erpsync.metrics import metrics_registry
from store import outbox, stock
from store.locations import LocationSpec, apply_locations
from store.models import (
    Allocation,
    DispatchInstruction,
    OrderLine,
    Outbox,
    Quarantine,
    SalesOrder,
    Shipment,
    StockLevel,
    StockMovement,
    SyncRun,
)

ADMIN = ApiTokenSpec("ops", "admin-token-5b1f0c9e2d7a4c36", "admin")
VIEWER = ApiTokenSpec("manager", "viewer-token-8e2a7d1c0b9f4e55", "viewer")
WH_A = ApiTokenSpec("wh-a", "wh-a-token-1c3e5a7b9d0f2468", "warehouse", ("WH-A",))
WH_S = ApiTokenSpec("wh-s", "wh-s-token-0f9e8d7c6b5a4321", "warehouse", ("WH-S",))
SECRET = "whsec_signed_3f9a1c7e5b2d4f60"  # WH-S signs its requests; WH-A does not


@dataclass(frozen=True)
class World:
    engine: Engine
    locations: dict[str, int]


def bearer(spec: ApiTokenSpec) -> dict[str, str]:
    return {"Authorization": f"Bearer {spec.token}"}


def dispatched_order(engine: Engine, number: str, location_id: int, lines: list[tuple[str, int]]) -> None:
    """An order in status dispatched whose units are reserved at the location under instruction ``number``."""
    now = utcnow()
    with engine.begin() as conn:
        order_id = conn.execute(
            insert(SalesOrder).values(
                channel="tmall",
                external_id=f"T-{number}",
                status="dispatched",
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key[0]
        di_id = conn.execute(
            insert(DispatchInstruction).values(
                number=number, order_id=order_id, location_id=location_id, status="sent", send_count=1,
                created_at=now, updated_at=now,
            )
        ).inserted_primary_key[0]  # fmt: skip
        for line_no, (sku, qty) in enumerate(lines, 1):
            line_id = conn.execute(
                insert(OrderLine).values(
                    order_id=order_id, line_no=line_no, sku=sku, qty=qty, unit_price=Decimal("9.90")
                )
            ).inserted_primary_key[0]
            stock.adjust(conn, sku, location_id, qty + 5, ref="stock count")
            allocation_id = stock.allocate(conn, line_id, sku, location_id, qty)
            conn.execute(update(Allocation).where(Allocation.id == allocation_id).values(dispatch_id=di_id))


@pytest.fixture
def world(store_engine: Engine) -> World:
    locations = apply_locations(
        store_engine,
        [LocationSpec("WH-A", "Warehouse A", "warehouse"), LocationSpec("WH-S", "Signed shop", "retail")],
    )
    dispatched_order(store_engine, "DI-A-1", locations["WH-A"], [("TEA-001", 2), ("CUP-010", 1)])
    dispatched_order(store_engine, "DI-S-1", locations["WH-S"], [("TEA-001", 3)])
    return World(store_engine, locations)


def make_app(engine: Engine, **kwargs: Any) -> FastAPI:
    kwargs.setdefault("location_secrets", {"WH-S": SECRET})
    return create_app(engine, [ADMIN, VIEWER, WH_A, WH_S], **kwargs)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(make_app(world.engine, health=lambda: {"ok": True, "scheduler": "running"})) as c:
        yield c


def status_of(engine: Engine, number: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                select(DispatchInstruction.status).where(DispatchInstruction.number == number)
            ).scalar()
        )


def order_status(engine: Engine, number: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(select(SalesOrder.status).where(SalesOrder.external_id == f"T-{number}")).scalar()
        )


# -- tokens and roles ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-configured-token"}, {"Authorization": f"Basic {ADMIN.token}"}],
    ids=["none", "unknown", "not-bearer"],
)
def test_a_request_without_a_known_bearer_token_is_401(client: TestClient, headers: dict[str, str]) -> None:
    for method, path in (("GET", "/dispatch"), ("GET", "/metrics"), ("POST", "/dispatch/DI-A-1/ack")):
        answer = client.request(method, path, headers=headers)
        assert answer.status_code == 401, path
        assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_a_token_never_appears_in_repr() -> None:
    assert ADMIN.token not in repr(ADMIN)


def test_a_viewer_reads_everything_but_may_not_acknowledge(client: TestClient, world: World) -> None:
    listed = client.get("/dispatch", headers=bearer(VIEWER))
    assert listed.status_code == 200
    assert sorted(i["number"] for i in listed.json()) == ["DI-A-1", "DI-S-1"]
    assert client.post("/dispatch/DI-A-1/ack", headers=bearer(VIEWER)).status_code == 403
    assert client.post("/dispatch/DI-A-1/shipments", headers=bearer(VIEWER), json={}).status_code == 403
    assert status_of(world.engine, "DI-A-1") == "sent"


def test_a_warehouse_sees_only_its_own_instructions(client: TestClient) -> None:
    listed = client.get("/dispatch", headers=bearer(WH_A))
    assert [i["number"] for i in listed.json()] == ["DI-A-1"]
    assert client.get("/dispatch/DI-S-1", headers=bearer(WH_A)).status_code == 404
    one = client.get("/dispatch/DI-A-1", headers=bearer(WH_A)).json()
    assert (one["location"], one["status"], one["channel"], one["external_id"]) == (
        "WH-A", "sent", "tmall", "T-DI-A-1"
    )  # fmt: skip
    assert [(ln["line_no"], ln["sku"], ln["qty"]) for ln in one["lines"]] == [
        (1, "TEA-001", 2), (2, "CUP-010", 1)
    ]  # fmt: skip
    assert client.get("/dispatch?status=acknowledged", headers=bearer(ADMIN)).json() == []
    assert client.get("/dispatch?limit=0", headers=bearer(ADMIN)).status_code == 422


def test_a_warehouse_may_not_change_another_locations_instruction(client: TestClient, world: World) -> None:
    assert client.post("/dispatch/DI-S-1/ack", headers=bearer(WH_A)).status_code == 404
    parcel = {"carrier": "SF", "tracking_no": "SF1"}
    assert client.post("/dispatch/DI-S-1/shipments", headers=bearer(WH_A), json=parcel).status_code == 404
    assert status_of(world.engine, "DI-S-1") == "sent"
    with world.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Shipment)).scalar() == 0


def test_an_unknown_instruction_is_404(client: TestClient) -> None:
    assert client.get("/dispatch/DI-NOPE", headers=bearer(ADMIN)).status_code == 404
    answer = client.post("/dispatch/DI-NOPE/ack", headers=bearer(ADMIN))
    assert answer.status_code == 404
    assert "DI-NOPE" in answer.json()["detail"]


# -- acknowledgements ------------------------------------------------------------------------------


def test_a_warehouse_acknowledges_its_own_instruction_once(client: TestClient, world: World) -> None:
    first = client.post("/dispatch/DI-A-1/ack", headers=bearer(WH_A), json={"by": "Li Wei"})
    assert first.status_code == 200
    assert first.json() == {"number": "DI-A-1", "status": "acknowledged"}
    again = client.post("/dispatch/DI-A-1/ack", headers=bearer(WH_A))
    assert again.status_code == 200
    assert again.json()["status"] == "acknowledged"
    with world.engine.connect() as conn:
        by = conn.execute(
            select(DispatchInstruction.acknowledged_by).where(DispatchInstruction.number == "DI-A-1")
        ).scalar()
    assert by == "Li Wei (wh-a)"


@pytest.mark.parametrize(
    "body",
    [b'{"by": 5}', b"not json", b'{"by": "li", "extra": 1}', b"[]"],
    ids=["type", "json", "extra", "list"],
)
def test_a_malformed_ack_body_is_422_and_changes_nothing(
    client: TestClient, world: World, body: bytes
) -> None:
    answer = client.post("/dispatch/DI-A-1/ack", headers=bearer(WH_A), content=body)
    assert answer.status_code == 422
    assert status_of(world.engine, "DI-A-1") == "sent"


# -- signed requests -------------------------------------------------------------------------------


def signed(
    body: bytes, *, nonce: str, timestamp: int | None = None, target: str = "/dispatch/DI-S-1/ack"
) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        **bearer(WH_S),
        "Content-Type": "application/json",
        **sign(SECRET, body, method="POST", target=target, timestamp=stamp, nonce=nonce),
    }


def test_a_validly_signed_ack_is_accepted(client: TestClient, world: World) -> None:
    body = b'{"by": "Zhang"}'
    answer = client.post("/dispatch/DI-S-1/ack", headers=signed(body, nonce="n-valid"), content=body)
    assert answer.status_code == 200, answer.text
    assert status_of(world.engine, "DI-S-1") == "acknowledged"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing header"),
        (signed(b'{"by": "Zhang"}', nonce="n-tamper"), "bad signature"),
        (
            signed(b'{"by": "Zhao"}', nonce="n-old", timestamp=int(time.time()) - 3600),
            "timestamp outside the window",
        ),
    ],
    ids=["unsigned", "tampered", "stale"],
)
def test_a_badly_signed_ack_is_401(
    client: TestClient, world: World, headers: dict[str, str], reason: str
) -> None:
    with capture_logs() as logs:
        answer = client.post(
            "/dispatch/DI-S-1/ack", headers={**bearer(WH_S), **headers}, content=b'{"by": "Zhao"}'
        )
    assert answer.status_code == 401
    assert answer.json()["detail"] == f"signature refused: {reason}"
    assert SECRET not in answer.text
    assert status_of(world.engine, "DI-S-1") == "sent"
    assert [(e["event"], e["caller"], e["reason"]) for e in logs if "reason" in e] == [
        ("signed request refused", "wh-s", reason)
    ]
    logged = json.dumps(logs, default=str)
    assert SECRET not in logged
    assert WH_S.token not in logged
    assert "Zhao" not in logged


def test_a_replayed_request_is_401(client: TestClient, world: World) -> None:
    body = b'{"by": "Zhang"}'
    headers = signed(body, nonce="n-replay")
    assert client.post("/dispatch/DI-S-1/ack", headers=headers, content=body).status_code == 200
    replay = client.post("/dispatch/DI-S-1/ack", headers=headers, content=body)
    assert replay.status_code == 401
    assert replay.json()["detail"] == "signature refused: nonce already used"
    # another process on the same store refuses it too
    with TestClient(make_app(world.engine)) as other:
        assert other.post("/dispatch/DI-S-1/ack", headers=headers, content=body).status_code == 401


def test_every_post_about_a_signed_location_needs_a_signature(client: TestClient, world: World) -> None:
    assert client.post("/dispatch/DI-S-1/ack", headers=bearer(ADMIN)).status_code == 401
    body = json.dumps({"carrier": "SF", "tracking_no": "SF9"}).encode()
    headers = signed(body, nonce="n-ship", target="/dispatch/DI-S-1/shipments")
    answer = client.post("/dispatch/DI-S-1/shipments", headers=headers, content=body)
    assert answer.status_code == 200
    assert order_status(world.engine, "DI-S-1") == "shipped"


# -- shipments -------------------------------------------------------------------------------------


def ledger(engine: Engine) -> list[tuple[str, int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(StockMovement.sku, StockMovement.delta_on_hand, StockMovement.delta_reserved)
            .where(StockMovement.reason == "dispatch")
            .order_by(StockMovement.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_a_shipment_ships_the_order_and_consumes_the_stock_once(client: TestClient, world: World) -> None:
    parcel = {
        "carrier": "SF",
        "tracking_no": "SF1001",
        "lines": None,
        "shipped_at": "2026-11-22T10:00:00+08:00",
    }
    first = client.post("/dispatch/DI-A-1/shipments", headers=bearer(WH_A), json=parcel)
    assert first.status_code == 200, first.text
    assert first.json() == {"number": "DI-A-1", "order_status": "shipped"}
    assert order_status(world.engine, "DI-A-1") == "shipped"
    assert status_of(world.engine, "DI-A-1") == "shipped"
    assert ledger(world.engine) == [("TEA-001", -2, -2), ("CUP-010", -1, -1)]
    again = client.post("/dispatch/DI-A-1/shipments", headers=bearer(WH_A), json=parcel)
    assert again.status_code == 200
    assert again.json()["order_status"] == "shipped"
    assert len(ledger(world.engine)) == 2
    with world.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Shipment)).scalar() == 1
        on_hand = conn.execute(
            select(StockLevel.on_hand, StockLevel.reserved).where(
                StockLevel.sku == "TEA-001", StockLevel.location_id == world.locations["WH-A"]
            )
        ).one()
    assert tuple(on_hand) == (5, 0)


def test_a_partial_shipment_leaves_the_rest_reserved(client: TestClient, world: World) -> None:
    parcel = {"carrier": "SF", "tracking_no": "SF1", "lines": [{"line_no": 1, "qty": 1}]}
    answer = client.post("/dispatch/DI-A-1/shipments", headers=bearer(ADMIN), json=parcel)
    assert answer.json()["order_status"] == "partially_shipped"
    assert ledger(world.engine) == [("TEA-001", -1, -1)]
    unknown = {"carrier": "SF", "tracking_no": "SF2", "lines": [{"line_no": 9, "qty": 1}]}
    assert client.post("/dispatch/DI-A-1/shipments", headers=bearer(ADMIN), json=unknown).status_code == 404


@pytest.mark.parametrize(
    "parcel",
    [
        {"tracking_no": "SF1"},
        {"carrier": "SF", "tracking_no": "SF1", "lines": [{"line_no": 1, "qty": 0}]},
        {
            "carrier": "SF",
            "tracking_no": "SF1",
            "lines": [{"line_no": 1, "qty": 1}, {"line_no": 1, "qty": 1}],
        },
        {"carrier": "SF", "tracking_no": "SF1", "lines": []},
        {"carrier": "SF", "tracking_no": "SF1", "line": [{"line_no": 1, "qty": 1}]},
        {"carrier": "SF", "tracking_no": "SF1", "shipped_at": "2026-11-22T10:00:00"},
    ],
    ids=["no-carrier", "zero-qty", "duplicate-line", "no-lines", "misspelt", "naive-time"],
)
def test_a_malformed_shipment_is_422(client: TestClient, world: World, parcel: dict[str, Any]) -> None:
    answer = client.post("/dispatch/DI-A-1/shipments", headers=bearer(WH_A), json=parcel)
    assert answer.status_code == 422
    assert ledger(world.engine) == []


def test_a_shipment_for_a_cancelled_order_is_409(client: TestClient, world: World) -> None:
    with world.engine.begin() as conn:
        conn.execute(
            update(SalesOrder).where(SalesOrder.external_id == "T-DI-A-1").values(status="cancelled")
        )
    parcel = {"carrier": "SF", "tracking_no": "SF1"}
    answer = client.post("/dispatch/DI-A-1/shipments", headers=bearer(WH_A), json=parcel)
    assert answer.status_code == 409
    assert ledger(world.engine) == []


# -- metrics ---------------------------------------------------------------------------------------


def operations_history(engine: Engine) -> None:
    """Two runs of erp/stock (one failed), an open quarantine entry, outbox messages in each state."""
    now = utcnow()
    run = {"connector": "erp", "stream": "stock", "started_at": now - timedelta(minutes=2)}
    with engine.begin() as conn:
        conn.execute(
            insert(SyncRun),
            [
                {**run, "status": "ok", "finished_at": now - timedelta(minutes=1), "records_in": 7,
                 "records_changed": 3, "records_quarantined": 1},
                {**run, "status": "failed", "finished_at": now, "records_in": 0, "records_changed": 0,
                 "records_quarantined": 0},
            ],
        )  # fmt: skip
        conn.execute(
            insert(Quarantine).values(
                connector="erp", stream="stock", record_key="SKU-X", reason_code="unknown_sku",
                reason="unknown SKU", payload={}, first_seen=now, last_seen=now,
            )
        )  # fmt: skip
        outbox.enqueue(conn, "stock.push", "push-1", {}, partition="shop")
        outbox.enqueue(conn, "stock.push", "push-2", {}, partition="shop")
        outbox.enqueue(conn, "alert.email", "mail-1", {})
        conn.execute(
            update(Outbox).where(Outbox.key == "push-1").values(
                created_at=now - timedelta(seconds=10), delivered_at=now - timedelta(seconds=6)
            )
        )  # fmt: skip
        conn.execute(update(Outbox).where(Outbox.key == "mail-1").values(failed_at=now))


def test_metrics_come_from_the_store(client: TestClient, world: World) -> None:
    operations_history(world.engine)
    assert client.get("/metrics").status_code == 401
    answer = client.get("/metrics", headers=bearer(VIEWER))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == prometheus_client.CONTENT_TYPE_LATEST
    text = answer.text
    for line in (
        "erpsync_store_up 1.0",
        'erpsync_sync_runs_total{connector="erp",status="ok",stream="stock"} 1.0',
        'erpsync_sync_runs_total{connector="erp",status="failed",stream="stock"} 1.0',
        'erpsync_sync_records_read_total{connector="erp",stream="stock"} 7.0',
        'erpsync_sync_records_changed_total{connector="erp",stream="stock"} 3.0',
        'erpsync_sync_run_errors_total{connector="erp",stream="stock"} 1.0',
        'erpsync_quarantine_open{connector="erp",reason="unknown_sku",stream="stock"} 1.0',
        'erpsync_outbox_backlog{state="pending",topic="stock.push"} 1.0',
        'erpsync_outbox_backlog{state="failed",topic="alert.email"} 1.0',
        "erpsync_stock_push_delivered_last_hour 1.0",
        "# TYPE erpsync_outbox_delivery_latency_seconds histogram",
        "# TYPE erpsync_sync_run_duration_seconds histogram",
    ):
        assert line in text, line
    assert 'erpsync_sync_last_success_age_seconds{connector="erp",stream="stock"}' in text


def test_latencies_and_durations_are_histograms(world: World) -> None:
    operations_history(world.engine)  # runs of 60 and 120 s; one push delivered after 4 s
    registry = metrics_registry(world.engine)

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    push = {"topic": "stock.push"}
    assert sample("erpsync_outbox_delivery_latency_seconds_bucket", **push, le="2.5") == 0.0
    assert sample("erpsync_outbox_delivery_latency_seconds_bucket", **push, le="5.0") == 1.0
    assert sample("erpsync_outbox_delivery_latency_seconds_bucket", **push, le="+Inf") == 1.0
    assert sample("erpsync_outbox_delivery_latency_seconds_count", **push) == 1.0
    assert sample("erpsync_outbox_delivery_latency_seconds_sum", **push) == pytest.approx(4.0, abs=0.01)
    assert (
        sample("erpsync_outbox_delivery_latency_seconds_count", topic="alert.email") is None
    )  # not delivered
    stock = {"connector": "erp", "stream": "stock"}
    assert sample("erpsync_sync_run_duration_seconds_bucket", **stock, le="30.0") == 0.0
    assert sample("erpsync_sync_run_duration_seconds_bucket", **stock, le="300.0") == 2.0
    assert sample("erpsync_sync_run_duration_seconds_count", **stock) == 2.0
    assert sample("erpsync_sync_run_duration_seconds_sum", **stock) == pytest.approx(180.0, abs=0.01)


def test_each_app_has_its_own_registry(world: World) -> None:
    operations_history(world.engine)
    first, second = metrics_registry(world.engine), metrics_registry(world.engine)
    assert first is not second
    assert prometheus_client.REGISTRY.get_sample_value("erpsync_store_up") is None
    assert first.get_sample_value("erpsync_store_up") == 1.0
    labels = {"connector": "erp", "stream": "stock", "status": "ok"}
    assert second.get_sample_value("erpsync_sync_runs_total", labels) == 1.0


def test_metrics_say_so_when_the_store_does_not_answer() -> None:
    registry = metrics_registry(create_engine("mysql+pymysql://nobody@127.0.0.1:1/none"))
    assert registry.get_sample_value("erpsync_store_up") == 0.0


# -- health ----------------------------------------------------------------------------------------


def finished_run(engine: Engine, ago: timedelta) -> None:
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            insert(SyncRun).values(
                connector="erp", stream="stock", status="ok", started_at=now - ago, finished_at=now - ago
            )
        )


def test_healthz_is_200_when_all_is_well(world: World) -> None:
    finished_run(world.engine, timedelta(minutes=5))
    app = make_app(
        world.engine, health=lambda: {"ok": True}, staleness={("erp", "stock"): timedelta(hours=1)}
    )
    answer = TestClient(app).get("/healthz")
    assert answer.status_code == 200
    body = answer.json()
    assert body["ok"] is True
    assert body["database"] == {"ok": True}
    assert body["service"] == {"ok": True}
    [stream] = body["streams"]
    assert stream["stale"] is False
    assert 290 < stream["lag_seconds"] < 400


def test_healthz_is_503_when_a_stream_is_stale(world: World) -> None:
    finished_run(world.engine, timedelta(hours=2))
    app = make_app(world.engine, staleness={("erp", "stock"): timedelta(hours=1)})
    answer = TestClient(app).get("/healthz")
    assert answer.status_code == 503
    assert answer.json()["streams"][0]["stale"] is True


def test_a_stream_that_never_succeeded_is_stale_once_the_service_has_been_up_long_enough(
    world: World,
) -> None:
    now = [1_000_000.0]
    app = make_app(world.engine, staleness={("erp", "orders"): timedelta(minutes=10)}, clock=lambda: now[0])
    client = TestClient(app)
    assert client.get("/healthz").status_code == 200
    now[0] += 601
    assert client.get("/healthz").status_code == 503


def test_healthz_is_503_when_the_scheduler_is_down(world: World) -> None:
    answer = TestClient(make_app(world.engine, health=lambda: {"ok": False, "scheduler": "stopped"})).get(
        "/healthz"
    )
    assert answer.status_code == 503
    assert answer.json()["service"] == {"ok": False, "scheduler": "stopped"}


def test_healthz_is_503_when_the_database_does_not_answer() -> None:
    engine = create_engine("mysql+pymysql://nobody@127.0.0.1:1/none")
    answer = TestClient(create_app(engine, [ADMIN])).get("/healthz")
    assert answer.status_code == 503
    assert answer.json()["database"] == {"ok": False, "error": "OperationalError"}


# -- the documentation and the server --------------------------------------------------------------


def test_openapi_lists_every_path_with_its_bodies(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "erpsync"
    assert set(spec["paths"]) == {
        "/healthz", "/metrics", "/dispatch", "/dispatch/{number}", "/dispatch/{number}/ack",
        "/dispatch/{number}/shipments",
    }  # fmt: skip
    shipment = spec["paths"]["/dispatch/{number}/shipments"]["post"]["requestBody"]
    schema = shipment["content"]["application/json"]["schema"]
    assert {"carrier", "tracking_no", "lines", "shipped_at"} <= set(schema["properties"])
    assert "$defs" not in json.dumps(schema)
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert client.get("/docs").status_code == 200


def test_the_server_answers_over_real_http(world: World) -> None:
    server = ApiServer(make_app(world.engine), "127.0.0.1:0")
    server.start()
    url = server.url
    try:
        assert url.startswith("http://127.0.0.1:")
        answer = requests.get(f"{url}/healthz", timeout=5)
        assert answer.status_code == 200
        assert answer.json()["database"]["ok"] is True
        taken = ApiServer(make_app(world.engine), url.removeprefix("http://"))
        with pytest.raises(ConfigError, match="cannot listen"):
            taken.start()
    finally:
        server.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/healthz", timeout=5)


def test_a_malformed_listen_address_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        ApiServer(FastAPI(), "localhost")
