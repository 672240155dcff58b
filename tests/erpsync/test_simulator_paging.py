"""The simulator pages like a cursor API: a row changed while a client pages through is not skipped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from erpsync.simulator import ERP_TOKEN, SHOP_KEY, Simulator


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = Simulator(tick=3600).start()
    for _ in range(12):
        simulator.state.new_order()
    yield simulator
    simulator.stop()


def test_an_order_edited_between_two_pages_does_not_hide_another(sim: Simulator) -> None:
    session = requests.Session()
    session.trust_env = False
    url: str | None = f"{sim.url}/shop/orders?limit=5"
    seen: list[int] = []
    while url:
        reply = session.get(url, headers={"X-Shop-Key": SHOP_KEY}, timeout=5)
        seen += [o["id"] for o in reply.json()["orders"]]
        url = reply.links.get("next", {}).get("url")
        if len(seen) == 5:  # the first order is edited: it moves behind the others
            with sim.state.lock:
                first = sim.state.orders[seen[0]]
                first["updated_at"] = sim.state.tick_time()
    assert set(seen) == set(sim.state.orders)
    assert seen.count(seen[0]) == 2  # read again where it went, after its change


def test_a_stock_row_changed_between_two_pages_does_not_hide_another(sim: Simulator) -> None:
    session = requests.Session()
    session.trust_env = False
    cursor: str | None = None
    seen: list[tuple[str, str]] = []
    while True:
        params = {"cursor": cursor} if cursor else {}
        reply = session.get(
            f"{sim.url}/erp/stock", params=params, headers={"Authorization": f"Bearer {ERP_TOKEN}"}, timeout=5
        ).json()
        seen += [(r["item_code"], r["warehouse"]) for r in reply["items"]]
        cursor = reply["next_cursor"]
        if cursor is None:
            break
        if len(seen) == 4:
            with sim.state.lock:
                sim.state.stock[seen[0]]["updated_at"] = sim.state.tick_time()
    assert set(seen) == set(sim.state.stock)
