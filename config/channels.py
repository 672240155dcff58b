"""The ``channels:`` section: how much of the stock each sales channel is shown, and when.

A channel is a connector that receives stock pushes. For every SKU erpsync computes the
sellable quantity from the channel's ``sources`` (location codes), then applies the rule that
matches the SKU: the channel's ``rule``, or the first of ``overrides`` whose ``sku`` or
``category`` matches. ``locks`` keep units for this channel alone (the other channels do not
see them). See ``sync.sellable`` for the exact order of the steps.

Example::

    channels:
      - name: tmall
        sources: [WH-SH, DS-GZ]
        rule: {percent: 80, buffer: 2, max: 500, zero_below: 3}
        overrides:
          - {sku: CUP-010, max: 20}
          - {category: gift, percent: 50}
        locks:
          - {sku: TEA-001, qty: 10}
        push: {every: 1m, batch: 50}
        drift: {every: 1h, tolerance: 2, correct: false}
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field, model_validator

from config.durations import Duration
from config.durations import Section as _Section
from mapping.records import KEY


class SellableRule(_Section):
    """How the pool of available units becomes the quantity a channel shows."""

    percent: int = Field(default=100, ge=0, le=100, description="share of the pool, rounded down")
    buffer: int = Field(default=0, ge=0, description="units held back after the percentage")
    plus: int = Field(default=0, ge=0, description="units added after the percentage")
    min: int = Field(default=0, ge=0, description="show at least this many while the pool has them")
    max: int | None = Field(default=None, ge=0, description="never show more than this")
    zero_below: int = Field(default=0, ge=0, description="show 0 when the result is below this")


class RuleOverride(SellableRule):
    """A rule for one SKU or one product category; unset keys keep the channel rule's values."""

    sku: Annotated[str, KEY] | None = None
    category: str | None = None

    @model_validator(mode="after")
    def _one_match(self) -> RuleOverride:
        if (self.sku is None) == (self.category is None):
            raise ValueError("an override matches exactly one of `sku` or `category`")
        return self


class ChannelLock(_Section):
    """Units of one SKU kept for this channel alone (a virtual warehouse)."""

    sku: Annotated[str, Field(min_length=1), KEY]
    qty: int = Field(gt=0)


class PushSchedule(_Section):
    every: Duration = timedelta(minutes=1)
    batch: int = Field(default=50, ge=1, le=250)


class DriftCheck(_Section):
    every: Duration | None = None
    tolerance: int = Field(default=0, ge=0)
    correct: bool = False


class ChannelConfig(_Section):
    """One sales channel that is shown stock (``name`` is a connector's name)."""

    name: str
    sources: list[str] = Field(min_length=1)
    rule: SellableRule = Field(default_factory=SellableRule)
    overrides: list[RuleOverride] = Field(default_factory=list)
    locks: list[ChannelLock] = Field(default_factory=list)
    push: PushSchedule = Field(default_factory=PushSchedule)
    drift: DriftCheck = Field(default_factory=DriftCheck)
    enabled: bool = True
