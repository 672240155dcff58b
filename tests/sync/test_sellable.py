"""Each step of the sellable rule, on hand-made inputs (no database)."""

from __future__ import annotations

import pytest

from sync.sellable import ChannelPolicy, Inputs, LevelRow, Override, Rule, compute, others_locked

LEVELS = (LevelRow("WH", 100, 10, 5), LevelRow("DS", 20, 0, 0), LevelRow("FAR", 50, 0, 0))


def qty(
    rule: Rule,
    *,
    pending: int = 0,
    locked: int = 0,
    category: str | None = None,
    sku: str = "A",
    overrides: tuple[Override, ...] = (),
) -> int:
    policy = ChannelPolicy("shop", ("WH", "DS"), rule, overrides)
    return compute(policy, sku, Inputs(LEVELS, category, pending), locked).qty


def test_pool_is_available_stock_at_the_channels_sources_only() -> None:
    assert qty(Rule()) == 85 + 20  # FAR is not a source of this channel


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (Rule(percent=50), 52),  # 105 × 50 % = 52.5, rounded down
        (Rule(percent=50, buffer=2), 50),
        (Rule(percent=50, plus=3), 55),
        (Rule(max=30), 30),
        (Rule(percent=10, zero_below=11), 0),  # 10 < 11
        (Rule(percent=10, zero_below=10), 10),
        (Rule(percent=0, min=4), 4),  # at least 4 while the pool has them
        (Rule(buffer=500), 0),  # never negative
    ],
)
def test_rule_steps(rule: Rule, expected: int) -> None:
    assert qty(rule) == expected


def test_min_never_shows_more_than_the_pool() -> None:
    policy = ChannelPolicy("shop", ("DS",), Rule(min=50))
    assert compute(policy, "A", Inputs((LevelRow("DS", 3, 0, 0),)), 0).qty == 3


def test_open_orders_and_other_channels_locks_come_off_the_pool() -> None:
    assert qty(Rule(), pending=5) == 100
    assert qty(Rule(), pending=5, locked=30) == 70
    assert qty(Rule(), pending=500) == 0


def test_overrides_by_sku_win_over_category_and_merge_onto_the_channel_rule() -> None:
    overrides = (Override(Rule(percent=50), category="tea"), Override(Rule(max=7), sku="A"))
    assert qty(Rule(), category="tea", overrides=overrides) == 7
    assert qty(Rule(), category="tea", sku="B", overrides=overrides) == 52
    assert qty(Rule(), category="cups", sku="B", overrides=overrides) == 105


def test_locks_are_invisible_to_other_channels_only() -> None:
    a = ChannelPolicy("a", ("WH",), locks={"A": 10})
    b = ChannelPolicy("b", ("WH",))
    assert others_locked([a, b], "a", "A") == 0
    assert others_locked([a, b], "b", "A") == 10


def test_every_step_is_explained_and_ends_at_the_quantity() -> None:
    result = compute(
        ChannelPolicy("shop", ("WH", "DS"), Rule(percent=80, max=50)), "A", Inputs(LEVELS, None, 2), 3
    )
    labels = [s.label for s in result.steps]
    assert labels[:3] == ["available at WH", "available at DS", "pool at source locations"]
    assert result.steps[0].note == "100 on hand − 10 reserved − 5 safety"
    assert "80% rounded down (channel rule)" in labels
    assert "at most 50" in labels
    assert result.steps[-1].value == result.qty == 50
