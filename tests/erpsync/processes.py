"""Run the installed ``erpsync`` command in a subprocess, as a person at a shell would.

``erpsync(args, cwd=...)`` runs the console script next to the test interpreter (or ``python -m
erpsync.cli`` when it is not installed) with an environment of ``PATH`` and ``HOME`` only, plus
what the test adds, and returns the finished process. ``unprivileged()`` gives the keyword
arguments that run it as a user without special rights (``nobody`` through ``setpriv`` when the
tests run as root, who may write anywhere), or skips the test when that is not possible here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

NOBODY = 65534


def command() -> list[str]:
    script = Path(sys.executable).with_name("erpsync")
    return [str(script)] if script.exists() else [sys.executable, "-m", "erpsync.cli"]


def erpsync(
    args: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    prefix: list[str] | None = None,
    **kwargs: Any,
) -> subprocess.CompletedProcess[str]:
    """The finished ``erpsync ARGS`` process, run in ``cwd`` with a clean environment."""
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "LANG": "C.UTF-8"}
    return subprocess.run(  # noqa: PLW1510 - the tests check the exit code themselves
        [*(prefix or []), *command(), *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def unprivileged(cwd: Path) -> dict[str, Any]:
    """Keyword arguments for ``erpsync`` that run it without the rights of root."""
    if os.geteuid() != 0:
        return {}
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot drop the rights root has on files")
    as_nobody: dict[str, Any] = {
        "prefix": [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    }
    probe = erpsync(["--version"], cwd=cwd, **as_nobody)
    if probe.returncode != 0:
        pytest.skip(f"cannot run erpsync as an unprivileged user here: {probe.stderr.strip()[:200]}")
    return as_nobody


def failure_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines a failed command printed on stderr, after checking there is no traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, proc.stderr
    return lines


def open_tmp() -> Iterator[Path]:
    """A temporary folder any user may enter and write to (pytest's own is private to its user)."""
    folder = Path(tempfile.mkdtemp(prefix="erpsync-cli-"))
    folder.chmod(0o777)
    try:
        yield folder
    finally:
        folder.chmod(0o777)
        for root, dirs, _ in os.walk(folder):  # top-down: each folder is opened before it is entered
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o777)
        shutil.rmtree(folder, ignore_errors=True)
