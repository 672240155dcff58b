"""The clock every layer reads: the current time as a timezone-aware UTC ``datetime``.

erpsync stores and compares only aware UTC times (``store.types.UTCDateTime`` refuses naive
ones), so code asks :func:`utcnow` rather than ``datetime.now()``. Code that must be tested at
another moment takes a ``clock`` argument defaulting to it.

>>> utcnow().tzinfo
datetime.timezone.utc
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)
