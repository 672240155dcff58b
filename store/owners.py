"""Who holds a lease or a claim, and whether that process is provably gone.

Leases (``sync.lease``) and outbox claims name their holder with an owner id made by
:func:`new_owner_id`::

    <host>:<pid>:<start>:<space>:<random>      e.g.  wh-app-1:48213:9184467:3f09a1c2d4:7be21c

- ``start`` is the process's start time in clock ticks since boot (field 22 of
  ``/proc/<pid>/stat``). A pid is reused by the kernel; a pid *and* its start time are not, so
  a new process that happens to get the old pid never passes for the old one.
- ``space`` is a short hash of the kernel's boot id and the pid namespace. Two processes can
  compare pids only when they share it: the same machine since the same boot, and the same
  container pid namespace (the host name is for people, not for the decision).

:func:`is_gone` is True only when it can *prove* the owner has ended: the id is ours in format,
shares our ``space``, and ``/proc/<pid>`` is missing, belongs to a process with another start
time, or is a zombie. Anything else — another machine or container, an id in another format
(an older version, a test), a system without ``/proc`` — is not provably gone, and only the
lease's expiry frees what it holds. :func:`is_alive` is the opposite proof (same space, the
process still runs); neither is True for an owner that cannot be checked. :func:`describe`
gives ``host:pid`` for people.

>>> me = new_owner_id()
>>> is_gone(me)
False
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_PROC = Path("/proc")


@dataclass(frozen=True)
class Owner:
    """The parts of an owner id."""

    host: str
    pid: int
    start: int
    space: str


def _start_ticks(pid: int) -> tuple[int, str] | None:
    """The start time (clock ticks since boot) and state letter of process ``pid``, None if there is none."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces: count from the last ")"
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        return int(fields[19]), fields[0]
    except (IndexError, ValueError):
        return None


@cache
def _space() -> str:
    """This process's pid space (boot id and pid namespace), or "" where it cannot be told."""
    try:
        boot = (_PROC / "sys" / "kernel" / "random" / "boot_id").read_text(encoding="ascii").strip()
        namespace = os.readlink(_PROC / "self" / "ns" / "pid")
    except OSError:
        return ""
    return hashlib.sha256(f"{boot}|{namespace}".encode()).hexdigest()[:10]


def this_process() -> Owner:
    """The identity of the running process (start 0 and space "" where /proc is missing)."""
    pid = os.getpid()
    found = _start_ticks(pid)
    host = socket.gethostname().replace(":", "_")[:64] or "localhost"
    return Owner(host, pid, found[0] if found else 0, _space() if found else "")


def new_owner_id() -> str:
    """A fresh owner id for this process (see the module docstring); unique per call."""
    me = this_process()
    return f"{me.host}:{me.pid}:{me.start}:{me.space or '-'}:{uuid.uuid4().hex[:6]}"


def parse(owner: str | None) -> Owner | None:
    """The parts of an owner id made by :func:`new_owner_id`, None for anything else."""
    parts = (owner or "").rsplit(":", 4)
    if len(parts) != 5 or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return Owner(parts[0], int(parts[1]), int(parts[2]), "" if parts[3] == "-" else parts[3])


def is_gone(owner: str | None) -> bool:
    """True only if the process behind ``owner`` has provably ended (see the module docstring)."""
    held = parse(owner)
    here = _space()
    if held is None or not here or held.space != here:
        return False
    found = _start_ticks(held.pid)
    return found is None or found[0] != held.start or found[1] in ("Z", "X")


def is_alive(owner: str | None) -> bool:
    """True only if the process behind ``owner`` provably still runs (same pid space, same start)."""
    held = parse(owner)
    here = _space()
    if held is None or not here or held.space != here:
        return False
    found = _start_ticks(held.pid)
    return found is not None and found[0] == held.start and found[1] not in ("Z", "X")


def describe(owner: str | None) -> str:
    """``host:pid`` of an owner id, for people; other ids as they are."""
    held = parse(owner)
    return f"{held.host}:{held.pid}" if held else (owner or "-")
