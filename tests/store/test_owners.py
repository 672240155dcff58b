"""Owner ids prove a process gone only when they can: a reused pid or another machine never passes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from store.owners import describe, is_alive, is_gone, new_owner_id, parse

ROOT = Path(__file__).parents[2]
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")


def child(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def sleeper() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A child process that tells its owner id, then waits for its stdin to close."""
    tell_and_wait = "from store.owners import new_owner_id\nprint(new_owner_id(), flush=True)\ninput()"
    process = child(tell_and_wait)
    assert process.stdout is not None
    owner = process.stdout.readline().strip()
    yield process, owner
    process.kill()
    process.wait(30)


def test_this_process_is_alive_and_not_gone() -> None:
    me = new_owner_id()
    assert (is_alive(me), is_gone(me)) == (True, False)
    parsed = parse(me)
    assert parsed is not None
    assert parsed.pid == os.getpid()
    assert describe(me) == f"{parsed.host}:{os.getpid()}"
    assert new_owner_id() != me  # one id per lease holder, even in one process


def test_a_process_that_ended_is_gone(sleeper: tuple[subprocess.Popen[str], str]) -> None:
    process, owner = sleeper
    assert (is_alive(owner), is_gone(owner)) == (True, False)
    process.kill()
    process.wait(30)
    assert (is_alive(owner), is_gone(owner)) == (False, True)


def test_a_killed_process_not_yet_reaped_is_gone(sleeper: tuple[subprocess.Popen[str], str]) -> None:
    process, owner = sleeper
    os.kill(process.pid, 9)
    for _ in range(500):  # a zombie until its parent (this test) waits for it
        if (Path("/proc") / str(process.pid) / "stat").read_text().rsplit(") ", 1)[1][0] == "Z":
            break
        time.sleep(0.01)
    assert is_gone(owner)


def test_a_reused_pid_does_not_make_a_dead_owner_alive() -> None:
    """The owner's pid now belongs to another process (here: this one) with another start time."""
    me = parse(new_owner_id())
    assert me is not None
    reused = f"{me.host}:{me.pid}:{me.start + 12345}:{me.space}:abc123"
    assert (is_alive(reused), is_gone(reused)) == (False, True)


@pytest.mark.parametrize(
    "owner",
    [
        "other-host:1:100:0123456789:abc123",  # another machine, container or boot
        "vm:1:abc123",  # an id of an older version
        "worker-a",
        "",
        None,
    ],
)
def test_an_owner_that_cannot_be_checked_is_neither_gone_nor_alive(owner: str | None) -> None:
    assert (is_alive(owner), is_gone(owner)) == (False, False)
