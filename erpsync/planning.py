"""A channel's stock planning as the service runs it: what changed since the last plan, queued.

:class:`ChannelPlanner` plans one channel under its lease (``sync.lease``, stream ``stock_plan``):
every SKU the first time, then the SKUs that changed since the previous plan
(``sync.outbound.plan_and_enqueue``). Where the previous plan got to is kept in the database
(``store.task_state``, row ``plan:<channel>``), not in memory, so a restarted service or another
worker goes on from there:

- a plan reads the changes since the checkpoint, and records the time it started as the new
  checkpoint only once every change it planned is queued. A plan stopped half-way leaves the
  checkpoint where it was: the next one looks at those changes again, finds the ones already
  queued equal to what it would queue (``channel_listing.planned_qty``) and queues only the rest;
- a checkpoint reached under another configuration (rules, sources, locations may have changed)
  covers nothing: the next plan is a full one;
- changes are read from a minute before the checkpoint (:data:`OVERLAP`): a stock transaction
  stamps its rows when it writes them but may commit after a plan that started later has read,
  and would otherwise wait for the SKU's next change. Looking again costs nothing: what is
  already queued is not queued twice;
- while the channel is blocked (no stock report yet from a source, a held snapshot) nothing is
  planned, and the first plan after it is a full one: what changed meanwhile was never planned.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Engine

from core.clock import utcnow
from store.task_state import Checkpoint, fingerprint
from sync import lease as leases
from sync.outbound import channel_blockers, plan_and_enqueue
from sync.sellable import ChannelPolicy

#: how far before its checkpoint a plan looks again (longer than any stock transaction runs)
OVERLAP = timedelta(minutes=1)


class ChannelPlanner:
    """Plans one channel: everything the first time, then what changed since the last plan.

    ``config``: the fingerprint of the configuration the policies come from (locations and their
    safety stock play a part too); the policies themselves are part of the fingerprint anyway.
    """

    def __init__(
        self, engine: Engine, policies: Sequence[ChannelPolicy], channel: str, owner: str, *, config: str = ""
    ) -> None:
        self.engine, self.policies, self.channel, self.owner = engine, policies, channel, owner
        self.checkpoint = Checkpoint(f"plan:{channel}", fingerprint(tuple(policies), config))

    def __call__(self) -> int:
        lease = leases.acquire(self.engine, self.channel, "stock_plan", self.owner, timedelta(minutes=5))
        if lease is None:
            return 0  # another worker plans this channel right now
        started = utcnow()
        policy = next(p for p in self.policies if p.channel == self.channel)
        try:
            with self.engine.connect() as conn:
                covered = self.checkpoint.covered(conn)
            since = covered - OVERLAP if covered is not None else None
            blocked = bool(channel_blockers(self.engine, policy))
            # a blocked channel plans nothing (the planner logs why)
            queued = plan_and_enqueue(self.engine, self.policies, self.channel, since=since)
            # blocked before or while planning (a snapshot held meanwhile): plan everything next time
            reached = None if blocked or channel_blockers(self.engine, policy) else started
            with self.engine.begin() as conn:
                self.checkpoint.save(conn, reached)
        finally:
            leases.release(self.engine, lease)
        return queued
