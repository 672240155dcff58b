"""Every paging loop refuses to loop: the paginators and the ERP connectors' own offset/keyset loops.

A server that keeps answering (new tokens with the same records, an offset or id it ignores) fails
the read with an error naming the page; reaching ``max_pages`` is a failed read, never a complete
one. The SQL connector reads one finite result set and the file drop each file once per run (by
checksum), so neither has a page loop to guard.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import count
from typing import Any

import pytest
import requests
import responses
from sqlalchemy import Engine, select

from connectors.paginate import CursorTokenPaginator, PageLoop, RequestSpec, iter_pages
from connectors.rest import RestConnector, RestSettings
from connectors.tryton import TrytonConnector, TrytonSettings
from core.errors import PermanentError
from store.locations import LocationSpec, apply_locations
from store.models import StockLevel, SyncRun
from sync.engine import StreamJob, run_stream
from tests.connectors.kingdee.fake import QUERY
from tests.connectors.kingdee.fake import connector as kingdee
from tests.connectors.odoo.fake import RPC
from tests.connectors.odoo.fake import connector as odoo
from tests.connectors.odoo.fake import fixture as odoo_reply
from tests.sync.fakes import plain_mapper

BASE = "https://erp.example/api"


def endless_tokens() -> Iterator[dict[str, Any]]:
    """A server that hands out a new token with every page, and always the same records."""
    for n in count(2):
        yield {"items": [{"sku": "TEA", "qty": 5}], "next": f"t{n}"}


@responses.activate
def test_new_tokens_with_the_same_records_are_refused_naming_the_page() -> None:
    replies = endless_tokens()
    responses.add_callback(responses.GET, f"{BASE}/stock", callback=lambda _: (200, {}, _json(next(replies))))
    pages = iter_pages(CursorTokenPaginator(token_path="next", param="after"), RequestSpec("stock"), _fetch)
    assert [p.records for p in [next(pages)]] == [[{"sku": "TEA", "qty": 5}]]

    with pytest.raises(PermanentError, match=r"page 2 \(stock\?after=t2\) holds the same records as page 1"):
        next(pages)
    assert len(responses.calls) == 2


def _json(body: Any) -> str:
    return json.dumps(body)


def _fetch(request: RequestSpec) -> Any:
    response = requests.get(f"{BASE}/{request.path}", params=dict(request.params), timeout=5)
    return response, response.json()["items"]


def erp(paginator: dict[str, Any]) -> RestConnector:
    spec = {"path": "stock", "record_path": "items", "primary_key": ["sku"], "paginator": paginator}
    return RestConnector("erp", RestSettings.model_validate({"base_url": BASE, "streams": {"stock": spec}}))


def rest_mapper() -> Any:
    plain = plain_mapper("stock")

    def mapper(engine: Engine, raws: list[dict[str, Any]]) -> Any:
        rows = [
            {"id": r["sku"], "data": {"sku": r["sku"], "location": "WH", "on_hand": r["qty"]}} for r in raws
        ]
        return plain(engine, rows)

    return mapper


def failed_runs(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [
            e or "" for e in conn.execute(select(SyncRun.error).where(SyncRun.status == "failed")).scalars()
        ]


def test_an_endless_paginator_fails_the_run_through_the_engine(store_engine: Engine) -> None:
    apply_locations(store_engine, [LocationSpec("WH", "Factory", "warehouse")])
    job = StreamJob(erp({"type": "cursor", "token_path": "next", "param": "after"}), "stock", rest_mapper())
    replies = endless_tokens()
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, f"{BASE}/stock", callback=lambda _: (200, {}, _json(next(replies))))
        with pytest.raises(PermanentError, match="holds the same records as page 1"):
            run_stream(store_engine, job)
    [error] = failed_runs(store_engine)
    assert "paginator 'cursor': page 2 (stock?after=t2) holds the same records as page 1" in error
    assert "[connector=erp stream=stock]" in error


def test_reaching_max_pages_fails_the_run(store_engine: Engine) -> None:
    apply_locations(store_engine, [LocationSpec("WH", "Factory", "warehouse")])
    paginator = {"type": "cursor", "token_path": "next", "param": "after", "max_pages": 3}
    job = StreamJob(erp(paginator), "stock", rest_mapper())
    numbers = count(1)

    def page(_: Any) -> tuple[int, dict[str, str], str]:
        n = next(numbers)
        return 200, {}, _json({"items": [{"sku": f"S{n}", "qty": n}], "next": f"t{n + 1}"})

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, f"{BASE}/stock", callback=page)
        with pytest.raises(PermanentError, match="max_pages=3"):
            run_stream(store_engine, job)
        assert len(mock.calls) == 3
    [error] = failed_runs(store_engine)
    assert "stopped after max_pages=3 pages (next: stock?after=t4)" in error
    with store_engine.connect() as conn:  # the pages before the refusal landed; the run is not ok
        assert len(conn.execute(select(StockLevel.sku)).all()) == 3


@responses.activate
def test_kingdee_refuses_a_server_that_ignores_start_row() -> None:
    page = [
        ["MAT001", "CK01", "100", "L1", 1.0],
        ["MAT002", "CK01", "100", "L1", 2.0],
        ["MAT003", "CK01", "100", "", 3.0],
    ]
    responses.post(QUERY, json=page)  # every call answers the first page again

    with pytest.raises(
        PermanentError, match=r"Kingdee STK_Inventory: page 2 \(StartRow 3\) holds the same records"
    ):
        list(kingdee().fetch("stock", None))
    assert len(responses.calls) == 2


@responses.activate
def test_kingdee_stops_at_max_pages() -> None:
    for n in range(3):
        responses.post(
            QUERY, json=[[f"M{n}{i}", "name", "pcs", "2026-05-01T10:00:00", n * 3 + i] for i in range(3)]
        )

    with pytest.raises(PermanentError, match=r"Kingdee BD_MATERIAL stopped after max_pages=2 pages"):
        list(kingdee(max_pages=2).fetch("products", None))


@responses.activate
def test_odoo_stops_at_max_pages() -> None:
    responses.post(RPC, json=odoo_reply("authenticate"))
    responses.post(RPC, json=odoo_reply("products_page1"))
    responses.post(RPC, json=odoo_reply("products_page2"))

    with pytest.raises(PermanentError, match=r"Odoo product.product stopped after max_pages=1 pages"):
        list(odoo(max_pages=1).fetch("products", None))


class SameRows:
    """A Tryton RPC stand-in that ignores the id filter: every search answers the same products."""

    server_time = datetime(2026, 5, 1, tzinfo=UTC)

    def context(self, **extra: Any) -> dict[str, Any]:
        return dict(extra)

    def call(self, method: str, *params: Any, context: Any = None) -> Any:
        if method == "model.stock.location.search_read":
            return [{"id": 1, "code": "WH"}]
        return [{"id": 10, "code": "A", "quantity": 1.0}, {"id": 11, "code": "B", "quantity": 2.0}]


def test_tryton_refuses_a_server_that_ignores_the_id_filter() -> None:
    settings = {"url": "http://tryton.example:8000", "database": "db", "username": "u", "password": "p"}
    connector = TrytonConnector("tryton", TrytonSettings.model_validate({**settings, "page_size": 2}))
    connector.rpc = SameRows()  # type: ignore[assignment]

    with pytest.raises(
        PermanentError, match=r"Tryton product.product: page 2 \(after id 11\) holds the same records"
    ):
        list(connector.fetch("stock", None))


def test_a_page_loop_refuses_a_position_it_has_read_before() -> None:
    loop = PageLoop("a keyset read")
    loop.advance(("2026-05-01", 7), "after 7")
    loop.page([{"id": 7}], "after 7")
    with pytest.raises(PermanentError, match=r"a keyset read: page 2 \(after 7\) is where page 1 was read"):
        loop.advance(("2026-05-01", 7), "after 7")
