"""Webhook signatures: the documented vector, what a signature is bound to, and every refusal."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from core.errors import ErpsyncError
from delivery.signing import (
    MemoryNonceStore,
    SignatureError,
    nonce_expiry,
    request_target,
    sign,
    verify,
    within_window,
)

SECRET = "whsec_3f9a1c7e5b2d4f60"
TIMESTAMP = 1795305600
NONCE = "8c1f4e2a9b7d4e03"
BODY = b'{"number":"DI-20261122-000123","kind":"dispatch"}'
TARGET = "/erpsync/dispatch"
# The value printed in delivery.signing's docstring and in docs/api.md.
DOCUMENTED = "sha256=3d43aa5540f89b72d78482e5fcc9bf1bf4752aedd5475321de2def33d872fd8d"
CANONICAL = (
    "POST\n/erpsync/dispatch\n1795305600\n8c1f4e2a9b7d4e03\n"
    "e152c2137b36db87e29136d98ee9f0aa7dc5baa33113dd77ff1a3483988076bc"
)


def store_at(now: float) -> MemoryNonceStore:
    return MemoryNonceStore(clock=lambda: now)


def signed(body: bytes = BODY, *, target: str = TARGET, method: str = "POST", **kw: object) -> dict[str, str]:
    args: dict[str, object] = {"timestamp": TIMESTAMP, "nonce": NONCE} | kw
    return sign(SECRET, body, method=method, target=target, **args)  # type: ignore[arg-type]


def check(
    headers: dict[str, str],
    body: bytes = BODY,
    *,
    target: str = TARGET,
    method: str = "POST",
    now: float = TIMESTAMP,
    seen: MemoryNonceStore | None = None,
    secret: str = SECRET,
) -> None:
    verify(
        secret,
        headers,
        body,
        method=method,
        target=target,
        now=now,
        seen=seen if seen is not None else store_at(now),
    )


def reason(headers: dict[str, str], body: bytes = BODY, **kw: object) -> str:
    with pytest.raises(SignatureError) as caught:
        check(headers, body, **kw)  # type: ignore[arg-type]
    assert SECRET not in str(caught.value)
    assert "DI-20261122" not in str(caught.value)
    return caught.value.reason


def test_the_documented_vector_matches_an_independent_hmac() -> None:
    digest = hashlib.sha256(BODY).hexdigest()
    canonical = "\n".join(["POST", TARGET, str(TIMESTAMP), NONCE, digest])
    assert canonical == CANONICAL
    independent = "sha256=" + hmac.new(SECRET.encode(), canonical.encode(), hashlib.sha256).hexdigest()
    assert independent == DOCUMENTED
    assert signed() == {
        "X-Erpsync-Timestamp": "1795305600",
        "X-Erpsync-Nonce": NONCE,
        "X-Erpsync-Signature": DOCUMENTED,
    }


def test_the_module_docstring_and_the_docs_show_the_vector() -> None:
    import delivery.signing

    assert DOCUMENTED in (delivery.signing.__doc__ or "")
    page = (Path(__file__).parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    assert DOCUMENTED in page
    assert CANONICAL.rsplit("\n", maxsplit=1)[-1] in page


def test_the_receiver_example_in_the_docs_checks_what_erpsync_signs() -> None:
    page = (Path(__file__).parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    namespace: dict[str, Any] = {}
    exec(page.split("```python\n", 1)[1].split("```", 1)[0], namespace)
    receiver = namespace["check"]
    stamp, target = int(time.time()), "/hooks/erpsync?site=gz"
    headers = sign(SECRET, BODY, method="POST", target=target, timestamp=stamp, nonce="n-doc-1")
    assert receiver(SECRET, "POST", target, headers, BODY) is True
    assert receiver(SECRET, "POST", target, headers, BODY) is False  # a replay
    moved = sign(SECRET, BODY, method="POST", target=target, timestamp=stamp, nonce="n-doc-2")
    assert receiver(SECRET, "POST", "/hooks/erpsync?site=bj", moved, BODY) is False
    stale = sign(SECRET, BODY, method="POST", target=target, timestamp=stamp - 301, nonce="n-doc-3")
    assert receiver(SECRET, "POST", target, stale, BODY) is False


def test_a_signed_request_is_accepted_with_header_names_in_any_case() -> None:
    headers = {k.lower(): v for k, v in signed().items()}
    headers["x-erpsync-signature"] = headers["x-erpsync-signature"].upper().replace("SHA256=", "sha256=")
    check(headers, now=TIMESTAMP + 10)


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("POST", "/erpsync/dispatch/DI-20261122-000124"),
        ("POST", "/erpsync/dispatch?tenant=2"),
        ("POST", "/erpsync/dispatch/"),
        ("PUT", TARGET),
    ],
    ids=["other-path", "other-query", "trailing-slash", "other-method"],
)
def test_a_signature_is_good_only_for_the_request_it_was_made_for(method: str, target: str) -> None:
    assert reason(signed(), method=method, target=target) == "bad signature"


def test_a_tampered_body_is_refused() -> None:
    assert reason(signed(), BODY.replace(b"dispatch", b"recall")) == "bad signature"


def test_a_request_signed_with_another_secret_is_refused() -> None:
    headers = sign("someone-else", BODY, method="POST", target=TARGET, timestamp=TIMESTAMP, nonce=NONCE)
    assert reason(headers) == "bad signature"


def test_no_part_can_spill_into_the_next() -> None:
    with pytest.raises(ValueError, match="nonce"):
        signed(nonce="abc\nx")
    for target in ("/a\nb", "/a b", "relative", ""):
        with pytest.raises(ValueError, match="target"):
            signed(target=target)
    headers = signed(nonce="abc")
    assert reason({**headers, "X-Erpsync-Nonce": "abc\nPOST"}) == "malformed header"


def test_the_target_is_the_path_and_query_the_request_line_carries() -> None:
    assert request_target("https://wms.example/erpsync/dispatch") == "/erpsync/dispatch"
    assert request_target("https://wms.example") == "/"
    assert request_target("https://wms.example/hooks/收货?site=广州") == (
        "/hooks/%E6%94%B6%E8%B4%A7?site=%E5%B9%BF%E5%B7%9E"
    )


@pytest.mark.parametrize(
    ("age", "accepted"),
    [
        (300, True),
        (300.999, True),
        (301, False),
        (-300, True),
        (-299.5, True),
        (-301, False),
        (-86400, False),
    ],
)
def test_the_timestamp_must_be_within_the_window_either_way(age: float, accepted: bool) -> None:
    now = TIMESTAMP + age
    assert within_window(TIMESTAMP, now) is accepted
    if accepted:
        check(signed(), now=now)
    else:
        assert reason(signed(), now=now) == "timestamp outside the window"


def test_a_replay_in_the_last_fraction_of_the_window_is_refused() -> None:
    """A clock reading of 300.6 s after the timestamp is still inside the window; so is the nonce."""
    now = TIMESTAMP + 300.6
    seen = store_at(now)
    check(signed(), now=now, seen=seen)
    assert reason(signed(), now=now, seen=seen) == "nonce already used"


def test_a_nonce_is_kept_past_the_window_by_a_margin() -> None:
    assert nonce_expiry(TIMESTAMP) >= TIMESTAMP + 300 + 60
    clock = [float(TIMESTAMP)]
    seen = MemoryNonceStore(clock=lambda: clock[0])
    check(signed(), now=clock[0], seen=seen)
    clock[0] = nonce_expiry(TIMESTAMP) + 0.9  # the whole last second still counts
    assert len(seen) == 1
    clock[0] = nonce_expiry(TIMESTAMP) + 1
    assert len(seen) == 0


def test_a_replayed_nonce_is_refused_the_second_time() -> None:
    seen = store_at(TIMESTAMP)
    check(signed(), seen=seen)
    with pytest.raises(SignatureError) as caught:
        check(signed(), now=TIMESTAMP + 1, seen=seen)
    assert caught.value.reason == "nonce already used"
    assert isinstance(caught.value, ErpsyncError)


def test_a_forged_request_does_not_burn_the_nonce() -> None:
    seen = store_at(TIMESTAMP)
    forged = sign("guess", BODY, method="POST", target=TARGET, timestamp=TIMESTAMP, nonce=NONCE)
    with pytest.raises(SignatureError):
        check(forged, seen=seen)
    check(signed(), seen=seen)


@pytest.mark.parametrize("header", ["X-Erpsync-Timestamp", "X-Erpsync-Nonce", "X-Erpsync-Signature"])
def test_each_missing_header_is_named(header: str) -> None:
    headers = signed()
    del headers[header]
    with pytest.raises(SignatureError, match=header) as caught:
        check(headers)
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
    assert reason(signed() | {header: value}) == expected


def test_the_memory_store_forgets_nonces_once_their_window_is_over() -> None:
    now = [1000.0]
    seen = MemoryNonceStore(clock=lambda: now[0])
    assert seen.remember("a", 1300)
    assert seen.remember("b", 1600)
    assert not seen.remember("a", 1300)
    now[0] = 1300.7
    assert len(seen) == 2  # still inside a's last second
    assert not seen.remember("a", 1300)
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
