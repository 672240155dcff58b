"""Shortage rules: which SKUs at which locations are short, how badly, and what to do about it.

For each (SKU, location) the first matching rule gives the thresholds. With ``available`` =
on hand − reserved − safety stock (the units that can still be promised):

- ``out_of_stock`` when nothing is available;
- ``critical`` at or below ``critical`` units;
- ``warning`` at or below ``warning`` (or ``reorder_point``) units, or when the stock covers
  fewer than ``cover_days`` days of sales (``alerts.velocity``).

**Hysteresis**: an open alert resolves only when the stock is clearly back — above its
threshold by the ``hysteresis`` share (and above ``cover_days`` by the same share) — so a level
bouncing around the threshold does not flap.

**Suggestions** say what to do: reorder enough to cover the lead time plus ``target_days`` of
sales (at least up to the warning level), and, when another location has more than it needs
(above its own warning level by the hysteresis share and its own target cover), transfer from
the one with the largest surplus.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from alerts.velocity import days_of_cover, reorder_qty
from core.statuses import AlertSeverity


@dataclass(frozen=True)
class Rule:
    warning: int | None = None
    critical: int | None = None
    cover_days: float | None = None
    lead_time_days: float = 7
    target_days: float = 30
    sku: str | None = None
    category: str | None = None
    location: str | None = None
    level: str | None = None

    def matches(self, sku: str, category: str | None, location: str, level: str) -> bool:
        return all(
            want is None or want == have
            for want, have in (
                (self.sku, sku),
                (self.category, category),
                (self.location, location),
                (self.level, level),
            )
        )


@dataclass(frozen=True)
class Position:
    """Stock of one SKU at one location, and how fast it sells there."""

    sku: str
    location: str
    level: str  # the location's kind: warehouse, agent, distributor, retail
    available: int
    velocity: float = 0.0
    category: str | None = None


@dataclass(frozen=True)
class Finding:
    severity: AlertSeverity
    reason: str
    threshold: int | None
    cover: float
    reorder: int


def rule_for(rules: Sequence[Rule], p: Position) -> Rule | None:
    return next((r for r in rules if r.matches(p.sku, p.category, p.location, p.level)), None)


def assess(rule: Rule, p: Position) -> Finding | None:
    """The shortage at ``p`` under ``rule``, or None when there is none."""
    cover = days_of_cover(p.available, p.velocity)
    reorder = max(
        reorder_qty(p.available, p.velocity, rule.target_days, rule.lead_time_days),
        (rule.warning or 0) - p.available,
    )
    if p.available <= 0:
        return Finding(
            AlertSeverity.OUT_OF_STOCK,
            "nothing left to sell",
            rule.critical,
            cover,
            max(reorder, rule.warning or 1),
        )
    if rule.critical is not None and p.available <= rule.critical:
        return Finding(
            AlertSeverity.CRITICAL,
            f"{p.available} left (critical at {rule.critical})",
            rule.critical,
            cover,
            reorder,
        )
    if rule.warning is not None and p.available <= rule.warning:
        return Finding(
            AlertSeverity.WARNING,
            f"{p.available} left (warning at {rule.warning})",
            rule.warning,
            cover,
            reorder,
        )
    if rule.cover_days is not None and cover < rule.cover_days:
        return Finding(
            AlertSeverity.WARNING,
            f"{cover:.1f} days of cover at {p.velocity:.1f}/day (want {rule.cover_days:g})",
            rule.warning,
            cover,
            reorder,
        )
    return None


def recovered(rule: Rule, p: Position, hysteresis: float) -> bool:
    """True once stock is clearly above every threshold of ``rule`` (by the hysteresis share)."""
    highest = max((t for t in (rule.warning, rule.critical) if t is not None), default=0)
    if p.available <= math.floor(highest * (1 + hysteresis)) or p.available <= 0:
        return False
    return rule.cover_days is None or days_of_cover(p.available, p.velocity) >= rule.cover_days * (
        1 + hysteresis
    )


def transfer_from(
    short: Position, others: Sequence[Position], rules: Sequence[Rule], hysteresis: float
) -> tuple[str, int] | None:
    """The location with the largest surplus of the same SKU, and how many it can spare."""
    best: tuple[str, int] | None = None
    for o in others:
        if o.sku != short.sku or o.location == short.location:
            continue
        rule = rule_for(rules, o) or Rule()
        keep = max(
            math.ceil((rule.warning or 0) * (1 + hysteresis)),
            math.ceil(o.velocity * (rule.target_days + rule.lead_time_days)),
        )
        spare = o.available - keep
        if spare > 0 and (best is None or spare > best[1]):
            best = (o.location, spare)
    return best


def suggestion(
    short: Position, finding: Finding, others: Sequence[Position], rules: Sequence[Rule], hysteresis: float
) -> dict[str, object]:
    """What to do: reorder quantity and, when possible, a transfer."""
    out: dict[str, object] = {"reorder_qty": finding.reorder}
    transfer = transfer_from(short, others, rules, hysteresis)
    if transfer is not None and finding.reorder > 0:
        out["transfer_from"] = transfer[0]
        out["transfer_qty"] = min(transfer[1], finding.reorder)
    return out


__all__ = ["Finding", "Position", "Rule", "assess", "recovered", "rule_for", "suggestion"]
