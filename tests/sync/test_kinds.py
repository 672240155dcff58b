"""Stream kinds: a stream is landed, guarded, capped, alerted on and planned by its kind, not its name.

A stream called ``inventory`` of kind ``stock`` goes through everything a ``stock`` stream does:
the shrink guard, the cursor cap, shortage evaluation after the run, and the push planner's "has
this source reported?" gate. Odoo's ``stock_snapshot`` stream is of kind stock, so it is guarded
too. A new kind is one entry in ``sync.kinds.KINDS``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import responses
from sqlalchemy import Connection, Engine, func, select

from alerts.evaluate import AlertSettings
from alerts.shortage import Rule
from config import load_config_text
from connectors.base import Connector, ConnectorSettings, Page, Stream
from connectors.filedrop import FileDropConnector, FileDropSettings
from connectors.tryton import TrytonConnector, TrytonSettings
from core.errors import ConfigError
from erpsync.alerting import AlertEvaluator
from erpsync.wiring import plan_streams
from mapping.fieldmap import FieldMap
from mapping.records import Listing, Record, Return
from store import stock
from store.locations import LocationSpec, apply_locations
from store.models import Alert, SnapshotHold, StockLevel, SyncCursor
from sync.engine import StreamJob, is_guarded_snapshot, run_stream
from sync.kinds import KINDS, StreamKind, kind_of
from sync.outbound import channel_blockers, plan_and_enqueue
from sync.reconcile import Outcome, PageContext
from sync.sellable import ChannelPolicy
from tests.connectors.kingdee.fake import connector as kingdee
from tests.connectors.odoo.fake import KEY, serve
from tests.connectors.odoo.fake import connector as odoo
from tests.sync.fakes import ListSource, plain_mapper

SHOP = [ChannelPolicy("shop", ("WH",))]
SHORT = AlertSettings(rules=(Rule(warning=5),))


class Levels(Connector):
    """One stream of kind stock, named as the test likes: a snapshot, or incremental on ``updated``."""

    kind = "levels"
    Settings = ConnectorSettings

    def __init__(self, stream: str, *, snapshot: bool) -> None:
        super().__init__("erp", ConnectorSettings())
        self.name_of_stream, self.snapshot = stream, snapshot
        self.rows: list[dict[str, Any]] = []

    @property
    def streams(self) -> Mapping[str, Stream]:
        cursor = None if self.snapshot else "updated"
        name = self.name_of_stream
        return {name: Stream(name, ("id",), cursor, snapshot=self.snapshot, kind="stock")}

    def fetch(self, stream: str, cursor: str | None) -> Iterator[Page]:
        for start in range(0, len(self.rows), 2):
            chunk = self.rows[start : start + 2]
            saved = None if self.snapshot else chunk[-1]["updated"]
            yield Page([dict(r) for r in chunk], cursor=saved, last=start + 2 >= len(self.rows))

    def check(self) -> None:
        return None


def level(sku: str, qty: int, updated: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {"id": sku, "updated": updated, "data": {"sku": sku, "location": "WH", "on_hand": qty}}


def levels(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(StockLevel.sku, StockLevel.on_hand)).tuples().all())


def count(engine: Engine, model: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


@pytest.fixture
def store(store_engine: Engine) -> Engine:
    apply_locations(store_engine, [LocationSpec("WH", "Factory", "warehouse", stock_source="erp")])
    return store_engine


@pytest.mark.parametrize("name", ["stock", "inventory"])
def test_a_snapshot_of_kind_stock_is_alerted_planned_and_guarded_whatever_its_name(
    store: Engine, name: str
) -> None:
    source = Levels(name, snapshot=True)
    job = StreamJob(source, name, plain_mapper("stock"))
    evaluator = AlertEvaluator(store, SHORT)
    source.rows = [level("TEA", 10), level("CUP", 9), level("JAR", 6), level("PEN", 3), level("BOX", 2)]

    first = run_stream(store, job)
    evaluator.after_run(job, first)

    assert (first.status, is_guarded_snapshot(job)) == ("ok", True)
    assert count(store, Alert, Alert.kind == "shortage", Alert.state == "open") == 2  # PEN and BOX
    assert plan_and_enqueue(store, SHOP, "shop") == 5  # the source has reported: planned at once

    source.rows = [level("TEA", 10)]  # four of five rows gone at once: an outage, not a sale
    held = run_stream(store, job)

    assert held.status == "held"
    assert levels(store) == {"TEA": 10, "CUP": 9, "JAR": 6, "PEN": 3, "BOX": 2}
    assert count(store, SnapshotHold, SnapshotHold.stream == name) == 1
    assert f"a snapshot of erp/{name} would zero 4 row(s)" in channel_blockers(store, SHOP[0])["WH"]
    assert plan_and_enqueue(store, SHOP, "shop") == 0


@pytest.mark.parametrize("name", ["stock", "inventory"])
def test_an_incremental_stream_of_kind_stock_has_its_cursor_capped_whatever_its_name(
    store: Engine, name: str
) -> None:
    source = Levels(name, snapshot=False)
    source.rows = [level("TEA", 10, "2026-01-01T00:00:00Z"), level("CUP", 4, "2099-01-01T00:00:00Z")]

    result = run_stream(store, StreamJob(source, name, plain_mapper("stock")))

    assert (result.status, result.capped) == ("ok", True)
    assert result.cursor is not None
    assert result.started_at is not None
    capped = datetime.fromisoformat(result.cursor)
    assert capped <= result.started_at + timedelta(minutes=5) < datetime(2099, 1, 1, tzinfo=UTC)
    assert count(store, Alert, Alert.kind == "cursor_ahead", Alert.state == "open") == 1
    assert levels(store) == {"TEA": 10, "CUP": 4}


def test_a_run_of_a_kind_that_does_not_change_stock_evaluates_no_shortage(store_engine: Engine) -> None:
    store = store_engine
    [wh] = apply_locations(store, [LocationSpec("WH", "Factory", "warehouse")]).values()
    with store.begin() as conn:
        stock.adjust(conn, "PEN", wh, 1, ref="test")  # short, but no stock run looked at it
    source = ListSource(
        "erp", {"products": [{"id": "PEN", "updated": "1", "data": {"sku": "PEN", "name": "Pen"}}]}
    )
    job = StreamJob(source, "products", plain_mapper("products"))

    AlertEvaluator(store, SHORT).after_run(job, run_stream(store, job))

    assert count(store, Alert) == 0


ODOO = f"""\
locations:
  - {{code: WH, name: Warehouse, kind: warehouse, stock_source: odoo}}
connectors:
  - name: odoo
    kind: odoo
    settings: {{url: "https://odoo.example.com", database: prod, username: bot@example.com,
               api_key: "{KEY}", page_size: 2, max_attempts: 1, locations: {{"WH/Stock": WH}}}}
    streams:
      stock_snapshot: {{every: 12h}}
"""


@responses.activate
def test_an_odoo_stock_snapshot_stream_is_held_by_the_shrink_guard(store_engine: Engine) -> None:
    apply_locations(store_engine, [LocationSpec("WH", "Warehouse", "warehouse", stock_source="odoo")])
    earlier = [level(f"SKU-{n}", 5) for n in range(1, 9)]
    assert (
        run_stream(
            store_engine, StreamJob(ListSource("odoo", {"stock": earlier}), "stock", plain_mapper("stock"))
        ).status
        == "ok"
    )
    [planned] = plan_streams(load_config_text(ODOO, "erpsync.yaml", {}))
    # the snapshot lists SKU-1 (8), SKU-2 (4) and SKU-3 (0): six of eight rows would be zeroed
    serve("authenticate", "quants_changed_page1", "quants_current_page1", "codes_page1")
    serve("quants_changed_page2", "quants_current_page2", "codes_page2")

    result = run_stream(store_engine, planned.job)

    assert (planned.job.stream, is_guarded_snapshot(planned.job)) == ("stock_snapshot", True)
    assert result.status == "held"
    assert result.error is not None
    assert "would zero 6 of the 8 row(s)" in result.error
    expected = {f"SKU-{n}": 5 for n in range(1, 9)} | {"SKU-1": 8, "SKU-2": 4}
    assert levels(store_engine) == expected
    assert count(store_engine, SnapshotHold, SnapshotHold.stream == "stock_snapshot") == 1


class Note(Record):
    """A record of a kind erpsync does not have: registered by the test alone."""

    note_id: str
    text: str

    @property
    def key(self) -> str:
        return self.note_id


def test_a_kind_registered_in_one_place_is_landed_by_the_engine(
    store_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    landed: list[tuple[str, int]] = []

    def reconcile_notes(conn: Connection, records: Sequence[Note], ctx: PageContext) -> Outcome:
        landed.extend((r.text, ctx.run_id) for r in records)
        return Outcome(changed=len(records))

    monkeypatch.setitem(KINDS, "notes", StreamKind("notes", Note, reconcile_notes))
    rows = [
        {"id": f"N{n}", "updated": f"t{n}", "data": {"note_id": f"N{n}", "text": f"note {n}"}}
        for n in (1, 2, 3)
    ]
    source = ListSource("crm", {"notes": rows}, size=2)

    result = run_stream(store_engine, StreamJob(source, "notes", plain_mapper("notes")))

    assert (result.status, result.pages, result.changed) == ("ok", 2, 3)
    assert [text for text, _ in landed] == ["note 1", "note 2", "note 3"]
    assert {run for _, run in landed} == {result.run_id}
    with store_engine.connect() as conn:
        assert conn.execute(select(SyncCursor.value).where(SyncCursor.stream == "notes")).scalar_one() == "t3"


def test_a_reserved_kind_is_refused_before_any_run_starts(store_engine: Engine) -> None:
    source = ListSource("shop", {"listings": []})

    with pytest.raises(ConfigError, match="is of kind 'listings', which erpsync does not land yet"):
        run_stream(store_engine, StreamJob(source, "listings", plain_mapper("listings")))

    assert count(store_engine, SyncCursor) == 0


def built_in_connectors() -> list[Connector]:
    tryton = {"url": "http://tryton.example:8000", "database": "prod", "username": "u", "password": "p"}
    drop = {"folder": "/nonexistent", "columns": {"code": "sku"}, "primary_key": ["sku"]}
    return [
        odoo(),
        kingdee(),
        TrytonConnector("tryton", TrytonSettings.model_validate(tryton)),
        FileDropConnector(
            "drop", FileDropSettings.model_validate(drop | {"stream": "levels", "kind": "stock"})
        ),
    ]


@pytest.mark.parametrize("connector", built_in_connectors(), ids=lambda c: c.kind)
def test_every_built_in_stream_is_of_a_known_kind_and_its_default_mapping_fits_it(
    connector: Connector,
) -> None:
    for name in connector.streams:
        kind = kind_of(connector, name)
        default = connector.default_mappings.get(name)
        if default is not None:
            FieldMap.compile(dict(default), kind.record)  # raises if the map does not fit the record
    assert all(name in connector.streams for name in connector.default_mappings)


def test_odoo_and_kingdee_declare_their_stock_streams_of_kind_stock() -> None:
    assert {name: s.kind for name, s in odoo().streams.items()} == {
        "products": "products",
        "stock": "stock",
        "stock_snapshot": "stock",
    }
    assert {name: s.kind for name, s in kingdee().streams.items()} == {
        "products": "products",
        "stock": "stock",
    }


def test_the_reserved_kinds_have_records_a_field_map_can_fill() -> None:
    listing = FieldMap.compile(
        {"channel": {"const": "shop"}, "external_id": {"path": "id", "convert": ["str"]}, "sku": "sku"},
        KINDS["listings"].record,
    )
    refund = FieldMap.compile(
        {
            "channel": {"const": "shop"},
            "external_id": "id",
            "order_external_id": "order_id",
            "status": "status",
            "amount": {"path": "amount", "convert": ["decimal"]},
            "lines": {"path": "items", "each": {"sku": "sku", "qty": "qty"}},
        },
        KINDS["returns"].record,
    )

    variant = listing.to_record({"id": 4471, "sku": " TEA-001 "})
    back = refund.to_record({"id": "R9", "order_id": "450789470", "status": "refunded", "amount": "12.50",
                             "items": [{"sku": "TEA-001", "qty": 2}]})  # fmt: skip

    assert isinstance(variant, Listing)
    assert isinstance(back, Return)
    assert (variant.key, variant.sku) == ("4471", "TEA-001")
    assert (back.key, str(back.amount), back.lines[0].qty) == ("R9", "12.50", 2)
    assert KINDS["listings"].reconcile is None
    assert KINDS["returns"].reconcile is None
