"""Pushing stock to channels: the outbox handler of ``stock.push`` (planned by ``sync.outbound``).

The outbox worker hands :class:`PushHandler` consecutive messages of one channel.
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

from collections.abc import Collection, Iterator, Mapping
from datetime import datetime
from functools import partial

import structlog
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from core.clock import utcnow
from core.errors import ConnectorError, RetriableError
from core.ports import PushResult, StockChannel, StockUpdate
from delivery.outcomes import Delivered, Failed, Outcome, Retry
from store.bindings import bound_skus, reverse_bindings
from store.db import retry_on_lock_conflict
from store.models import ChannelListing
from store.outbox import Message
from store.upsert import NEW, upsert

log = structlog.get_logger("erpsync.outbound")


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
