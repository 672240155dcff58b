"""What the HTTP API refuses: big bodies, questions about other locations, control characters,
quantities that are not units, parcels with more than is left, and signatures made for another request."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from config import load_config_text
from delivery.signing import sign
from erpsync.service import build_api
from store.models import DispatchInstruction, Outbox, Shipment
from tests.erpsync import test_api as base

world = base.world
client = base.client
World = base.World
EDGE = 1_795_305_600


def acknowledged_by(engine: Engine, number: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            select(DispatchInstruction.acknowledged_by).where(DispatchInstruction.number == number)
        ).scalar()


def counts(engine: Engine) -> tuple[int, int, int]:
    """Dispatch ledger rows, parcels and fulfilment messages."""
    with engine.connect() as conn:
        parcels = conn.execute(select(func.count()).select_from(Shipment)).scalar_one()
        told = conn.execute(
            select(func.count()).select_from(Outbox).where(Outbox.topic == "fulfilment.push")
        ).scalar_one()
    return len(base.ledger(engine)), parcels, told


# -- body size -------------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_413_and_changes_nothing(world: World) -> None:
    with TestClient(base.make_app(world.engine, max_body_bytes=2048)) as small:
        big = json.dumps({"by": "x" * 4000}).encode()
        answer = small.post("/dispatch/DI-A-1/ack", headers=base.bearer(base.WH_A), content=big)
        assert answer.status_code == 413
        assert answer.json() == {"detail": "request body larger than 2048 bytes"}
        # without a Content-Length (chunked), the body is cut off once it passes the limit
        chunks = iter([b'{"by": "', b"x" * 1500, b"x" * 1500, b'"}'])
        streamed = small.post("/dispatch/DI-A-1/ack", headers=base.bearer(base.WH_A), content=chunks)
        assert streamed.status_code == 413
        assert streamed.json() == {"detail": "request body larger than 2048 bytes"}
        assert base.status_of(world.engine, "DI-A-1") == "sent"
        fits = small.post("/dispatch/DI-A-1/ack", headers=base.bearer(base.WH_A), json={"by": "Li"})
        assert fits.status_code == 200


def test_the_default_limit_is_one_mebibyte(client: TestClient, world: World) -> None:
    body = b" " * (1024 * 1024) + b"{}"
    answer = client.post("/dispatch/DI-A-1/ack", headers=base.bearer(base.WH_A), content=body)
    assert answer.status_code == 413
    assert base.status_of(world.engine, "DI-A-1") == "sent"


def test_the_limit_is_set_in_the_api_section_of_the_config(world: World) -> None:
    cfg = load_config_text("api:\n  max_body_bytes: 4096\n", "erpsync.yaml", {})
    server = build_api(world.engine, cfg, SimpleNamespace(scheduler=None, jobs=[], tasks=[]))  # type: ignore[arg-type]
    with TestClient(server.app) as api:
        answer = api.post("/dispatch/DI-A-1/ack", content=b"x" * 5000)
    assert answer.status_code == 413
    assert answer.json() == {"detail": "request body larger than 4096 bytes"}


# -- what a warehouse token may learn --------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "action", "body"),
    [
        ("GET", "", None),
        ("POST", "/ack", {"by": "Li"}),
        ("POST", "/shipments", {"carrier": "SF", "tracking_no": "1"}),
    ],
    ids=["get", "ack", "shipment"],
)
def test_another_locations_instruction_is_answered_like_a_missing_one(
    client: TestClient, world: World, method: str, action: str, body: dict[str, Any] | None
) -> None:
    def ask(number: str) -> tuple[int, Any]:
        answer = client.request(
            method, f"/dispatch/{number}{action}", headers=base.bearer(base.WH_A), json=body
        )
        return answer.status_code, answer.json()

    elsewhere, missing = ask("DI-S-1"), ask("DI-S-9")
    assert elsewhere == (404, {"detail": "no dispatch instruction DI-S-1"})
    assert missing == (404, {"detail": "no dispatch instruction DI-S-9"})
    assert base.status_of(world.engine, "DI-S-1") == "sent"


# -- text and numbers in bodies --------------------------------------------------------------------


@pytest.mark.parametrize(
    "by", ["Li\x00Wei", "Li\nWei", "Li\rWei", "\x1b[31mLi", "Li\u202eieW", "Li\x7f", "Li\u2028"]
)
def test_a_control_character_in_by_is_422_and_nothing_is_stored(
    client: TestClient, world: World, by: str
) -> None:
    answer = client.post("/dispatch/DI-A-1/ack", headers=base.bearer(base.WH_A), json={"by": by})
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"][-1] == "by"
    assert "control character U+" in error["msg"]
    assert base.status_of(world.engine, "DI-A-1") == "sent"
    assert acknowledged_by(world.engine, "DI-A-1") is None


def test_a_control_character_in_a_tracking_number_is_422(client: TestClient, world: World) -> None:
    parcel = {"carrier": "SF", "tracking_no": "SF1\x00; DROP"}
    answer = client.post("/dispatch/DI-A-1/shipments", headers=base.bearer(base.WH_A), json=parcel)
    assert answer.status_code == 422
    assert counts(world.engine) == (0, 0, 0)


@pytest.mark.parametrize(
    "qty",
    ["1e30", "1E3", "-1", "0", "2.5", "1.0", '"2"', "true", "1000000000000000000000000000000", "1000000001"],
)
def test_a_quantity_that_is_not_a_whole_number_of_units_is_422(
    client: TestClient, world: World, qty: str
) -> None:
    body = f'{{"carrier": "SF", "tracking_no": "SF1", "lines": [{{"line_no": 1, "qty": {qty}}}]}}'.encode()
    answer = client.post("/dispatch/DI-A-1/shipments", headers=base.bearer(base.WH_A), content=body)
    assert answer.status_code == 422
    [error] = answer.json()["detail"]
    assert error["loc"][-3:] == ["lines", 0, "qty"]
    assert "whole number from 1 to 1000000000" in error["msg"]
    assert counts(world.engine) == (0, 0, 0)


# -- parcels ---------------------------------------------------------------------------------------


def ship(client: TestClient, tracking: str, lines: list[dict[str, int]] | None = None) -> Any:
    parcel = {"carrier": "SF", "tracking_no": tracking, "lines": lines}
    return client.post("/dispatch/DI-A-1/shipments", headers=base.bearer(base.WH_A), json=parcel)


def test_a_parcel_with_more_than_is_left_is_409_naming_line_ordered_and_shipped(
    client: TestClient, world: World
) -> None:
    assert ship(client, "SF1", [{"line_no": 1, "qty": 1}]).status_code == 200  # 1 of 2 TEA-001
    refused = ship(client, "SF2", [{"line_no": 1, "qty": 2}, {"line_no": 2, "qty": 5}])
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        "parcel refused: line 1 (TEA-001): 2 ordered, 1 already shipped, 1 left to ship on DI-A-1; "
        "this parcel has 2; line 2 (CUP-010): 1 ordered, 0 already shipped, 1 left to ship on DI-A-1; "
        "this parcel has 5"
    )
    assert counts(world.engine) == (1, 1, 1)
    assert ship(client, "SF3", [{"line_no": 1, "qty": 1}]).json()["order_status"] == "partially_shipped"
    assert ship(client, "SF4").json()["order_status"] == "shipped"
    assert counts(world.engine) == (3, 3, 3)


def test_a_new_parcel_on_a_shipped_instruction_is_409_and_the_same_parcel_again_is_200(
    client: TestClient, world: World
) -> None:
    assert ship(client, "SF1").json() == {"number": "DI-A-1", "order_status": "shipped"}
    assert counts(world.engine) == (2, 1, 1)
    again = ship(client, "SF1")
    assert (again.status_code, again.json()["order_status"]) == (200, "shipped")
    everything = ship(client, "SF2")
    assert everything.status_code == 409
    assert everything.json()["detail"].startswith("dispatch instruction DI-A-1 is shipped: nothing is left")
    one_line = ship(client, "SF3", [{"line_no": 1, "qty": 1}])
    assert one_line.status_code == 409
    assert "line 1 (TEA-001): 2 ordered, 2 already shipped, 0 left to ship" in one_line.json()["detail"]
    assert ship(client, "SF4", [{"line_no": 7, "qty": 1}]).status_code == 404
    assert counts(world.engine) == (2, 1, 1)


# -- signatures ------------------------------------------------------------------------------------


def test_a_signature_made_for_one_instruction_is_refused_for_another(
    client: TestClient, world: World
) -> None:
    base.dispatched_order(world.engine, "DI-S-2", world.locations["WH-S"], [("TEA-001", 1)])
    body = json.dumps({"carrier": "SF", "tracking_no": "SF77"}).encode()
    headers = base.signed(body, nonce="n-bound", target="/dispatch/DI-S-1/shipments")
    moved = client.post("/dispatch/DI-S-2/shipments", headers=headers, content=body)
    assert moved.status_code == 401
    assert moved.json()["detail"] == "signature refused: bad signature"
    assert base.order_status(world.engine, "DI-S-2") == "dispatched"
    ack_body = b"{}"
    ack = base.signed(ack_body, nonce="n-ack", target="/dispatch/DI-S-1/ack")
    assert client.post("/dispatch/DI-S-1/shipments", headers=ack, content=ack_body).status_code == 401
    # the refused attempts burnt no nonce: the request goes through where it was meant to go
    assert client.post("/dispatch/DI-S-1/shipments", headers=headers, content=body).status_code == 200


def test_a_replay_at_the_windows_edge_is_refused(world: World) -> None:
    """The clock reads 300.6 s after the timestamp: still inside the window, so the nonce must hold."""
    body = b'{"by": "Zhang"}'
    headers = {
        **base.bearer(base.WH_S),
        **sign(
            base.SECRET, body, method="POST", target="/dispatch/DI-S-1/ack", timestamp=EDGE, nonce="n-edge"
        ),
    }
    with TestClient(base.make_app(world.engine, clock=lambda: EDGE + 300.6)) as api:
        assert api.post("/dispatch/DI-S-1/ack", headers=headers, content=body).status_code == 200
        replay = api.post("/dispatch/DI-S-1/ack", headers=headers, content=body)
    assert replay.status_code == 401
    assert replay.json()["detail"] == "signature refused: nonce already used"


def test_two_entries_with_one_token_are_refused_by_the_app(world: World) -> None:
    twin = base.ApiTokenSpec("wh-twin", base.ADMIN.token, "warehouse", ("WH-A",))
    with pytest.raises(ValueError, match="'ops' and 'wh-twin'") as caught:
        base.create_app(world.engine, [base.ADMIN, twin])
    assert base.ADMIN.token not in str(caught.value)
