"""The shared nonce store: a nonce is accepted once, by any process, until it expires."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, func, select

from delivery.signing import NonceStore, SignatureError, sign, verify
from store.models import RequestNonce
from store.nonces import SqlNonceStore

NOW = 1_795_305_600


def clock() -> float:
    return NOW


def rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(RequestNonce)).scalar_one())


def test_a_nonce_is_new_once(store_engine: Engine) -> None:
    nonces = SqlNonceStore(store_engine, clock=clock)
    assert nonces.remember("n-1", NOW + 300) is True
    assert nonces.remember("n-1", NOW + 300) is False
    assert nonces.remember("n-2", NOW + 300) is True


def test_two_stores_on_one_table_share_their_nonces(store_engine: Engine) -> None:
    """Two processes (two store instances) never both accept one nonce."""
    first, second = SqlNonceStore(store_engine, clock=clock), SqlNonceStore(store_engine, clock=clock)
    assert first.remember("shared", NOW + 300) is True
    assert second.remember("shared", NOW + 300) is False
    assert second.remember("other", NOW + 300) is True
    assert first.remember("other", NOW + 300) is False


def test_racing_threads_accept_a_nonce_exactly_once(store_engine: Engine) -> None:
    stores = [SqlNonceStore(store_engine, clock=clock) for _ in range(6)]
    results: list[bool] = []
    start = threading.Barrier(len(stores))

    def attempt(store: SqlNonceStore) -> None:
        start.wait()
        results.append(store.remember("race", NOW + 300))

    threads = [threading.Thread(target=attempt, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 5 + [True]


def test_an_expired_nonce_counts_as_new_again(store_engine: Engine) -> None:
    nonces = SqlNonceStore(store_engine, clock=clock)
    assert nonces.remember("old", NOW - 1) is True
    assert nonces.remember("old", NOW + 300) is True
    assert nonces.remember("old", NOW + 300) is False


def test_expired_nonces_are_pruned_every_so_often(store_engine: Engine) -> None:
    nonces = SqlNonceStore(store_engine, prune_every=3, clock=clock)
    assert nonces.remember("gone-1", NOW - 10)
    assert nonces.remember("kept", NOW + 300)
    assert rows(store_engine) == 2
    assert nonces.remember("gone-2", NOW - 10)  # the third call prunes first
    assert rows(store_engine) == 2
    assert nonces.prune() == 1
    assert rows(store_engine) == 1


def test_verify_refuses_a_replay_through_the_table(store_engine: Engine) -> None:
    secret, body = "whsec_0123456789abcdef", b'{"by":"li"}'
    headers = sign(secret, body, method="POST", target="/dispatch/DI-1/ack", timestamp=NOW, nonce="abc-1")
    request = {"method": "POST", "target": "/dispatch/DI-1/ack"}
    seen: NonceStore = SqlNonceStore(store_engine, clock=clock)
    verify(secret, headers, body, **request, now=NOW, seen=seen)
    with pytest.raises(SignatureError) as refused:
        verify(secret, headers, body, **request, now=NOW + 1, seen=SqlNonceStore(store_engine, clock=clock))
    assert refused.value.reason == "nonce already used"


def test_a_replay_in_the_last_fraction_of_the_window_is_refused(store_engine: Engine) -> None:
    """At 300.6 s the request is still inside the window, and so must its nonce be, in every process."""
    secret, body = "whsec_0123456789abcdef", b'{"by":"li"}'
    headers = sign(secret, body, method="POST", target="/dispatch/DI-1/ack", timestamp=NOW, nonce="edge-1")
    request = {"method": "POST", "target": "/dispatch/DI-1/ack"}
    at_the_edge = NOW + 300.6
    verify(
        secret,
        headers,
        body,
        **request,
        now=at_the_edge,
        seen=SqlNonceStore(store_engine, clock=lambda: at_the_edge),
    )
    with pytest.raises(SignatureError) as refused:
        verify(
            secret,
            headers,
            body,
            **request,
            now=at_the_edge,
            seen=SqlNonceStore(store_engine, clock=lambda: at_the_edge),
        )
    assert refused.value.reason == "nonce already used"


def test_a_nonce_is_kept_through_its_last_second(store_engine: Engine) -> None:
    moment = [NOW + 300.9]
    nonces = SqlNonceStore(store_engine, clock=lambda: moment[0])
    assert nonces.remember("last-second", NOW + 300) is True
    assert nonces.remember("last-second", NOW + 600) is False  # 300.9 is still within second 300
    moment[0] = NOW + 301
    assert nonces.remember("last-second", NOW + 600) is True
