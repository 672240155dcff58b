"""Request budgets per account, behind the RateLimiter interface the HTTP client uses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import responses

from connectors.http import HttpClient
from connectors.ratelimit import LocalLimiters, RateLimiter, use_limiters
from connectors.rest import RestConnector, RestSettings
from core.errors import RetriableError

BASE = "https://shop.example"


def shop(name: str = "shop", per_second: float = 5.0) -> RestConnector:
    raw: dict[str, Any] = {
        "base_url": BASE,
        "rate_limit": {"per_second": per_second, "burst": 10},
        "streams": {"orders": {"path": "orders", "primary_key": ["id"]}},
    }
    return RestConnector(name, RestSettings.model_validate(raw))


class Budget:
    """A limiter that notes what it was asked for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []

    def acquire(self, tokens: int = 1) -> float:
        self.calls.append(("acquire", tokens))
        return 0.0

    def penalize(self, seconds: float) -> None:
        self.calls.append(("penalize", seconds))


class SharedStore:
    """A store of budgets standing in for one that several processes share."""

    def __init__(self) -> None:
        self.budgets: dict[str, Budget] = {}
        self.asked: list[tuple[str, float, int]] = []

    def limiter(self, key: str, rate: float, burst: int) -> RateLimiter:
        self.asked.append((key, rate, burst))
        return self.budgets.setdefault(key, Budget())


@pytest.fixture
def fresh_budgets() -> Iterator[None]:
    previous = use_limiters(LocalLimiters())
    yield
    use_limiters(previous)


def test_every_connector_instance_of_one_account_draws_on_one_budget(fresh_budgets: None) -> None:
    reader, pusher = shop(), shop()  # the service builds one to read streams, one to push stock
    assert reader.http.limiter is not None
    assert reader.http.limiter is pusher.http.limiter
    assert shop("other-shop").http.limiter is not reader.http.limiter
    assert shop(per_second=1.0).http.limiter is not reader.http.limiter  # another rate: another budget


@responses.activate
def test_a_store_put_in_place_gives_every_new_connector_its_budget() -> None:
    store = SharedStore()
    previous = use_limiters(store)
    try:
        connector = shop()
    finally:
        use_limiters(previous)
    assert store.asked == [("shop", 5.0, 10)]
    responses.get(f"{BASE}/orders", status=429, headers={"Retry-After": "600"})
    with pytest.raises(RetriableError):
        connector.http.get_json("orders")
    # one attempt: the server's pause is longer than the client waits in place
    assert store.budgets["shop"].calls == [("acquire", 1), ("penalize", 600.0)]


@responses.activate
def test_the_http_client_takes_its_budget_before_each_attempt() -> None:
    budget = Budget()
    client = HttpClient("erp", BASE, limiter=budget, sleep=lambda _: None, max_attempts=2)
    responses.get(f"{BASE}/items", status=503)
    responses.get(f"{BASE}/items", json={})
    assert client.get_json("items") == {}
    assert budget.calls == [("acquire", 1), ("acquire", 1)]
