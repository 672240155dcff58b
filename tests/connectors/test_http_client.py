"""HttpClient: retries, Retry-After, error mapping, redaction in messages and logs (no network)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
import requests
import responses
from structlog.testing import capture_logs

from connectors.http import BearerAuth, HttpClient, QueryParamAuth
from connectors.ratelimit import TokenBucket
from core.errors import AuthError, PermanentError, RetriableError

BASE = "https://erp.example/api"


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(sleeps: list[float]) -> HttpClient:
    return HttpClient("erp", BASE, sleep=sleeps.append, max_attempts=3)


@responses.activate
def test_503_is_retried_then_succeeds(client: HttpClient, sleeps: list[float]) -> None:
    responses.get(f"{BASE}/items", status=503)
    responses.get(f"{BASE}/items", json={"ok": True})

    assert client.get_json("items") == {"ok": True}
    assert len(responses.calls) == 2
    assert len(sleeps) == 1
    assert 0.5 <= sleeps[0] <= 1.0  # first backoff: 0.5 s plus up to 0.5 s jitter


@responses.activate
def test_429_waits_exactly_retry_after(client: HttpClient, sleeps: list[float]) -> None:
    responses.get(f"{BASE}/items", status=429, headers={"Retry-After": "2"})
    responses.get(f"{BASE}/items", json=[1])

    assert client.get_json("items") == [1]
    assert sleeps == [pytest.approx(2.0)]
    assert len(responses.calls) == 2


@responses.activate
def test_retry_after_as_http_date_uses_the_clock(sleeps: list[float]) -> None:
    when = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    client = HttpClient("erp", BASE, sleep=sleeps.append, clock=lambda: when.timestamp() - 3)
    responses.get(f"{BASE}/items", status=503, headers={"Retry-After": format_datetime(when, usegmt=True)})
    responses.get(f"{BASE}/items", json={})

    client.get_json("items")
    assert sleeps == [pytest.approx(3.0)]


@responses.activate
def test_401_fails_at_once_with_auth_error(client: HttpClient, sleeps: list[float]) -> None:
    responses.get(f"{BASE}/items", status=401, json={"error": "invalid token"})

    with pytest.raises(AuthError) as caught:
        client.get_json("items")
    assert len(responses.calls) == 1
    assert sleeps == []
    assert caught.value.connector == "erp"
    assert "401" in str(caught.value)


@responses.activate
def test_403_is_an_auth_error_too(client: HttpClient) -> None:
    responses.get(f"{BASE}/items", status=403)
    with pytest.raises(AuthError):
        client.request("GET", "items")
    assert len(responses.calls) == 1


@responses.activate
def test_404_is_permanent_and_not_retried(client: HttpClient, sleeps: list[float]) -> None:
    responses.get(f"{BASE}/nope", status=404, body='{"message": "no such route", "token": "leaky-token"}')

    with pytest.raises(PermanentError) as caught:
        client.get_json("nope", params={"access_token": "qs-secret-1"})
    message = str(caught.value)
    assert len(responses.calls) == 1
    assert sleeps == []
    assert "404" in message
    assert "no such route" in message
    assert "leaky-token" not in message
    assert "qs-secret-1" not in message
    assert "access_token=***" in message
    assert caught.value.connector == "erp"


@responses.activate
def test_connection_errors_retried_then_retriable_error(client: HttpClient, sleeps: list[float]) -> None:
    for _ in range(3):
        responses.get(f"{BASE}/items", body=requests.ConnectionError("connection refused"))

    with pytest.raises(RetriableError) as caught:
        client.get_json("items")
    assert len(responses.calls) == 3
    assert len(sleeps) == 2
    assert sleeps[1] >= 1.0  # the backoff grows
    assert "gave up after 3 attempts" in str(caught.value)
    assert caught.value.connector == "erp"


@responses.activate
def test_exhausted_429_keeps_retry_after(client: HttpClient) -> None:
    responses.get(f"{BASE}/items", status=429, headers={"Retry-After": "7"})
    with pytest.raises(RetriableError) as caught:
        client.get_json("items")
    assert len(responses.calls) == 3
    assert caught.value.retry_after == 7.0


@responses.activate
def test_very_long_retry_after_is_left_to_the_scheduler(sleeps: list[float]) -> None:
    client = HttpClient("erp", BASE, sleep=sleeps.append, max_retry_after=60)
    responses.get(f"{BASE}/items", status=429, headers={"Retry-After": "3600"})
    with pytest.raises(RetriableError) as caught:
        client.get_json("items")
    assert len(responses.calls) == 1
    assert sleeps == []
    assert caught.value.retry_after == 3600.0


@responses.activate
def test_429_pauses_the_shared_bucket() -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(100, 10, clock=lambda: now[0], sleep=sleep)
    client = HttpClient("erp", BASE, sleep=sleep, limiter=bucket)
    responses.get(f"{BASE}/items", status=429, headers={"Retry-After": "2"})
    responses.get(f"{BASE}/items", json={})

    client.get_json("items")
    assert sleeps == [pytest.approx(2.0)]  # the pause is not waited twice
    assert bucket.acquire() == 0.0
    # a sibling sharing the bucket during the pause waits for its end
    bucket.penalize(1.5)
    assert bucket.acquire() == pytest.approx(1.5)


@responses.activate
def test_auth_is_sent_and_secrets_stay_out_of_messages_and_logs(sleeps: list[float]) -> None:
    client = HttpClient("erp", BASE, auth=QueryParamAuth("k", "query-secret-9"), sleep=sleeps.append)
    responses.get(f"{BASE}/items", status=400, body="bad request for k=query-secret-9")

    with capture_logs() as logs, pytest.raises(PermanentError) as caught:
        client.get_json("items")
    assert "k=query-secret-9" in str(responses.calls[0].request.url)
    assert "query-secret-9" not in str(caught.value)
    assert "query-secret-9" not in repr(logs)
    event = next(entry for entry in logs if entry["event"] == "http.response")
    assert event["status"] == 400
    assert event["log_level"] == "debug"
    assert event["attempt"] == 1
    assert "elapsed_ms" in event
    assert "headers" not in event


@responses.activate
def test_bearer_header_and_default_headers_are_sent(sleeps: list[float]) -> None:
    client = HttpClient("erp", BASE, headers={"X-Tenant": "t1"}, auth=BearerAuth("bearer-secret-1"))
    responses.post(f"{BASE}/orders", json={"id": 1})

    assert client.post_json("orders", json={"sku": "A"}) == {"id": 1}
    sent = responses.calls[0].request
    assert sent.headers["Authorization"] == "Bearer bearer-secret-1"
    assert sent.headers["X-Tenant"] == "t1"
    assert sent.body == b'{"sku": "A"}'


@responses.activate
def test_non_json_body_is_permanent(client: HttpClient) -> None:
    responses.get(f"{BASE}/items", body="<html>maintenance</html>")
    with pytest.raises(PermanentError, match="did not return JSON: <html>maintenance"):
        client.get_json("items")


def test_absolute_urls_on_other_hosts_are_refused(client: HttpClient) -> None:
    assert client.url("https://erp.example/api/items?page=2") == "https://erp.example/api/items?page=2"
    assert client.url("/items") == f"{BASE}/items"
    with pytest.raises(PermanentError, match="refusing to send credentials"):
        client.url("https://evil.example/steal")
