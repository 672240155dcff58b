"""The delivery state of an order's messages, as `orders list` shows it."""

from __future__ import annotations

from routing.order_messages import Delivery, combine, excerpt
from store.queries import KeyedMessage


def message(id: int, status: str, error: str | None = None) -> KeyedMessage:
    return KeyedMessage(id, "fulfilment.push", f"k{id}", status, error, 1)  # type: ignore[arg-type]


def test_one_failed_parcel_makes_the_order_failed_and_names_it() -> None:
    state = combine(
        [message(1, "delivered"), message(2, "failed", "422 no such order"), message(3, "pending")]
    )
    assert state == Delivery("failed", "422 no such order", (2,))
    assert state.text() == "failed: 422 no such order"


def test_pending_says_retrying_with_the_error_of_the_last_attempt() -> None:
    assert combine([message(1, "delivered"), message(2, "pending", "503")]) == Delivery("pending", "503")
    assert combine([message(1, "pending", "503")]).text() == "retrying: 503"  # type: ignore[union-attr]
    assert combine([message(1, "delivered")]).text() == "delivered"  # type: ignore[union-attr]
    assert combine([]) is None


def test_an_excerpt_is_one_line_cut_at_a_word() -> None:
    text = "POST https://erp.example/api answered 400:\n  line 2: unit 'box' unknown for SKU TEA-001"
    cut = excerpt(text, 40)
    assert cut == "POST https://erp.example/api answered…"
    assert len(cut) <= 40
    assert excerpt("short", 40) == "short"
