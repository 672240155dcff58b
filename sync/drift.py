"""Drift check: read what each channel shows, compare with what it should show, report, correct.

For every SKU listed on the channel (``channel_listing``), the expected quantity is the sellable
quantity now, in the channel's units; the actual one is read back from the channel
(``StockChannel.read_stock``), in batches. Differences above ``tolerance`` are reported, and
with ``correct`` queued as new pushes (which go through the outbox like any other change) — but
not while the channel is blocked (``sync.outbound.channel_blockers``): a correction is a push.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy import Engine, select

from connectors.base import StockChannel
from mapping.records import utcnow
from store.bindings import reverse_bindings
from store.models import ChannelListing
from store.upsert import NEW, upsert
from sync.outbound import PlannedPush, channel_blockers, enqueue
from sync.sellable import ChannelPolicy, compute, load_inputs, others_locked

log = structlog.get_logger("erpsync.drift")


@dataclass(frozen=True)
class Drift:
    channel: str
    sku: str
    channel_sku: str
    expected: int
    actual: int | None  # None: the channel does not list it

    @property
    def difference(self) -> int:
        return (self.actual or 0) - self.expected


def _listed(engine: Engine, channel: str, batch: int) -> Iterator[list[str]]:
    after = ""
    while True:
        with engine.connect() as conn:
            skus = list(
                conn.execute(
                    select(ChannelListing.sku)
                    .where(ChannelListing.channel == channel, ChannelListing.sku > after)
                    .order_by(ChannelListing.sku)
                    .limit(batch)
                ).scalars()
            )
        if not skus:
            return
        yield skus
        after = skus[-1]


def check_drift(
    engine: Engine,
    policies: Sequence[ChannelPolicy],
    channel: StockChannel,
    *,
    tolerance: int = 0,
    correct: bool = False,
    batch: int = 100,
) -> list[Drift]:
    """Differences between what ``channel`` shows and what it should show (queued again if ``correct``)."""
    policy = next(p for p in policies if p.channel == channel.name)
    waiting = channel_blockers(engine, policy) if correct else {}
    if waiting:  # differences are still reported
        log.info("drift corrections not queued", channel=channel.name, why="; ".join(waiting.values()))
        correct = False
    found: list[Drift] = []
    for skus in _listed(engine, channel.name, batch):
        with engine.connect() as conn:
            inputs = load_inputs(conn, skus, policy.sources)
            external = reverse_bindings(conn, channel.name, skus)
        actual = channel.read_stock([external[s][0] for s in skus])
        sellables = {s: compute(policy, s, inputs[s], others_locked(policies, channel.name, s)) for s in skus}
        drifts = []
        for sku in skus:
            ext, factor = external[sku]
            drift = Drift(channel.name, sku, ext, sellables[sku].qty // factor, actual.get(ext))
            if drift.actual is None or abs(drift.difference) > tolerance:
                drifts.append(drift)
        _remember_seen(
            engine, channel.name, {s: actual[external[s][0]] for s in skus if external[s][0] in actual}
        )
        if correct and drifts:
            enqueue(engine, [PlannedPush(sellables[d.sku], None) for d in drifts])
        found += drifts
    return found


def _remember_seen(engine: Engine, channel: str, seen: dict[str, int]) -> None:
    if not seen:
        return
    now = utcnow()
    with engine.begin() as conn:
        upsert(
            conn,
            ChannelListing,
            [
                {"channel": channel, "sku": sku, "last_seen_qty": qty, "seen_at": now, "push_version": 0}
                for sku, qty in seen.items()
            ],
            key=["channel", "sku"],
            update={"last_seen_qty": NEW, "seen_at": NEW},
        )
