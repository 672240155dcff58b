"""TokenBucket on a fake clock: bursts, steady rate, reservations, penalties, threads."""

from __future__ import annotations

import threading

import pytest

from connectors.ratelimit import TokenBucket


class FakeTime:
    """A clock whose sleep moves it forward."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def time_() -> FakeTime:
    return FakeTime()


def test_burst_then_steady_rate(time_: FakeTime) -> None:
    bucket = TokenBucket(rate=2.0, burst=3, clock=time_.clock, sleep=time_.sleep)

    assert [bucket.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.acquire() == pytest.approx(0.5)
    assert bucket.acquire() == pytest.approx(0.5)
    assert time_.now == pytest.approx(101.0)


def test_idle_time_refills_up_to_burst_only(time_: FakeTime) -> None:
    bucket = TokenBucket(rate=1.0, burst=2, clock=time_.clock, sleep=time_.sleep)
    bucket.acquire(2)
    time_.now += 60
    assert [bucket.acquire() for _ in range(2)] == [0.0, 0.0]
    assert bucket.acquire() == pytest.approx(1.0)


def test_reservations_queue_without_sleeping_the_clock(time_: FakeTime) -> None:
    # Callers reserve in arrival order: each waits one more interval than the one before.
    waits: list[float] = []
    bucket = TokenBucket(rate=4.0, burst=1, clock=time_.clock, sleep=waits.append)
    assert [bucket.acquire() for _ in range(4)] == pytest.approx([0.0, 0.25, 0.5, 0.75])


def test_penalize_pauses_every_taker(time_: FakeTime) -> None:
    bucket = TokenBucket(rate=10.0, burst=5, clock=time_.clock, sleep=time_.sleep)
    bucket.penalize(2.0)
    assert bucket.acquire() == pytest.approx(2.0)
    # tokens did not accrue during the pause, but the ones held before it remain
    assert bucket.acquire() == 0.0


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(rate=1, burst=0)
    with pytest.raises(ValueError, match="tokens"):
        TokenBucket(rate=1, burst=2).acquire(3)


def test_threads_never_exceed_the_rate(time_: FakeTime) -> None:
    lock = threading.Lock()
    waits: list[float] = []

    def record(seconds: float) -> None:
        with lock:
            waits.append(seconds)

    bucket = TokenBucket(rate=10.0, burst=1, clock=time_.clock, sleep=record)
    threads = [threading.Thread(target=bucket.acquire) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 20 takers, one token at once, 10 per second: the last is due 1.9 s later, each slot used once
    assert sorted(round(w, 6) for w in waits) == [round(0.1 * i, 6) for i in range(1, 20)]
