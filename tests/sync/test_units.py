"""Stock counted in a decimal unit (12.5 kg) lands as whole base units through the SKU's unit factor."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from connectors.base import Connector
from connectors.kingdee import KingdeeConnector
from connectors.odoo import OdooConnector
from connectors.tryton import TrytonConnector
from mapping.fieldmap import FieldMap
from mapping.pipeline import Mapper
from mapping.records import Product, StockLevel
from mapping.skus import Binder, SkuBinding
from store.bindings import save_bindings
from store.locations import LocationSpec, apply_locations
from store.models import Quarantine
from store.models import StockLevel as StockRow
from sync.engine import StreamJob, run_stream
from sync.mapper import StreamMapper
from sync.reconcile import PageContext, reconcile_products
from tests.sync.fakes import ListSource

# the ERP connectors' default stock mappings read quantities with the decimal converter
STOCK_MAP = {"sku": "sku", "location": {"const": "WH1"}, "on_hand": {"path": "qty", "convert": ["decimal"]}}


def test_fractional_on_hand_is_explained_then_lands_once_bound(store_engine: Engine) -> None:
    apply_locations(store_engine, [LocationSpec("WH1", "Factory", "warehouse")])
    with store_engine.begin() as conn:
        reconcile_products(conn, [Product(sku="FLOUR", name="Flour", uom="kg")], PageContext("erp", 1))
    rows = [
        {"id": "FLOUR", "updated": "2026-01-01T00:00:01", "sku": "FLOUR", "qty": "12.5"},
        {"id": "CUP", "updated": "2026-01-01T00:00:02", "sku": "CUP", "qty": "3.000"},
    ]
    mapper = StreamMapper("erp", Mapper(StockLevel, FieldMap.compile(STOCK_MAP, StockLevel)), ("id",))
    job = StreamJob(ListSource("erp", {"stock": rows}), "stock", mapper)

    first = run_stream(store_engine, job)
    assert (first.status, first.changed, first.quarantined) == ("ok", 1, 1)
    with store_engine.connect() as conn:
        q = conn.execute(select(Quarantine.reason_code, Quarantine.reason)).one()
    assert q.reason_code == "fractional_qty"
    assert q.reason.startswith("on_hand: 12.5 kg of SKU FLOUR is not a whole number of base units")
    assert "bind erp:FLOUR with a uom_factor" in q.reason

    with store_engine.begin() as conn:
        save_bindings(conn, [SkuBinding("erp", "FLOUR", "FLOUR", 1000)])
    again = run_stream(store_engine, job, full=True)
    assert (again.status, again.quarantined) == ("ok", 0)
    with store_engine.connect() as conn:
        levels = dict(conn.execute(select(StockRow.sku, StockRow.on_hand)).tuples().all())
        status = conn.execute(select(Quarantine.status)).scalar_one()
    assert levels == {"FLOUR": 12500, "CUP": 3}
    assert status == "resolved"


@pytest.mark.parametrize("kind", [TrytonConnector, OdooConnector, KingdeeConnector])
def test_erp_default_stock_mappings_pass_a_fraction_on_to_the_unit_factor(kind: type[Connector]) -> None:
    fieldmap = FieldMap.compile(kind.default_mappings["stock"], StockLevel)
    raw = {"sku": "FLOUR", "location": "WH1", "quantity": 12.5, "qty": 12.5}
    assert fieldmap.to_record(raw).on_hand == Decimal("12.5")
    bound = Binder("erp", {"FLOUR": SkuBinding("erp", "FLOUR", "FLOUR", 1000)}).apply(fieldmap.to_record(raw))
    assert bound.on_hand == 12500
