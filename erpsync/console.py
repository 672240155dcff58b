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
