"""Outbound stock: plan what each channel should show, queue the changes, push them reliably.

**Plan.** For a channel, compute the sellable quantity (``sync.sellable``) of every SKU that
may have changed since the last plan — stock rows at its source locations, open orders or the
channel's SKU bindings touched since then; every SKU on the first plan after start-up, when rules
may have changed — and keep only those whose quantity differs from the last one queued
(``channel_listing.planned_qty``). Nothing changed, nothing queued. A channel whose connector
has ``skus: bound`` is planned only SKUs with a binding for it: the others are skipped, counted
and logged (never sent under our own SKU), and planned once their binding arrives.
A channel is not planned at all while one of its source locations has never reported stock, or
while a snapshot of a connector feeding it is held by the shrink guard (``sync.push_gate``): "no
data yet" and "maybe wrong" are never pushed as numbers.

**Queue.** Each change becomes an outbox message (topic ``stock.push``, partition = channel,
key ``stock.push:<channel>:<sku>:<version>``) in the same transaction that bumps the listing's
version, so a change is queued once and a re-plan never queues the same version twice.

**Push.** The outbox worker hands this module's handler consecutive messages of one channel.
It maps our SKU to the channel's (SKU bindings, reverse; quantities divided by the unit factor,
rounded down), sends them in batches no larger than the channel allows — never two versions of
one SKU in the same request, so each arrives in order — with compare-and-set: ``expected`` is
what the channel accepted last. On a conflict the channel reports what it has now (it sold
units erpsync has not imported yet); erpsync then sends ``min(planned, actual)`` against that
value — never more than either side believes — and the next plan corrects it once the orders
are in. A channel that is down raises ``RetriableError``: the worker retries the batch later,
in order, and nothing is lost. A change of an unbound SKU queued for a bound channel (its binding
removed meanwhile) is not sent: it fails naming the missing binding and is planned again. What a
channel accepted is recorded in a transaction that is run again when the database picks it as a
deadlock victim (or a lock wait times out): a push whose result could not be recorded would
otherwise be sent a second time.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import structlog
from sqlalchemy import Connection, Engine, select, union, update

from core.clock import utcnow
from core.errors import ConnectorError, RetriableError
from core.ports import PushResult, StockChannel, StockUpdate
from delivery.outcomes import Delivered, Failed, Outcome, Retry
from store.bindings import bound_skus, reverse_bindings
from store.db import retry_on_lock_conflict
from store.models import ChannelListing, Location, OrderLine, SalesOrder, SkuBinding, StockLevel
from store.outbox import Message, NewMessage, enqueue_many
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
        query = union(at_sources, ordered, rebound)
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


def _unique_runs(messages: list[Message]) -> Iterator[list[Message]]:
    """Split into consecutive runs in which no SKU appears twice."""
    run: list[Message] = []
    for m in messages:
        if any(r.payload["sku"] == m.payload["sku"] for r in run):
            yield run
            run = []
        run.append(m)
    if run:
        yield run


class PushHandler:
    """Outbox handler for ``stock.push``: delivers queued quantities to their channels."""

    def __init__(
        self, engine: Engine, channels: Mapping[str, StockChannel], *, bound: Collection[str] = ()
    ) -> None:
        self.engine = engine
        self.channels = channels
        self.bound = frozenset(bound)  # channels shown only SKUs with a binding (skus: bound)

    def __call__(self, messages: list[Message]) -> list[Outcome]:
        channel = self.channels.get(messages[0].partition)
        if channel is None:
            return [Retry(f"no stock channel named {messages[0].partition!r} is configured")] * len(messages)
        outcomes: list[Outcome] = []
        limit = max(1, channel.push_batch_limit)
        chunks = [run[i : i + limit] for run in _unique_runs(messages) for i in range(0, len(run), limit)]
        for chunk in chunks:
            try:
                outcomes += self._push(channel, chunk)
            except ConnectorError as exc:
                if not outcomes:
                    raise  # nothing sent yet: the worker retries (or fails) the whole batch by error type
                # what was delivered stays delivered; the rest waits, in order, for the next attempt
                after = exc.retry_after if isinstance(exc, RetriableError) else None
                return outcomes + [Retry(str(exc), after)] * (len(messages) - len(outcomes))
            if any(isinstance(o, Retry) for o in outcomes):
                break
        waiting = Retry("waiting for an earlier change of this channel")
        return outcomes + [waiting] * (len(messages) - len(outcomes))

    def _push(self, channel: StockChannel, messages: list[Message]) -> list[Outcome]:
        skus = [m.payload["sku"] for m in messages]
        with self.engine.connect() as conn:
            external = reverse_bindings(conn, channel.name, skus)
            pushed = dict(
                conn.execute(
                    select(ChannelListing.sku, ChannelListing.last_pushed_qty).where(
                        ChannelListing.channel == channel.name, ChannelListing.sku.in_(skus)
                    )
                )
                .tuples()
                .all()
            )
            bound = bound_skus(conn, channel.name, skus) if channel.name in self.bound else set(skus)
        sendable = [m for m in messages if m.payload["sku"] in bound]
        updates = [
            StockUpdate(
                external[m.payload["sku"]][0],
                max(0, m.payload["qty"]) // external[m.payload["sku"]][1],
                pushed.get(m.payload["sku"]),
                m.key,
            )
            for m in sendable
        ]
        sent = self._send(channel, sendable, updates) if updates else {}
        unbound = sorted({sku for sku in skus if sku not in bound})
        if unbound:
            self._forget_planned(channel.name, unbound)
        return [
            sent[m.key]
            if m.key in sent
            else Failed(
                f"{m.payload['sku']}: no SKU binding for channel {channel.name} (skus: bound); not sent"
            )
            for m in messages
        ]

    def _send(
        self, channel: StockChannel, messages: list[Message], updates: list[StockUpdate]
    ) -> dict[str, Outcome]:
        """Push ``updates`` (one per message); the outcome of each message by key."""
        results = channel.push_stock(updates)
        outcomes: dict[str, Outcome] = {}
        accepted: dict[str, int] = {}
        for m, change, first in zip(messages, updates, results, strict=True):
            final, qty = first, change.quantity
            if first.status == "conflict" and first.actual is not None:
                qty = min(change.quantity, int(first.actual))
                final = self._after_conflict(channel, change, int(first.actual), qty)
            if final.status == "ok":
                accepted[m.payload["sku"]] = qty
                outcomes[m.key] = Delivered()
            elif final.status == "conflict":
                outcomes[m.key] = Retry(f"{change.sku}: the channel changed it again ({final.message})")
            else:
                outcomes[m.key] = Failed(f"{change.sku}: {final.status}: {final.message}")
        self._record(channel.name, accepted)
        return outcomes

    def _forget_planned(self, channel: str, skus: list[str]) -> None:
        """Unsent changes are not planned: once a binding arrives, the next plan queues them again."""
        log.warning(
            "stock push skipped SKUs without a binding", channel=channel, count=len(skus), first=skus[:10]
        )

        def forget() -> None:
            with self.engine.begin() as conn:
                conn.execute(
                    update(ChannelListing)
                    .where(ChannelListing.channel == channel, ChannelListing.sku.in_(skus))
                    .values(planned_qty=None)
                )

        retry_on_lock_conflict(forget)

    def _after_conflict(
        self, channel: StockChannel, update: StockUpdate, actual: int, qty: int
    ) -> PushResult:
        log.info(
            "stock push conflict",
            channel=channel.name,
            sku=update.sku,
            expected=update.expected,
            actual=actual,
        )
        return channel.push_stock([StockUpdate(update.sku, qty, actual, update.ref + ":cas")])[0]

    def _record(self, channel: str, accepted: Mapping[str, int]) -> None:
        """Remember what the channel accepted; a deadlock victim is run again, never left unrecorded."""
        if accepted:
            retry_on_lock_conflict(partial(self._record_once, channel, accepted, utcnow()))

    def _record_once(self, channel: str, accepted: Mapping[str, int], now: datetime) -> None:
        with self.engine.begin() as conn:
            upsert(
                conn,
                ChannelListing,
                [
                    {
                        "channel": channel,
                        "sku": sku,
                        "last_pushed_qty": qty,
                        "pushed_at": now,
                        "push_version": 0,
                    }
                    for sku, qty in accepted.items()
                ],
                key=["channel", "sku"],
                update={"last_pushed_qty": NEW, "pushed_at": NEW},
            )
