"""A transaction chosen as a deadlock victim is run again; other errors are not retried."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from store.db import is_lock_conflict, retry_on_lock_conflict


class DriverError(Exception):
    pass


def test_deadlock_victims_are_retried_then_succeed() -> None:
    calls: list[int] = []

    def work() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("UPDATE stock_level ...", {}, DriverError(1213, "Deadlock found"))
        return "landed"

    assert retry_on_lock_conflict(work, pause=0) == "landed"
    assert len(calls) == 3


def test_sqlite_busy_is_a_lock_conflict_and_other_errors_are_not() -> None:
    assert is_lock_conflict(OperationalError("x", {}, DriverError("database is locked")))
    assert not is_lock_conflict(OperationalError("x", {}, DriverError(2006, "MySQL server has gone away")))
    assert not is_lock_conflict(IntegrityError("x", {}, DriverError(1062, "Duplicate entry")))

    def broken() -> None:
        raise IntegrityError("x", {}, DriverError(1062, "Duplicate entry"))

    with pytest.raises(IntegrityError):
        retry_on_lock_conflict(broken, pause=0)


def test_gives_up_after_the_last_attempt() -> None:
    def always() -> None:
        raise OperationalError("x", {}, DriverError(1205, "Lock wait timeout exceeded"))

    with pytest.raises(OperationalError):
        retry_on_lock_conflict(always, attempts=2, pause=0)


def test_the_pause_grows_with_each_attempt() -> None:
    waits: list[float] = []

    def always() -> None:
        raise OperationalError("x", {}, DriverError(1213, "Deadlock found"))

    with pytest.raises(OperationalError):
        retry_on_lock_conflict(always, attempts=4, pause=0.05, sleep=waits.append)
    assert waits == pytest.approx([0.05, 0.10, 0.15])
