"""Rich consoles for the CLI: tables wide enough to read when output goes to a file or a pipe."""

from __future__ import annotations

import shutil

from rich.console import Console


def make_console(stderr: bool = False) -> Console:
    """A console that wraps nothing it must not (errors, ids) and is 160 columns when not a terminal."""
    console = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console = Console(
            stderr=stderr, highlight=False, soft_wrap=True, width=max(160, shutil.get_terminal_size().columns)
        )
    return console


def batch_report(verb: str, done: int, total: int, what: str) -> str:
    """``"<verb> 200 of 1,350 <what> — run again or pass --all"``; without the advice once all are done."""
    if done >= total:
        return f"{verb} {done:,} {what}"
    return f"{verb} {done:,} of {total:,} {what} — run again or pass --all"
