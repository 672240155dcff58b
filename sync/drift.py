"""Drift check: read what each channel shows and compare it with what erpsync last pushed there.

For every SKU listed on the channel (``channel_listing``), the expected quantity is the one the
channel last accepted from erpsync (``last_pushed_qty``, in the channel's units); the actual one is
read back from the channel (``StockChannel.read_stock``), in batches. A difference means someone
or something else changed the channel (a manual edit, a sale erpsync has not imported yet) — a
stock change at the source is not drift: the planner pushes it. SKUs whose newest change is still
queued or in flight are skipped (the channel is about to change), and so are SKUs never pushed
(nothing to compare with) and, on a channel with ``skus: bound``, SKUs without a binding for it
(the channel does not know them under our SKU). Differences above ``tolerance`` are reported,
and with ``correct`` the current sellable quantity is queued as a new push (through the outbox
like any other change) — but not while the channel is blocked (``sync.outbound.channel_blockers``):
a correction is a push.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy import Connection, Engine, select

from core.clock import utcnow
from core.ports import StockChannel
from store.bindings import bound_skus, reverse_bindings
from store.models import ChannelListing, Outbox
from store.upsert import NEW, upsert
from sync.outbound import TOPIC, PlannedPush, channel_blockers, enqueue
from sync.sellable import ChannelPolicy, compute, load_inputs, others_locked

log = structlog.get_logger("erpsync.drift")


@dataclass(frozen=True)
class Drift:
    channel: str
    sku: str
    channel_sku: str
    expected: int  # what erpsync last pushed, in the channel's units
    actual: int | None  # None: the channel does not list it

    @property
    def difference(self) -> int:
        return (self.actual or 0) - self.expected


@dataclass
class DriftReport:
    """The differences found, and how many listed SKUs were compared or skipped (and why)."""

    drifts: list[Drift] = field(default_factory=list)
    compared: int = 0
    in_flight: int = 0  # a push still queued or being delivered: the channel is about to change
    never_pushed: int = 0
    unbound: int = 0  # a channel with ``skus: bound`` that has no binding for the SKU

    def __iadd__(self, other: DriftReport) -> DriftReport:
        self.drifts += other.drifts
        self.compared += other.compared
        self.in_flight += other.in_flight
        self.never_pushed += other.never_pushed
        self.unbound += other.unbound
        return self


@dataclass(frozen=True)
class _Listed:
    sku: str
    last_pushed: int | None
    version: int


def _listed(engine: Engine, channel: str, batch: int) -> Iterator[list[_Listed]]:
    after = ""
    while True:
        with engine.connect() as conn:
            rows = [
                _Listed(sku, pushed, version)
                for sku, pushed, version in conn.execute(
                    select(ChannelListing.sku, ChannelListing.last_pushed_qty, ChannelListing.push_version)
                    .where(ChannelListing.channel == channel, ChannelListing.sku > after)
                    .order_by(ChannelListing.sku)
                    .limit(batch)
                )
            ]
        if not rows:
            return
        yield rows
        after = rows[-1].sku


def _in_flight(conn: Connection, channel: str, listed: Sequence[_Listed]) -> set[str]:
    """SKUs whose newest queued version is not delivered (nor failed) yet: one query."""
    keys = {f"{TOPIC}:{channel}:{row.sku}:{row.version}": row.sku for row in listed if row.version > 0}
    if not keys:
        return set()
    waiting = conn.execute(
        select(Outbox.key).where(
            Outbox.key.in_(keys), Outbox.delivered_at.is_(None), Outbox.failed_at.is_(None)
        )
    ).scalars()
    return {keys[key] for key in waiting}


def check_drift(
    engine: Engine,
    policies: Sequence[ChannelPolicy],
    channel: StockChannel,
    *,
    tolerance: int = 0,
    correct: bool = False,
    batch: int = 100,
) -> DriftReport:
    """Differences between what ``channel`` shows and what was last pushed (queued again if ``correct``)."""
    policy = next(p for p in policies if p.channel == channel.name)
    waiting_for = channel_blockers(engine, policy) if correct else {}
    if waiting_for:  # differences are still reported
        log.info("drift corrections not queued", channel=channel.name, why="; ".join(waiting_for.values()))
        correct = False
    report = DriftReport()
    for listed in _listed(engine, channel.name, batch):
        with engine.connect() as conn:
            waiting = _in_flight(conn, channel.name, listed)
            pushed = {row.sku: row.last_pushed for row in listed if row.sku not in waiting}
            compared = {sku: qty for sku, qty in pushed.items() if qty is not None}
            report.never_pushed += len(pushed) - len(compared)
            if policy.bound:  # its SKUs are known to the channel only through their bindings
                bound = bound_skus(conn, channel.name, compared)
                report.unbound += len(compared) - len(bound)
                compared = {sku: qty for sku, qty in compared.items() if sku in bound}
            external = reverse_bindings(conn, channel.name, sorted(compared))
        report.in_flight += len(waiting)
        report.compared += len(compared)
        if not compared:
            continue
        actual = channel.read_stock([external[s][0] for s in compared])
        drifts = []
        for sku, qty in compared.items():
            drift = Drift(channel.name, sku, external[sku][0], qty, actual.get(external[sku][0]))
            if drift.actual is None or abs(drift.difference) > tolerance:
                drifts.append(drift)
        _remember_seen(
            engine, channel.name, {s: actual[external[s][0]] for s in compared if external[s][0] in actual}
        )
        if correct and drifts:
            _correct(engine, policies, policy, [d.sku for d in drifts])
        report.drifts += drifts
    return report


def _correct(
    engine: Engine, policies: Sequence[ChannelPolicy], policy: ChannelPolicy, skus: list[str]
) -> None:
    """Queue what the channel should show now for ``skus``."""
    with engine.connect() as conn:
        inputs = load_inputs(conn, skus, policy.sources)
    sellables = [compute(policy, s, inputs[s], others_locked(policies, policy.channel, s)) for s in skus]
    enqueue(engine, [PlannedPush(sellable, None) for sellable in sellables])


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
