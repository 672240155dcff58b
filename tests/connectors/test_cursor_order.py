"""Cursor ordering: numbers numerically, timestamps by instant, text as text."""

from __future__ import annotations

import pytest

from connectors.cursors import MaxCursor, cursor_order


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ("9", "10"),
        (9, "10"),
        (1.5, 2),
        ("1234567890123456789", "1234567890123456790"),  # beyond float precision
        ("2024-05-01T10:00:00+08:00", "2024-05-01T03:00:00Z"),  # 02:00Z before 03:00Z
        ("2024-05-01 10:00:00", "2024-05-01T10:00:01"),
        ("abc", "abd"),
    ],
)
def test_order(low: object, high: object) -> None:
    assert cursor_order(low) < cursor_order(high)


def test_max_cursor_keeps_the_original_text_and_never_goes_back() -> None:
    seen = MaxCursor("2024-05-01T00:00:00Z")
    seen.update(["2023-01-01T00:00:00Z", None, ""])
    assert seen.value == "2024-05-01T00:00:00Z"
    seen.update(["2024-05-02T00:00:00+00:00", "2024-05-01T12:00:00Z"])
    assert seen.value == "2024-05-02T00:00:00+00:00"


def test_max_cursor_starts_empty() -> None:
    seen = MaxCursor()
    assert seen.value is None
    seen.update([3, 17, 5])
    assert seen.value == "17"
