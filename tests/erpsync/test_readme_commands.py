"""Every ``erpsync …`` command the README mentions exists, with the options it is shown with."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer

from erpsync.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"

#: commands and options the README documents ahead of their code; each entry is removed once the
#: command exists (the test fails on an entry that is no longer needed)
NOT_YET: set[str] = set()

_IN_BLOCK = re.compile(r"(?<![\w/.:-])(?:\.venv/bin/)?erpsync ([^\n#`]*)")
_IN_SPAN = re.compile(r"`(?:\.venv/bin/)?erpsync ([^`]*)`")


def readme_commands(text: str) -> list[str]:
    """The argument text of every ``erpsync`` command in code blocks and inline code, in order."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
    prose = re.sub(r"```[a-z]*\n.*?```", "", text, flags=re.S)
    found = [m.group(1).strip() for block in blocks for m in _IN_BLOCK.finditer(block)]
    return found + [m.group(1).strip() for m in _IN_SPAN.finditer(prose)]


def _alternatives(args: str) -> list[list[str]]:
    """``alerts ack ID | mute ID --for 4h`` → one token list per alternative, each from the root."""
    parts = [shlex.split(part.replace("[", " ").replace("]", " ")) for part in args.split(" | ")]
    first = parts[0]
    group = [t for t in first if not t.startswith("-")][:1]
    return [first, *([*group, *rest] for rest in parts[1:])]


def _options(command: Any) -> set[str]:
    return {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)} | {"--help"}


def problems_of(args: str, root: Any) -> list[str]:
    """What in ``erpsync ARGS`` does not exist: unknown commands, or options unknown to their command."""
    found = []
    for tokens in _alternatives(args):
        path, command, rest = ["erpsync"], root, list(tokens)
        while rest:
            token = rest.pop(0)
            if token.startswith("-"):
                if token.split("=")[0] not in _options(command):
                    found.append(f"{' '.join(path)} {token}")
                elif rest and command is root and token in ("--config", "-c", "--log-format", "--log-level"):
                    rest.pop(0)  # the option's value
                continue
            if not hasattr(command, "commands"):  # a command, not a group
                continue  # an argument of the command
            for name in token.split("|"):
                if name not in command.commands:
                    found.append(f"{' '.join(path)} {name}")
            chosen = command.commands.get(token.split("|")[0])
            if chosen is None:
                break
            path.append(token.split("|")[0])
            command = chosen
    return found


@pytest.fixture(scope="module")
def root() -> Any:
    command = typer.main.get_command(app)
    assert hasattr(command, "commands")
    return command


def test_the_readme_mentions_many_commands() -> None:
    commands = readme_commands(README.read_text(encoding="utf-8"))
    assert len(commands) > 40
    assert "sync erp stock --accept-shrink" in commands


def test_every_readme_command_exists(root: Any) -> None:
    missing = {
        p for args in readme_commands(README.read_text(encoding="utf-8")) for p in problems_of(args, root)
    }
    unexpected = sorted(p for p in missing if not any(p == n or p.startswith(n + " ") for n in NOT_YET))
    assert unexpected == [], "the README mentions commands or options that do not exist"


def test_the_list_of_commands_still_to_come_holds_only_missing_ones(root: Any) -> None:
    missing = {
        p for args in readme_commands(README.read_text(encoding="utf-8")) for p in problems_of(args, root)
    }
    stale = sorted(n for n in NOT_YET if not any(p == n or p.startswith(n + " ") for p in missing))
    assert stale == [], "these exist now: remove them from NOT_YET"


def test_the_checker_finds_what_does_not_exist(root: Any) -> None:
    assert problems_of("simulate", root) == ["erpsync simulate"]
    assert problems_of("alerts list --colour red", root) == ["erpsync alerts list --colour"]
    assert problems_of("alerts ack ID | mute ID --for 4h | snooze", root) == ["erpsync alerts snooze"]
    assert problems_of("dispatch list|show|forget NUMBER", root) == ["erpsync dispatch forget"]
    assert problems_of("--config var/demo/erpsync.yaml quarantine list [--reason unmapped_sku]", root) == []
    assert problems_of("sync CONNECTOR STREAM --accept-shrink", root) == []
