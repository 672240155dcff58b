"""The README's quick start, run as a new user runs it: from an empty directory, nothing exported.

The commands come from the README's "Quick start" block itself, so the test fails when the README
and the demo drift apart. They run in subprocesses, in a fresh temporary directory holding only a
``.venv`` link to the environment running the tests (where ``make demo`` would have installed
erpsync), with an environment of ``PATH`` alone. ``make demo`` runs as what it runs,
``.venv/bin/python -m erpsync.demo``; the other commands run verbatim. Then every command the demo
printed as a next step runs verbatim too.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
ERPSYNC = ".venv/bin/erpsync --config var/demo/erpsync.yaml"

#: the lines each quick-start command must print (regular expressions), by what follows ERPSYNC
EXPECTED: dict[str, list[str]] = {
    "make demo": [
        r"config ok: var/demo/erpsync.yaml — 2 connector\(s\), 3 stream\(s\), 4 location\(s\)",
        r"upgraded to \d+",
        r"imported 3 SKU binding\(s\) from var/demo/skus\.csv",
        r"│ \d+\s+│ dispatched\s+│ paid\s+│",  # erpsync's status, then the channel's
        r"(\d+) dispatch notes written as CSV files for warehouses without an API; showing (\d+) of \1",
        r"shortage alerts raised for the distributors",
        r"channel drift alerts",
        r"From this directory, nothing to export\.",
    ],
    "status": [r"│ erp\s+│ stock\s+│[^│]+│ ok\s+│", r"│ shop\s+│ orders\s+│[^│]+│ ok\s+│"],
    "orders list": [r"│ shop/\d+\s+│ dispatched\s+│"],
    "alerts list": [
        r"│ shortage\s+│",
        r"left \((critical|warning) at \d+\)|nothing left to sell",
        r"reorder \d+",
    ],
    "quarantine list": [r"│ unmapped_sku\s+│ no SKU binding for shop:MUG-X"],
}
CJK = re.compile(r"[\u4e00-\u9fff]")


def quick_start() -> list[str]:
    """The command lines of the README's quick-start block, comments dropped."""
    text = README.read_text(encoding="utf-8")
    block = text.split("## Quick start\n", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    lines = (shlex.split(line, comments=True) for line in block.splitlines())
    return [shlex.join(words) for words in lines if words]


def _run(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    argv = [".venv/bin/python", "-m", "erpsync.demo"] if line == "make demo" else shlex.split(line)
    return subprocess.run(
        argv,
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = Path(sys.prefix)
    if venv == Path(sys.base_prefix) or not (venv / "bin" / "erpsync").exists():
        pytest.skip("the quick start needs erpsync installed in a venv (make test does that)")
    cwd = tmp_path_factory.mktemp("new-user")
    (cwd / ".venv").symlink_to(venv, target_is_directory=True)
    return cwd


def test_the_quick_start_starts_with_the_demo_and_uses_its_config() -> None:
    lines = quick_start()
    assert lines[0] == "make demo"
    assert all(line.startswith(ERPSYNC + " ") for line in lines[1:])
    assert [line.removeprefix(ERPSYNC + " ") for line in lines[1:]] == list(EXPECTED)[1:]


def test_the_readme_quick_start_works_as_printed(workdir: Path) -> None:
    outputs = {}
    for line in quick_start():
        done = _run(line, workdir)
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{line}\n{output}"
        assert "Traceback" not in output, line
        for pattern in EXPECTED[line.removeprefix(ERPSYNC + " ")]:
            assert re.search(pattern, output), f"{line}: no line matching {pattern!r}\n{output}"
        outputs[line] = done.stdout
    demo = outputs["make demo"]
    key = workdir / "var" / "demo" / "encryption.key"
    assert key.stat().st_mode & 0o777 == 0o600
    _check_dispatch_notes(demo)
    _check_alert_message(demo)
    next_steps = [line.strip() for line in demo.splitlines() if line.startswith(f"  {ERPSYNC} ")]
    assert set(quick_start()[1:]) <= set(next_steps), "the README and the demo suggest other commands"
    for line in next_steps:
        done = _run(line, workdir)
        assert done.returncode == 0, f"{line}\n{done.stdout}{done.stderr}"
        assert "Traceback" not in done.stdout + done.stderr, line


def _check_dispatch_notes(demo: str) -> None:
    found = re.search(r"(\d+) dispatch notes .*; showing (\d+) of \1", demo)
    assert found is not None
    printed = re.findall(r"^var/demo/dispatch/[^/]+/[^/]+\.csv:$", demo, flags=re.M)
    assert len(printed) == int(found.group(2)) == min(2, int(found.group(1)))


def _check_alert_message(demo: str) -> None:
    """The alert shown and the message about it give the same reason and advice, in English."""
    after = demo.split("the message head office would receive", 1)[1].split("\n", 1)[1]
    shown = re.split(r"^─{10}", after, maxsplit=1, flags=re.M)[0]
    facts = dict(re.findall(r"^  (reason|what to do): (.+)$", shown, flags=re.M))
    message = shown.split("\n→ ", 1)[1]
    assert facts["reason"] in message
    assert facts.get("what to do", "") in message
    assert not CJK.search(message)
