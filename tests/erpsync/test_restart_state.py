"""A restart in the middle of a planner or evaluator pass neither repeats nor skips work.

Each pass of a "restarted" process is a fresh object: it knows only what the database tells it
(``store.task_state``). The stop is a ``BaseException`` raised where a killed process would
vanish: between two committed enqueue batches of a plan, inside an evaluation's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

import alerts.evaluate as evaluate_module
import erpsync.planning as planning
import sync.outbound as outbound
from alerts.evaluate import AlertSettings
from alerts.notify import TOPIC as ALERT_TOPIC
from alerts.notify import AlertPolicy, RouteRule
from alerts.shortage import Rule
from config import load_config_text
from erpsync.alerting import AlertEvaluator
from erpsync.planning import ChannelPlanner
from erpsync.runner import Runner
from store import stock
from store.locations import LocationSpec, apply_locations
from store.models import Alert, Outbox
from store.task_state import Checkpoint, last_runs
from sync.sellable import ChannelPolicy
from tests.erpsync.test_wiring import CONFIG

SHOP = [ChannelPolicy("shop", ("WH",))]
SETTINGS = AlertSettings(
    policy=AlertPolicy(routes=(RouteRule(("ops",)),)), rules=(Rule(warning=10, critical=3),)
)


class Killed(BaseException):
    """The process ends here."""


@pytest.fixture
def wh(store_engine: Engine) -> int:
    return apply_locations(store_engine, [LocationSpec("WH", "Warehouse", "warehouse")])["WH"]


def set_levels(engine: Engine, wh: int, levels: dict[str, int]) -> None:
    with engine.begin() as conn:
        for sku, qty in levels.items():
            current = conn.execute(
                select(stock.StockLevel.on_hand).where(
                    stock.StockLevel.sku == sku, stock.StockLevel.location_id == wh
                )
            ).scalar()
            stock.adjust(conn, sku, wh, qty - (current or 0), ref="count")


def queued(engine: Engine, topic: str) -> list[tuple[str, dict[str, Any]]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Outbox.key, Outbox.payload).where(Outbox.topic == topic).order_by(Outbox.id)
        )
        return [(key, payload) for key, payload in rows.tuples()]


def checkpoint_of(engine: Engine, checkpoint: Checkpoint) -> datetime | None:
    with engine.connect() as conn:
        return checkpoint.covered(conn)


def spy_since(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[datetime | None]:
    """Record the ``since`` each call of ``module.name`` gets (the changes the pass looks at)."""
    seen: list[datetime | None] = []
    real: Callable[..., Any] = getattr(module, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["since"] if "since" in kwargs else args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return seen


def test_a_plan_stopped_half_way_is_finished_by_the_next_process_without_repeats_or_gaps(
    store_engine: Engine, wh: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_levels(store_engine, wh, dict.fromkeys("ABCDEF", 10))
    first = ChannelPlanner(store_engine, SHOP, "shop", "worker-1")
    assert first() == 6
    planned_up_to = checkpoint_of(store_engine, first.checkpoint)
    assert planned_up_to is not None

    set_levels(store_engine, wh, {"B": 4, "D": 5, "F": 6})
    real_enqueue = outbound.enqueue

    def dies_after_the_first(engine: Engine, planned: list[Any]) -> int:
        real_enqueue(engine, planned[:1])  # one batch committed, then the process is gone
        raise Killed

    monkeypatch.setattr(outbound, "enqueue", dies_after_the_first)
    with pytest.raises(Killed):
        ChannelPlanner(store_engine, SHOP, "shop", "worker-2")()
    monkeypatch.setattr(outbound, "enqueue", real_enqueue)
    assert checkpoint_of(store_engine, first.checkpoint) == planned_up_to  # not moved: D and F not covered

    since = spy_since(monkeypatch, planning, "plan_and_enqueue")
    restarted = ChannelPlanner(store_engine, SHOP, "shop", "worker-3")
    assert restarted() == 2  # D and F; B was queued before the stop
    # the changes after the last complete plan (and a minute before it), not everything
    assert since == [planned_up_to - planning.OVERLAP]
    assert restarted() == 0

    messages = queued(store_engine, outbound.TOPIC)
    keys = [key for key, _ in messages]
    assert len(keys) == len(set(keys)) == 9  # six first pushes, one each for B, D and F
    latest = {payload["sku"]: payload["qty"] for _, payload in messages}
    assert latest == {"A": 10, "B": 4, "C": 10, "D": 5, "E": 10, "F": 6}


def test_an_evaluation_stopped_mid_pass_is_done_once_by_the_next_process(
    store_engine: Engine, wh: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_levels(store_engine, wh, {"TEA": 30, "CUP": 30, "POT": 30})
    first = AlertEvaluator(store_engine, SETTINGS)
    assert first.changed() == 0
    evaluated_up_to = checkpoint_of(store_engine, first.checkpoint)
    assert evaluated_up_to is not None

    set_levels(store_engine, wh, {"TEA": 5, "CUP": 4})
    real_apply = evaluate_module.apply_findings

    def dies_after_applying(*args: Any, **kwargs: Any) -> Any:
        real_apply(*args, **kwargs)  # alerts opened and messages queued, not committed
        raise Killed

    monkeypatch.setattr(evaluate_module, "apply_findings", dies_after_applying)
    with pytest.raises(Killed):
        AlertEvaluator(store_engine, SETTINGS).changed()
    monkeypatch.setattr(evaluate_module, "apply_findings", real_apply)
    assert checkpoint_of(store_engine, first.checkpoint) == evaluated_up_to

    set_levels(store_engine, wh, {"POT": 2})
    since = spy_since(monkeypatch, evaluate_module, "_positions")
    restarted = AlertEvaluator(store_engine, SETTINGS)
    assert restarted.changed() == 3
    assert since == [evaluated_up_to - evaluate_module.OVERLAP]
    assert AlertEvaluator(store_engine, SETTINGS).changed() == 0

    with store_engine.connect() as conn:
        alerts = conn.execute(select(Alert.sku, Alert.severity).order_by(Alert.sku)).tuples().all()
        opened = conn.execute(select(func.count()).select_from(Alert)).scalar_one()
    assert alerts == [("CUP", "warning"), ("POT", "critical"), ("TEA", "warning")]
    assert opened == 3
    keys = [key for key, _ in queued(store_engine, ALERT_TOPIC)]
    assert len(keys) == len(set(keys)) == 3  # one message per alert, none twice, none missing


def test_a_restarted_service_plans_on_from_the_database_until_its_config_changes(
    store_engine: Engine, wh: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_levels(store_engine, wh, {"A": 10, "B": 10})
    cfg = load_config_text(CONFIG)
    Runner(store_engine, cfg).run_task("plan:shop")
    assert {p["sku"] for _, p in queued(store_engine, outbound.TOPIC)} == {"A", "B"}
    assert "plan:shop" in last_runs(store_engine, ["plan:shop"])

    set_levels(store_engine, wh, {"B": 20})
    since = spy_since(monkeypatch, planning, "plan_and_enqueue")
    Runner(store_engine, load_config_text(CONFIG)).run_task("plan:shop")  # the same file, read again
    assert since[-1] is not None  # went on from the last plan

    changed = load_config_text(CONFIG.replace("percent: 80", "percent: 50"))
    Runner(store_engine, changed).run_task("plan:shop")
    assert since[-1] is None  # other rules: everything is planned again
    latest = {p["sku"]: p["qty"] for _, p in queued(store_engine, outbound.TOPIC)}
    assert latest == {"A": 4, "B": 9}  # 10 and 20 at 50 % less a buffer of 1 (A was capped at 5)


def test_a_pass_under_other_rules_starts_from_scratch(store_engine: Engine, wh: int) -> None:
    set_levels(store_engine, wh, {"TEA": 30})
    AlertEvaluator(store_engine, SETTINGS).changed()
    stricter = AlertSettings(policy=SETTINGS.policy, rules=(Rule(warning=40),))
    # TEA's level did not change, but it is short under the new rule: a pass covering only
    # changes would never see it
    assert AlertEvaluator(store_engine, stricter).changed() == 1


def test_a_change_committed_after_a_plan_read_but_stamped_before_it_is_still_planned(
    store_engine: Engine, wh: int
) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    set_levels(store_engine, wh, {"A": 10, "B": 10})
    planner = ChannelPlanner(store_engine, SHOP, "shop", "me")
    planner()
    reached = checkpoint_of(store_engine, planner.checkpoint)
    assert reached is not None
    # a stock transaction that stamped its row before that plan started, but committed after it
    # had read the changes: the row's updated_at lies before the checkpoint
    set_levels(store_engine, wh, {"B": 3})
    with store_engine.begin() as conn:
        conn.execute(
            update(stock.StockLevel)
            .where(stock.StockLevel.sku == "B")
            .values(updated_at=reached - timedelta(seconds=5))
        )
    ChannelPlanner(store_engine, SHOP, "shop", "me")()
    latest = {p["sku"]: p["qty"] for _, p in queued(store_engine, outbound.TOPIC)}
    assert latest["B"] == 3
    assert len(queued(store_engine, outbound.TOPIC)) == 3  # A was not queued again
