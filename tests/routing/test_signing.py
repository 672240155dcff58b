"""Webhook signatures: the documented vector, and every way a request is refused."""

from __future__ import annotations

import hashlib
import hmac
import threading

import pytest

from mapping.errors import ErpsyncError
from routing.signing import MemoryNonceStore, SignatureError, sign, verify

SECRET = "whsec_3f9a1c7e5b2d4f60"
TIMESTAMP = 1795305600
NONCE = "8c1f4e2a9b7d4e03"
BODY = b'{"number":"DI-20261122-000123","kind":"dispatch"}'
# The value printed in routing.signing's docstring.
DOCUMENTED = "sha256=dc6b780eedbe04b49fb2ae717c1f62e23d3824bc7e0f595d695deb8ffd3b4a75"


def store_at(now: int) -> MemoryNonceStore:
    return MemoryNonceStore(clock=lambda: now)


def test_the_documented_vector_matches_an_independent_hmac() -> None:
    message = b"1795305600.8c1f4e2a9b7d4e03." + BODY
    independent = "sha256=" + hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
    assert independent == DOCUMENTED
    assert sign(SECRET, BODY, timestamp=TIMESTAMP, nonce=NONCE) == {
        "X-Erpsync-Timestamp": "1795305600",
        "X-Erpsync-Nonce": NONCE,
        "X-Erpsync-Signature": DOCUMENTED,
    }


def test_the_module_docstring_shows_the_vector() -> None:
    import routing.signing

    assert DOCUMENTED in (routing.signing.__doc__ or "")


def test_a_signed_request_is_accepted_with_header_names_in_any_case() -> None:
    headers = {k.lower(): v for k, v in sign(SECRET, BODY, timestamp=TIMESTAMP, nonce=NONCE).items()}
    headers["x-erpsync-signature"] = headers["x-erpsync-signature"].upper().replace("SHA256=", "sha256=")
    verify(SECRET, headers, BODY, now=TIMESTAMP + 10, seen=store_at(TIMESTAMP + 10))


def reason(headers: dict[str, str], body: bytes = BODY, *, secret: str = SECRET, now: int = TIMESTAMP) -> str:
    with pytest.raises(SignatureError) as caught:
        verify(secret, headers, body, now=now, seen=store_at(now))
    assert SECRET not in str(caught.value)
    assert "DI-20261122" not in str(caught.value)
    return caught.value.reason


def test_a_tampered_body_is_refused() -> None:
    headers = sign(SECRET, BODY, timestamp=TIMESTAMP, nonce=NONCE)
    assert reason(headers, BODY.replace(b"dispatch", b"recall")) == "bad signature"


def test_a_request_signed_with_another_secret_is_refused() -> None:
    headers = sign("someone-else", BODY, timestamp=TIMESTAMP, nonce=NONCE)
    assert reason(headers) == "bad signature"


def test_moving_the_nonce_body_boundary_is_impossible() -> None:
    headers = sign(SECRET, b"x.payload", timestamp=TIMESTAMP, nonce="abc")
    with pytest.raises(SignatureError):
        verify(SECRET, {**headers, "X-Erpsync-Nonce": "abc.x"}, b"payload", now=TIMESTAMP, seen=store_at(0))
    with pytest.raises(ValueError, match="nonce"):
        sign(SECRET, b"payload", timestamp=TIMESTAMP, nonce="abc.x")


@pytest.mark.parametrize(
    ("age", "accepted"), [(300, True), (301, False), (-300, True), (-301, False), (-86400, False)]
)
def test_the_timestamp_must_be_within_the_window_either_way(age: int, accepted: bool) -> None:
    headers = sign(SECRET, BODY, timestamp=TIMESTAMP, nonce=NONCE)
    now = TIMESTAMP + age
    if accepted:
        verify(SECRET, headers, BODY, now=now, seen=store_at(now))
    else:
        assert reason(headers, now=now) == "timestamp outside the window"


def test_a_replayed_nonce_is_refused_the_second_time() -> None:
    headers = sign(SECRET, BODY, timestamp=TIMESTAMP, nonce=NONCE)
    seen = store_at(TIMESTAMP)
    verify(SECRET, headers, BODY, now=TIMESTAMP, seen=seen)
    with pytest.raises(SignatureError) as caught:
        verify(SECRET, headers, BODY, now=TIMESTAMP + 1, seen=seen)
    assert caught.value.reason == "nonce already used"
    assert isinstance(caught.value, ErpsyncError)


def test_a_forged_request_does_not_burn_the_nonce() -> None:
    seen = store_at(TIMESTAMP)
    forged = sign("guess", BODY, timestamp=TIMESTAMP, nonce=NONCE)
    with pytest.raises(SignatureError):
        verify(SECRET, forged, BODY, now=TIMESTAMP, seen=seen)
    verify(SECRET, sign(SECRET, BODY, timestamp=TIMESTAMP, nonce=NONCE), BODY, now=TIMESTAMP, seen=seen)


@pytest.mark.parametrize("header", ["X-Erpsync-Timestamp", "X-Erpsync-Nonce", "X-Erpsync-Signature"])
def test_each_missing_header_is_named(header: str) -> None:
    headers = sign(SECRET, BODY, timestamp=TIMESTAMP, nonce=NONCE)
    del headers[header]
    with pytest.raises(SignatureError, match=header) as caught:
        verify(SECRET, headers, BODY, now=TIMESTAMP, seen=store_at(TIMESTAMP))
    assert caught.value.reason == "missing header"


@pytest.mark.parametrize(
    ("header", "value", "expected"),
    [
        ("X-Erpsync-Timestamp", "-5", "malformed header"),
        ("X-Erpsync-Timestamp", "1795305600.5", "malformed header"),
        ("X-Erpsync-Nonce", "", "malformed header"),
        ("X-Erpsync-Signature", DOCUMENTED.removeprefix("sha256="), "bad signature"),
        ("X-Erpsync-Signature", "sha256=é", "bad signature"),
    ],
)
def test_malformed_headers_are_refused(header: str, value: str, expected: str) -> None:
    headers = sign(SECRET, BODY, timestamp=TIMESTAMP, nonce=NONCE) | {header: value}
    assert reason(headers) == expected


def test_the_memory_store_forgets_nonces_once_their_window_is_over() -> None:
    now = [1000]
    seen = MemoryNonceStore(clock=lambda: now[0])
    assert seen.remember("a", 1300)
    assert seen.remember("b", 1600)
    assert not seen.remember("a", 1300)
    now[0] = 1300
    assert len(seen) == 2  # still inside a's window
    now[0] = 1301
    assert len(seen) == 1
    assert seen.remember("a", 1601)


def test_the_memory_store_lets_exactly_one_of_many_threads_through() -> None:
    seen, results, start = MemoryNonceStore(), [], threading.Barrier(16)

    def attempt() -> None:
        start.wait()
        results.append(seen.remember("same", 2**40))

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 15 + [True]
