"""Short excerpts end at a word and say so with "…"; they always fit the limit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.excerpt import shorten


def test_text_that_fits_is_kept_whole() -> None:
    assert shorten("connection refused", 18) == "connection refused"


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("the receiver answered 503 Service Unavailable", 30, "the receiver answered 503…"),
        ("GET /stock failed: connection refused by the server", 35, "GET /stock failed: connection…"),
        ("one, two; three", 12, "one, two…"),  # no dangling punctuation before the mark
        ("https://shop.example/a/very/long/path/without/spaces", 20, "https://shop.exampl…"),
    ],
)
def test_a_long_text_is_cut_at_a_word(text: str, limit: int, expected: str) -> None:
    assert shorten(text, limit) == expected


@given(st.text(alphabet=st.sampled_from("ab c,\n—"), max_size=80), st.integers(min_value=1, max_value=60))
def test_never_longer_than_the_limit_and_cut_at_a_near_boundary(text: str, limit: int) -> None:
    short = shorten(text, limit)
    assert len(short) <= limit
    if short != text:
        assert short.endswith("…")
        head = short.removesuffix("…")
        assert text.startswith(head)
        nearby = text[: limit - 1].rfind(" ")  # a boundary in the second half of the room is used
        if nearby >= (limit - 1) / 2 and head:
            assert text[len(head)] in " \n,—" or head == text[: limit - 1]
