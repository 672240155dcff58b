"""Short excerpts of longer text for messages, log fields and bounded columns.

:func:`shorten` keeps a text within a number of characters, cutting at the last word boundary
that fits and marking the cut with ``…``, so that a reader never sees half a word (``"connection
refu"``) and knows the text goes on. A single word longer than the limit (a URL, a digest) is
cut inside itself, as there is no boundary to use. The result, ``…`` included, is never longer
than the limit, so it fits a column of that length.

Text that may hold a secret is redacted before it is shortened, never after: a secret cut in
half would no longer be recognised.

>>> shorten("the receiver answered 503 Service Unavailable", 30)
'the receiver answered 503…'
>>> shorten("short enough", 30)
'short enough'
"""

from __future__ import annotations

ELLIPSIS = "…"
#: a word boundary further back than this share of the limit loses too much: cut the word instead
_MIN_KEPT = 0.5


def shorten(text: str, limit: int) -> str:
    """Return ``text`` if it fits in ``limit`` characters, else its head cut at a word and ``…``."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    if len(text) <= limit:
        return text
    room = limit - len(ELLIPSIS)
    head = text[: room + 1]  # one more: a space right after the room means a whole word fits
    cut = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
    if cut < room * _MIN_KEPT:
        cut = room
    return text[:cut].rstrip(" \t\n,;:—-") + ELLIPSIS
