"""Held orders released by a person: by hold reason and channel, in batches, each release audited."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from routing.process import OrderSettings, process_orders
from routing.release import reason_start, release_held
from store.models import AuditLog, SalesOrder
from tests.routing.test_held_orders import import_orders, order, wh

__all__ = ["wh"]  # the fixture, used by name


def on_hold(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(SalesOrder.status == "on_hold")).scalar_one())


def test_release_held_goes_batch_by_batch_and_audits_every_order(store_engine: Engine, wh: int) -> None:
    import_orders(store_engine, *(order(f"u{n}", [("TEA", 1, "10")], status="unpaid") for n in range(5)))
    import_orders(store_engine, order("p1", [("POT", 1, "10")]))  # held for an unknown SKU
    assert process_orders(store_engine, OrderSettings()).held == 6

    released = release_held(store_engine, note="paid", actor="ops", code="awaiting_payment", batch=2)
    assert released == 5
    assert on_hold(store_engine) == 1
    with store_engine.connect() as conn:
        targets = conn.execute(select(AuditLog.target).where(AuditLog.action == "release_hold")).scalars()
        assert sorted(targets) == [f"shop/u{n}" for n in range(5)]
    assert release_held(store_engine, note="paid", actor="ops", code="awaiting_payment") == 0


def test_an_unknown_hold_code_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="awaiting_payment, incomplete_address, unknown_sku"):
        reason_start("unpaid")
    assert reason_start("no_stock") == "no_stock:"
