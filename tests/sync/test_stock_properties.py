"""Property-based tests of stock: the ledger, reservations, readings, the sellable rule and the plan.

- Random sequences of snapshots (some held by the shrink guard, some accepted), delta moves (new
  and repeated ids), allocations, cancellations, shipments, returns and adjustments leave every
  level equal to the sum of its ledger rows and to a reference model
  (``tests.sync.stock_model.Book``); a reservation succeeds exactly when the model has the free
  units; a snapshot is held exactly when the model says so, with one hold and one open alert.
- The sellable quantity is never negative, never above the rule's ``max``, and never above the
  pool after open orders and other channels' locks (plus the rule's ``plus``).
- Planning twice with nothing changed queues nothing; after a change it plans exactly the SKUs
  whose quantity changed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, select

from store import stock
from store.locations import LocationSpec, apply_locations
from store.models import Alert, Outbox, SnapshotHold, StockMovement
from sync.engine import StreamJob, run_stream
from sync.outbound import plan, plan_and_enqueue
from sync.sellable import ChannelPolicy, Inputs, LevelRow, Rule, compute, others_locked
from tests.sync.fakes import plain_mapper
from tests.sync.stock_model import (
    Book,
    Feed,
    Key,
    Move,
    allocation_states,
    ledger_replay,
    migrated_sqlite,
    move,
    order_line,
    queued,
    reading,
    stored_levels,
    table_size,
    wipe,
)

SKUS = ("TEA", "CUP", "POT")
#: WH takes on-hand from the ERP's snapshots only; erpsync keeps the books of DS and RT
SPECS = (
    LocationSpec("WH", "Factory", "warehouse", safety_stock=1, stock_source="erp"),
    LocationSpec("DS", "Distributor", "distributor", parent="WH"),
    LocationSpec("RT", "Shop", "retail", parent="DS", safety_stock=2),
)
CODES = tuple(s.code for s in SPECS)
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
ECHO = None  # a snapshot reading equal to what the store holds now
#: every example of the state machine writes to the database; shrinking one takes minutes
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)

skus = st.sampled_from(SKUS)
codes = st.sampled_from(CODES)
keys = st.tuples(skus, codes)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = migrated_sqlite(tmp_path_factory.mktemp("props"))
    yield engine
    engine.dispose()


class StockMachine(RuleBasedStateMachine):
    """Drives the store and the ``Book`` with the same operations; they must never disagree."""

    engine: Engine

    def __init__(self) -> None:
        super().__init__()
        wipe(self.engine)
        self.ids = apply_locations(self.engine, SPECS)
        self.book = Book({s.code: s.safety_stock for s in SPECS}, {s.code: s.stock_source for s in SPECS})
        self.feeds = {"erp": Feed("erp"), "wms": Feed("wms")}
        self.now = T0
        self.sent: dict[str, list[Move]] = {"erp": [], "wms": []}  # every move sent, for repeats

    def tick(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now

    def land(
        self,
        connector: str,
        stream: str,
        rows: list[dict[str, Any]],
        max_shrink: float = 0.2,
        accept: bool = False,
    ) -> str:
        self.feeds[connector].rows[stream] = rows
        job = StreamJob(self.feeds[connector], stream, plain_mapper(stream), max_shrink=max_shrink)
        return run_stream(self.engine, job, full=True, accept_shrink=accept).status

    @initialize(
        wh=st.dictionaries(skus, st.integers(0, 12)),
        counted=st.dictionaries(st.tuples(skus, st.sampled_from(("DS", "RT"))), st.integers(0, 12)),
    )
    def opening_stock(self, wh: dict[str, int], counted: dict[Key, int]) -> None:
        """WH as the ERP lists it; DS and RT as counted by hand."""
        self.erp_snapshot(dict(wh), lag=0, max_shrink=0.2, accept=False)
        for key, qty in counted.items():
            self.count_or_return(key, qty, is_return=False)

    @rule(
        readings=st.dictionaries(skus, st.one_of(st.just(ECHO), st.just(0), st.integers(0, 12))),
        lag=st.integers(0, 3),
        max_shrink=st.sampled_from([0.0, 0.2, 0.5, 1.0]),
        accept=st.booleans(),
    )
    def erp_snapshot(
        self, readings: Mapping[str, int | None], lag: int, max_shrink: float, accept: bool
    ) -> None:
        """The ERP's complete stock list of WH, taken ``lag`` minutes ago (maybe empty, maybe accepted)."""
        as_of = self.tick() - timedelta(minutes=lag)
        held = self.book.levels()
        values = {sku: held.get((sku, "WH"), (0, 0))[0] if v is ECHO else v for sku, v in readings.items()}
        self.erp_reads(values, as_of, max_shrink=max_shrink, accept=accept)

    def erp_reads(
        self, values: Mapping[str, int], as_of: datetime, *, max_shrink: float = 0.2, accept: bool = False
    ) -> bool:
        """Land the ERP's snapshot in the store and the book; True when the guard held it."""
        rows = [reading(sku, "WH", v, as_of) for sku, v in values.items()]
        status = self.land("erp", "stock", rows, max_shrink, accept)
        held = self.book.snapshot(
            "erp", {(sku, "WH"): v for sku, v in values.items()}, as_of, max_shrink=max_shrink, accept=accept
        )
        assert status == ("held" if held else "ok"), f"the shrink guard disagrees with the model: {status}"
        return held

    def reserved_at_wh(self) -> list[int]:
        return sorted(i for i, h in self.book.held.items() if h.status == "reserved" and h.key[1] == "WH")

    @precondition(lambda self: self.reserved_at_wh())
    @rule(n=st.integers(0, 1000), lag=st.integers(-2, 2))
    def ship_from_wh_then_erp_reads(self, n: int, lag: int) -> None:
        """The ERP lists WH without the shipped units, in a reading taken ``lag`` minutes after it."""
        allocation = self.reserved_at_wh()[n % len(self.reserved_at_wh())]
        at = self.tick()
        with self.engine.begin() as conn:
            stock.ship_allocation(conn, allocation, shipped_at=at)
        self.book.ship(allocation, at)
        shipped = self.book.held[allocation]
        values = {sku: r.on_hand for (sku, code), r in self.book.rows.items() if code == "WH"}
        values[shipped.key[0]] -= shipped.qty
        self.tick()
        held = self.erp_reads(values, at + timedelta(minutes=lag))
        # a reading at or after the shipment settles it — a zero one only once the snapshot applies
        applied = values[shipped.key[0]] != 0 or not held
        with self.engine.connect() as conn:
            assert allocation_states(conn)[allocation] == ("consumed" if lag >= 0 and applied else "shipped")

    @rule(
        who=st.sampled_from(["erp", "wms"]),
        new=st.lists(st.tuples(keys, st.integers(-2, 8)), max_size=3),
        repeats=st.lists(st.integers(0, 1000), max_size=3),
        twice=st.booleans(),
    )
    def moves(self, who: str, new: list[tuple[Key, int]], repeats: list[int], twice: bool) -> None:
        """Delta moves: new ids, ids sent before, and a new id twice in one read."""
        self.tick()
        sent = self.sent[who]
        fresh = [(f"m{len(sent) + n}", key, delta) for n, (key, delta) in enumerate(new)]
        again = [sent[i % len(sent)] for i in repeats] if sent else []
        batch = again + fresh + (fresh[:1] if twice else [])
        sent += fresh
        before = table_size(self.engine, StockMovement)
        self.land(who, "stock_moves", [move(*m) for m in batch])
        applied = self.book.moves(who, batch)
        assert table_size(self.engine, StockMovement) == before + applied  # a repeated move id adds nothing

    @rule(key=keys, qty=st.integers(1, 3))
    def allocate(self, key: Key, qty: int) -> None:
        self.tick()
        expected = self.book.can_reserve(key, qty)
        with self.engine.begin() as conn:
            line = order_line(conn, key[0], qty)
            allocation = stock.allocate(conn, line, key[0], self.ids[key[1]], qty)
        assert (allocation is not None) == expected, f"free stock at {key} disagrees with the model"
        if allocation is not None:
            self.book.reserve(allocation, key, qty)

    def pick(self, n: int, live: bool) -> int:
        """An allocation still reserved (when ``live`` and there is one), else any allocation."""
        reserved = sorted(i for i, h in self.book.held.items() if h.status == "reserved")
        pool = reserved if live and reserved else sorted(self.book.held)
        return pool[n % len(pool)]

    @precondition(lambda self: self.book.held)
    @rule(ship=st.booleans(), n=st.integers(0, 1000), live=st.booleans())
    def close_allocation(self, ship: bool, n: int, live: bool) -> None:
        """Ship or cancel an allocation (one already closed: nothing changes)."""
        at = self.tick()
        allocation = self.pick(n, live)
        with self.engine.begin() as conn:
            if ship:
                stock.ship_allocation(conn, allocation, shipped_at=at)
            else:
                stock.cancel_allocation(conn, allocation)
        if ship:
            self.book.ship(allocation, at)
        else:
            self.book.cancel(allocation)

    @rule(key=keys, delta=st.integers(-3, 8), is_return=st.booleans())
    def count_or_return(self, key: Key, delta: int, is_return: bool) -> None:
        """A customer return (``abs(delta) + 1`` units) or a manual adjustment."""
        self.tick()
        sku, location_id = key[0], self.ids[key[1]]
        if is_return:
            delta = abs(delta) + 1
        with self.engine.begin() as conn:
            if is_return:
                stock.receive_return(conn, sku, location_id, delta, ref_type="return", ref="r")
            else:
                stock.adjust(conn, sku, location_id, delta, ref="count")
        self.book.change(key, delta)

    @invariant()
    def store_matches_book_and_ledger(self) -> None:
        with self.engine.connect() as conn:
            levels = stored_levels(conn)
            derived, wrong = ledger_replay(conn)
            states = allocation_states(conn)
            holds = set(conn.execute(select(SnapshotHold.connector)).scalars())
            alerts = conn.execute(
                select(Alert.open_key).where(Alert.kind == "snapshot_held", Alert.state == "open")
            ).scalars()
            assert sorted(alerts) == [f"snapshot_held:{c}/stock" for c in sorted(self.book.holds)]
        assert holds == self.book.holds
        assert {k: derived.get(k, (0, 0)) for k in levels} == levels  # the ledger re-derives each level
        assert set(derived) <= set(levels)
        assert not wrong, f"ledger rows whose *_after is not the running sum: {wrong}"
        assert all(reserved >= 0 for _, reserved in levels.values())
        assert levels == self.book.levels()
        assert states == {i: h.status for i, h in self.book.held.items()}


def test_ledger_rederives_levels_and_reservations_never_oversell(engine: Engine) -> None:
    StockMachine.engine = engine
    run_state_machine_as_test(
        StockMachine,
        settings=settings(max_examples=60, stateful_step_count=25, deadline=None, phases=NO_SHRINK),
    )


@pytest.mark.parametrize("confirmed", [2, 3], ids=["snapshot-changed-it", "snapshot-confirmed-it"])
def test_a_row_the_snapshot_listed_goes_to_zero_once_a_complete_snapshot_omits_it(
    engine: Engine, confirmed: int
) -> None:
    """The row WH holds after a return is listed by the ERP, then no longer: the ERP says it is gone."""
    wipe(engine)
    wh = apply_locations(engine, SPECS)["WH"]
    with engine.begin() as conn:
        stock.receive_return(conn, "TEA", wh, 3, ref_type="return", ref="r1")
    erp = Feed("erp")
    # one of two rows: a shrink of a half, allowed here
    job = StreamJob(erp, "stock", plain_mapper("stock"), max_shrink=0.5)
    erp.rows["stock"] = [reading("TEA", "WH", confirmed, T0), reading("CUP", "WH", 4, T0)]
    run_stream(engine, job, full=True)
    erp.rows["stock"] = [reading("CUP", "WH", 4, T0 + timedelta(minutes=5))]
    run_stream(engine, job, full=True)
    with engine.connect() as conn:
        levels = stored_levels(conn)
        derived, _ = ledger_replay(conn)
    assert levels[("TEA", "WH")] == (0, 0)
    assert derived == levels


# --- the sellable rule (pure) ---

rules = st.builds(
    Rule,
    percent=st.integers(0, 100),
    buffer=st.integers(0, 20),
    plus=st.integers(0, 20),
    min=st.integers(0, 30),
    max=st.none() | st.integers(0, 60),
    zero_below=st.integers(0, 20),
)
level_rows = st.builds(
    LevelRow, codes | st.just("FAR"), st.integers(-5, 60), st.integers(0, 30), st.integers(0, 5)
)
inputs = st.builds(Inputs, st.lists(level_rows, max_size=4).map(tuple), st.none(), st.integers(0, 40))
sources = st.lists(codes, min_size=1, max_size=3, unique=True).map(tuple)


def pool_after_locks(policy: ChannelPolicy, given_inputs: Inputs, locked: int) -> int:
    available = sum(
        max(0, lv.on_hand - lv.reserved - lv.safety_stock)
        for lv in given_inputs.levels
        if lv.location in policy.sources
    )
    return max(0, max(0, available - given_inputs.pending) - locked)


@settings(max_examples=1500, deadline=None)
@given(rule_=rules, src=sources, given_inputs=inputs, locked=st.integers(0, 40))
def test_sellable_is_never_negative_nor_above_its_caps(
    rule_: Rule, src: tuple[str, ...], given_inputs: Inputs, locked: int
) -> None:
    policy = ChannelPolicy("shop", src, rule_)
    result = compute(policy, "TEA", given_inputs, locked)
    pool = pool_after_locks(policy, given_inputs, locked)
    assert result.steps[-1].value == result.qty
    assert result.qty >= 0
    if rule_.max is not None:
        assert result.qty <= rule_.max
    assert result.qty <= pool + rule_.plus  # `plus` is the only thing added on top of the pool
    if rule_.plus == 0:
        assert result.qty <= pool
    if rule_.max is None or rule_.max >= rule_.min:
        assert result.qty >= min(rule_.min, pool)  # `min`: at least this many while the pool has them
    if rule_.min == 0 and (rule_.max is None or rule_.max >= rule_.zero_below):
        assert result.qty == 0 or result.qty >= rule_.zero_below


@settings(max_examples=800, deadline=None)
@given(rule_=rules, src=sources, given_inputs=inputs, locked=st.integers(0, 40), more=st.integers(1, 20))
def test_sellable_never_falls_when_stock_rises_nor_rises_when_demand_does(
    rule_: Rule, src: tuple[str, ...], given_inputs: Inputs, locked: int, more: int
) -> None:
    policy = ChannelPolicy("shop", src, rule_)
    base = compute(policy, "TEA", given_inputs, locked).qty
    restocked = Inputs((*given_inputs.levels, LevelRow(src[0], more, 0, 0)), None, given_inputs.pending)
    busier = Inputs(given_inputs.levels, None, given_inputs.pending + more)
    assert compute(policy, "TEA", restocked, locked).qty >= base
    assert compute(policy, "TEA", busier, locked).qty <= base
    assert compute(policy, "TEA", given_inputs, locked + more).qty <= base


# --- planning what to push ---

Adjust = tuple[Key, int]
Demand = tuple[str, int]  # an open order not allocated yet: (sku, units)
adjusts = st.lists(st.tuples(keys, st.integers(-6, 8)), max_size=6)
demands = st.lists(st.tuples(skus, st.integers(1, 5)), max_size=2)


class Shop:
    """The store, the model and the open demand behind the ``shop`` channel's plan."""

    def __init__(self, engine: Engine, policies: list[ChannelPolicy]) -> None:
        wipe(engine)
        self.engine, self.policies = engine, policies
        self.ids = apply_locations(engine, SPECS)
        self.book = Book({s.code: s.safety_stock for s in SPECS}, {s.code: s.stock_source for s in SPECS})
        self.pending: dict[str, int] = {}
        # every SKU starts listed (0 at every location), so "changed" always has a before
        self.change([((sku, code), 0) for sku in SKUS for code in CODES], [])
        # and the ERP has reported WH once (an empty list): no location waits for a first report
        erp = Feed("erp")
        assert run_stream(engine, StreamJob(erp, "stock", plain_mapper("stock"))).status == "ok"

    def change(self, todo: list[Adjust], orders: list[Demand]) -> None:
        with self.engine.begin() as conn:
            for (sku, code), delta in todo:
                stock.adjust(conn, sku, self.ids[code], delta, ref="count")
                self.book.change((sku, code), delta)
            for sku, qty in orders:
                order_line(conn, sku, qty, status="received")
                self.pending[sku] = self.pending.get(sku, 0) + qty

    def expected(self) -> dict[str, int]:
        """What the shop should show of each SKU, from the model's levels at its sources."""
        shop, out = self.policies[0], {}
        for sku in SKUS:
            rows = tuple(
                LevelRow(code, r.on_hand, r.reserved, self.book.safety[code])
                for (s, code), r in sorted(self.book.rows.items())
                if s == sku and code in shop.sources
            )
            inputs = Inputs(rows, None, self.pending.get(sku, 0))
            out[sku] = compute(shop, sku, inputs, others_locked(self.policies, "shop", sku)).qty
        return out


@settings(max_examples=40, deadline=None)
@given(
    rule_=rules,
    src=sources,
    lock=st.dictionaries(skus, st.integers(1, 10), max_size=2),
    first=st.tuples(adjusts, demands),
    second=st.tuples(adjusts, demands),
    incremental=st.booleans(),
)
def test_nothing_changed_nothing_queued_and_a_change_plans_exactly_what_moved(
    engine: Engine,
    rule_: Rule,
    src: tuple[str, ...],
    lock: dict[str, int],
    first: tuple[list[Adjust], list[Demand]],
    second: tuple[list[Adjust], list[Demand]],
    incremental: bool,
) -> None:
    policies = [ChannelPolicy("shop", src, rule_), ChannelPolicy("mall", ("WH",), locks=lock)]
    shop = Shop(engine, policies)
    shop.change(*first)

    queued_count = plan_and_enqueue(engine, policies, "shop")
    before = shop.expected()
    assert queued(engine, "shop") == before
    assert table_size(engine, Outbox) == queued_count == len(before)

    assert list(plan(engine, policies, "shop")) == []  # nothing changed: nothing planned
    assert plan_and_enqueue(engine, policies, "shop") == 0
    assert table_size(engine, Outbox) == queued_count

    since = datetime.now(UTC)
    shop.change(*second)
    after = shop.expected()
    moved = {sku: qty for sku, qty in after.items() if before.get(sku) != qty}
    planned = list(plan(engine, policies, "shop", since=since if incremental else None))
    assert {p.sku: p.sellable.qty for p in planned} == moved
    assert all(p.previous == before.get(p.sku) for p in planned)

    assert plan_and_enqueue(engine, policies, "shop") == len(moved)
    assert table_size(engine, Outbox) == queued_count + len(moved)
    assert list(plan(engine, policies, "shop")) == []
