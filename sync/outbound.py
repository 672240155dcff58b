"""Outbound stock: plan what each channel should show, queue the changes, push them reliably.

**Plan.** For a channel, compute the sellable quantity (``sync.sellable``) of every SKU that
may have changed since the last plan — stock rows at its source locations, open orders, the
channel's SKU bindings or products touched since then; every SKU on a first plan, and on the
first one after the configuration changed (``erpsync.planning``) — and keep only those whose
quantity differs from the last one queued
(``channel_listing.planned_qty``). Nothing changed, nothing queued. A channel whose connector
has ``skus: bound`` is planned only SKUs with a binding for it: the others are skipped, counted
and logged (never sent under our own SKU), and planned once their binding arrives.
A channel is not planned at all while one of its source locations has never reported stock, or
while a snapshot of a connector feeding it is held by the shrink guard (``sync.push_gate``): "no
data yet" and "maybe wrong" are never pushed as numbers.

**Queue.** Each change becomes an outbox message (topic ``stock.push``, partition = channel,
key ``stock.push:<channel>:<sku>:<version>``) in the same transaction that bumps the listing's
version, so a change is queued once and a re-plan never queues the same version twice.

**Push.** ``sync.stock_push.PushHandler``, the outbox handler of the topic, sends the queued
changes to their channels.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import Connection, Engine, select, union

from core.clock import utcnow
from store.bindings import bound_skus
from store.models import ChannelListing, Location, OrderLine, Product, SalesOrder, SkuBinding, StockLevel
from store.outbox import NewMessage, enqueue_many
from store.upsert import NEW, upsert
from sync.push_gate import blockers
from sync.sellable import UNALLOCATED, ChannelPolicy, Sellable, compute, load_inputs, others_locked

TOPIC = "stock.push"
log = structlog.get_logger("erpsync.outbound")


@dataclass(frozen=True)
class PlannedPush:
    sellable: Sellable
    previous: int | None  # the quantity last queued (None: never)

    @property
    def channel(self) -> str:
        return self.sellable.channel

    @property
    def sku(self) -> str:
        return self.sellable.sku


def _candidate_skus(
    conn: Connection, policy: ChannelPolicy, since: datetime | None, after: str, limit: int
) -> list[str]:
    at_sources = (
        select(StockLevel.sku)
        .join(Location, Location.id == StockLevel.location_id)
        .where(Location.code.in_(policy.sources))
    )
    listed = select(ChannelListing.sku).where(ChannelListing.channel == policy.channel)
    if since is not None:
        at_sources = at_sources.where(StockLevel.updated_at >= since)
        ordered = (
            select(OrderLine.sku)
            .join(SalesOrder, SalesOrder.id == OrderLine.order_id)
            .where(SalesOrder.updated_at >= since)
        )
        rebound = select(SkuBinding.sku).where(
            SkuBinding.system == policy.channel, SkuBinding.updated_at >= since
        )
        # a product moved to another category may fall under another override
        recategorised = select(Product.sku).where(Product.updated_at >= since)
        query = union(at_sources, ordered, rebound, recategorised)
    else:
        awaiting = (
            select(OrderLine.sku)
            .join(SalesOrder, SalesOrder.id == OrderLine.order_id)
            .where(SalesOrder.status.in_(UNALLOCATED))
        )
        query = union(at_sources, listed, awaiting)
    sub = query.subquery()
    return list(
        conn.execute(select(sub.c.sku).where(sub.c.sku > after).order_by(sub.c.sku).limit(limit)).scalars()
    )


def channel_blockers(engine: Engine, policy: ChannelPolicy) -> dict[str, str]:
    """Why ``policy``'s channel may not be planned now, per source location (empty: it may)."""
    with engine.connect() as conn:
        return blockers(conn, policy.sources)


def plan(
    engine: Engine,
    policies: Sequence[ChannelPolicy],
    channel: str,
    *,
    since: datetime | None = None,
    batch: int = 500,
    unbound: list[str] | None = None,
) -> Iterator[PlannedPush]:
    """Yield the SKUs whose sellable quantity on ``channel`` differs from the last one queued.

    SKUs skipped for want of a binding (``skus: bound``) are added to ``unbound`` when given.
    Nothing while the channel is blocked (``channel_blockers``); the reason is logged.
    """
    policy = next(p for p in policies if p.channel == channel)
    waiting = channel_blockers(engine, policy)
    if waiting:
        log.info("channel not planned", channel=channel, why="; ".join(waiting.values()))
        return
    after = ""
    while True:
        with engine.connect() as conn:
            candidates = _candidate_skus(conn, policy, since, after, batch)
            if not candidates:
                return
            skus = _bound_only(conn, policy, candidates, unbound)
            inputs = load_inputs(conn, skus, policy.sources)
            queued = dict(
                conn.execute(
                    select(ChannelListing.sku, ChannelListing.planned_qty).where(
                        ChannelListing.channel == channel, ChannelListing.sku.in_(skus)
                    )
                )
                .tuples()
                .all()
            )
        for sku in skus:
            sellable = compute(policy, sku, inputs[sku], others_locked(policies, channel, sku))
            if queued.get(sku) != sellable.qty:
                yield PlannedPush(sellable, queued.get(sku))
        after = candidates[-1]


def _bound_only(
    conn: Connection, policy: ChannelPolicy, skus: list[str], unbound: list[str] | None
) -> list[str]:
    """``skus`` a bound channel may be shown (all of them for other channels); logs the rest."""
    if not policy.bound:
        return skus
    bound = bound_skus(conn, policy.channel, skus)
    skipped = [sku for sku in skus if sku not in bound]
    if skipped:
        log.info(
            "stock plan skipped SKUs without a binding",
            channel=policy.channel,
            count=len(skipped),
            first=skipped[:10],
        )
        if unbound is not None:
            unbound += skipped
    return [sku for sku in skus if sku in bound]


def enqueue(engine: Engine, planned: Sequence[PlannedPush]) -> int:
    """Queue planned changes (one transaction); returns how many messages were added."""
    if not planned:
        return 0
    channel = planned[0].channel
    now = utcnow()
    with engine.begin() as conn:
        upsert(
            conn,
            ChannelListing,
            [{"channel": p.channel, "sku": p.sku, "push_version": 0} for p in planned],
            key=["channel", "sku"],
            update={"push_version": ChannelListing.push_version},
        )
        versions = dict(
            conn.execute(
                select(ChannelListing.sku, ChannelListing.push_version)
                .where(ChannelListing.channel == channel, ChannelListing.sku.in_([p.sku for p in planned]))
                .with_for_update()
            )
            .tuples()
            .all()
        )
        upsert(
            conn,
            ChannelListing,
            [
                {
                    "channel": p.channel,
                    "sku": p.sku,
                    "planned_qty": p.sellable.qty,
                    "planned_at": now,
                    "push_version": versions[p.sku] + 1,
                }
                for p in planned
            ],
            key=["channel", "sku"],
            update={"planned_qty": NEW, "planned_at": NEW, "push_version": NEW},
        )
        return enqueue_many(
            conn,
            [
                NewMessage(
                    TOPIC,
                    f"{TOPIC}:{p.channel}:{p.sku}:{versions[p.sku] + 1}",
                    {
                        "channel": p.channel,
                        "sku": p.sku,
                        "qty": p.sellable.qty,
                        "version": versions[p.sku] + 1,
                    },
                    partition=p.channel,
                )
                for p in planned
            ],
        )


def plan_and_enqueue(
    engine: Engine,
    policies: Sequence[ChannelPolicy],
    channel: str,
    since: datetime | None = None,
    batch: int = 500,
) -> int:
    """Plan ``channel`` and queue every change, ``batch`` SKUs per transaction."""
    total, chunk = 0, []
    for planned in plan(engine, policies, channel, since=since, batch=batch):
        chunk.append(planned)
        if len(chunk) >= batch:
            total += enqueue(engine, chunk)
            chunk = []
    return total + enqueue(engine, chunk)
