"""Sellable quantity per channel: from stock at the channel's source locations, through its rule.

For one SKU and one channel, in this order (each step is kept for ``erpsync stock explain``):

1. per source location: ``available = max(0, on_hand − reserved − safety_stock)``;
2. ``pool`` = the sum over the channel's source locations;
3. minus units of open orders not yet allocated (imported but not reserved, from any channel:
   they will take stock from the same pool — a channel must not be shown what is already sold);
4. minus units locked for *other* channels (a lock keeps N units for one channel alone);
5. × ``percent`` / 100, rounded down;
6. − ``buffer`` + ``plus``;
7. ``zero_below``: a result below it shows 0 (avoid selling the last few units online);
8. ``min``: show at least this many while the pool (after step 4) has them; ``max``: at most this;
9. never negative.

The rule is the channel's own, or the first override that names the SKU, or else the first
that names the product's category. Everything here is pure but ``load_inputs``, which reads the
levels, categories and open demand of a batch of SKUs in three queries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, func, select

from store.models import Location, OrderLine, Product, SalesOrder, StockLevel
from store.orders import BEFORE_ALLOCATION

#: order states whose lines still wait for an allocation (their units are not reserved yet)
UNALLOCATED = tuple(sorted(BEFORE_ALLOCATION))


@dataclass(frozen=True)
class Rule:
    percent: int = 100
    buffer: int = 0
    plus: int = 0
    min: int = 0
    max: int | None = None
    zero_below: int = 0


@dataclass(frozen=True)
class Override:
    rule: Rule
    sku: str | None = None
    category: str | None = None

    @property
    def name(self) -> str:
        return f"override sku={self.sku}" if self.sku else f"override category={self.category}"


@dataclass(frozen=True)
class ChannelPolicy:
    """What one channel is shown: its source locations, rule, overrides and locks.

    ``bound``: the channel's connector has ``skus: bound``, so it is shown only SKUs with a
    binding for it (never one of ours under our own SKU).
    """

    channel: str
    sources: tuple[str, ...]
    rule: Rule = Rule()
    overrides: tuple[Override, ...] = ()
    locks: Mapping[str, int] = field(default_factory=dict)
    bound: bool = False

    def rule_for(self, sku: str, category: str | None) -> tuple[str, Rule]:
        for o in self.overrides:
            if o.sku == sku:
                return o.name, o.rule
        for o in self.overrides:
            if o.category is not None and o.category == category:
                return o.name, o.rule
        return "channel rule", self.rule


@dataclass(frozen=True)
class LevelRow:
    location: str
    on_hand: int
    reserved: int
    safety_stock: int

    @property
    def available(self) -> int:
        return max(0, self.on_hand - self.reserved - self.safety_stock)


@dataclass(frozen=True)
class Inputs:
    """What the computation of one SKU needs from the store."""

    levels: tuple[LevelRow, ...] = ()
    category: str | None = None
    pending: int = 0


@dataclass(frozen=True)
class Step:
    label: str
    value: int
    note: str = ""


@dataclass(frozen=True)
class Sellable:
    channel: str
    sku: str
    qty: int
    rule_name: str
    steps: tuple[Step, ...]


def compute(policy: ChannelPolicy, sku: str, inputs: Inputs, others_locked: int) -> Sellable:
    """The sellable quantity of ``sku`` on ``policy.channel``, with every step that led to it."""
    steps: list[Step] = []
    for level in inputs.levels:
        if level.location in policy.sources:
            note = f"{level.on_hand} on hand − {level.reserved} reserved − {level.safety_stock} safety"
            steps.append(Step(f"available at {level.location}", level.available, note))
    pool = sum(s.value for s in steps)
    steps.append(Step("pool at source locations", pool, ", ".join(policy.sources)))
    pool = max(0, pool - inputs.pending)
    steps.append(Step("minus open orders not yet allocated", pool, f"{inputs.pending} unit(s)"))
    pool = max(0, pool - others_locked)
    steps.append(Step("minus units locked for other channels", pool, f"{others_locked} unit(s)"))
    rule_name, rule = policy.rule_for(sku, inputs.category)
    qty = pool * rule.percent // 100
    steps.append(Step(f"{rule.percent}% rounded down ({rule_name})", qty))
    qty = qty - rule.buffer + rule.plus
    steps.append(Step("buffer / plus", qty, f"−{rule.buffer} +{rule.plus}"))
    if qty < rule.zero_below:
        qty = 0
        steps.append(Step(f"below {rule.zero_below}: show 0", qty))
    if rule.min:
        qty = max(qty, min(rule.min, pool))
        steps.append(Step(f"at least {rule.min} while the pool has them", qty))
    if rule.max is not None and qty > rule.max:
        qty = rule.max
        steps.append(Step(f"at most {rule.max}", qty))
    qty = max(0, qty)
    steps.append(Step("sellable (never negative)", qty))
    return Sellable(policy.channel, sku, qty, rule_name, tuple(steps))


def others_locked(policies: Iterable[ChannelPolicy], channel: str, sku: str) -> int:
    """Units of ``sku`` locked for channels other than ``channel``."""
    return sum(p.locks.get(sku, 0) for p in policies if p.channel != channel)


def load_inputs(conn: Connection, skus: Sequence[str], locations: Iterable[str]) -> dict[str, Inputs]:
    """Levels at ``locations``, categories and unallocated open demand of ``skus`` (three queries)."""
    wanted = sorted(set(skus))
    levels: dict[str, list[LevelRow]] = {sku: [] for sku in wanted}
    rows = conn.execute(
        select(StockLevel.sku, Location.code, StockLevel.on_hand, StockLevel.reserved, Location.safety_stock)
        .join(Location, Location.id == StockLevel.location_id)
        .where(StockLevel.sku.in_(wanted), Location.code.in_(set(locations)))
        .order_by(StockLevel.sku, Location.code)
    )
    for sku, code, on_hand, reserved, safety in rows:
        levels[sku].append(LevelRow(code, on_hand, reserved, safety))
    categories = dict(
        conn.execute(select(Product.sku, Product.category).where(Product.sku.in_(wanted))).tuples().all()
    )
    pending = dict(
        conn.execute(
            select(OrderLine.sku, func.sum(OrderLine.qty))
            .join(SalesOrder, SalesOrder.id == OrderLine.order_id)
            .where(OrderLine.sku.in_(wanted), SalesOrder.status.in_(UNALLOCATED))
            .group_by(OrderLine.sku)
        )
        .tuples()
        .all()
    )
    return {
        sku: Inputs(tuple(levels[sku]), categories.get(sku), int(pending.get(sku) or 0)) for sku in wanted
    }
