"""RestConnector end to end over faked HTTP: auth kinds, paging, cursors, snapshots, check."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from pydantic import ValidationError
from responses import matchers

from connectors.base import Page
from connectors.rest import RestConnector, RestSettings
from core.errors import AuthError, PermanentError

BASE = "https://erp.example/api/v2"


def connector(auth: dict[str, Any] | None = None, **stream: Any) -> RestConnector:
    spec = {
        "path": "stock",
        "record_path": "data.items",
        "primary_key": ["sku", "warehouse"],
        "cursor_field": "updated_at",
        "cursor_param": "updated_since",
        "paginator": {"type": "cursor", "token_path": "data.next", "param": "after"},
    } | stream
    raw: dict[str, Any] = {"base_url": BASE, "headers": {"X-Tenant": "acme"}, "streams": {"stock": spec}}
    if auth is not None:
        raw["auth"] = auth
    return RestConnector("erp", RestSettings.model_validate(raw))


def query(call: Any) -> dict[str, str]:
    """The query parameters a recorded call sent."""
    return dict(parse_qsl(urlsplit(str(call.request.url)).query))


def body(items: list[dict[str, Any]], next_token: str | None = None) -> dict[str, Any]:
    return {"data": {"items": items, "next": next_token}}


def item(sku: str, updated_at: str | None, **extra: Any) -> dict[str, Any]:
    return {"sku": sku, "warehouse": "WH1", "qty": 1, "updated_at": updated_at} | extra


def three_pages() -> None:
    responses.get(f"{BASE}/stock", json=body([item("A", "2024-05-01T10:00:00Z")], "p2"))
    responses.get(f"{BASE}/stock", json=body([item("B", "2024-05-01T11:00:00Z")], "p3"))
    responses.get(f"{BASE}/stock", json=body([item("C", "2024-05-01T12:00:00Z")]))


@pytest.mark.parametrize(
    ("auth", "header", "value", "in_query"),
    [
        ({"type": "bearer", "token": "bearer-tok-1"}, "Authorization", "Bearer bearer-tok-1", None),
        (
            {"type": "basic", "username": "sync", "password": "basic-pw-1"},
            "Authorization",
            "Basic " + base64.b64encode(b"sync:basic-pw-1").decode(),
            None,
        ),
        ({"type": "api_key", "name": "X-Api-Key", "value": "hdr-key-1"}, "X-Api-Key", "hdr-key-1", None),
        (
            {"type": "api_key", "name": "key", "value": "qry-key-1", "in": "query"},
            None,
            None,
            ("key", "qry-key-1"),
        ),
        ({"type": "none"}, None, None, None),
        (None, None, None, None),
    ],
)
@responses.activate
def test_pages_with_each_auth_kind(
    auth: dict[str, Any] | None, header: str | None, value: str | None, in_query: tuple[str, str] | None
) -> None:
    three_pages()
    pages = list(connector(auth).fetch("stock", None))

    assert [[r["sku"] for r in page.records] for page in pages] == [["A"], ["B"], ["C"]]
    assert [page.last for page in pages] == [False, False, True]
    for call in responses.calls:
        assert call.request.headers["X-Tenant"] == "acme"
        if header:
            assert call.request.headers[header] == value
        else:
            assert "Authorization" not in call.request.headers
        if in_query:
            assert query(call)[in_query[0]] == in_query[1]
    assert [query(call).get("after") for call in responses.calls] == [None, "p2", "p3"]


@responses.activate
def test_saved_cursor_is_sent_and_the_cursor_advances_per_page() -> None:
    three_pages()
    pages = list(connector().fetch("stock", "2024-05-01T09:00:00Z"))

    assert all(query(call)["updated_since"] == "2024-05-01T09:00:00Z" for call in responses.calls)
    assert [page.cursor for page in pages] == [
        "2024-05-01T10:00:00Z",
        "2024-05-01T11:00:00Z",
        "2024-05-01T12:00:00Z",
    ]


@responses.activate
def test_no_cursor_param_without_a_saved_cursor() -> None:
    three_pages()
    list(connector().fetch("stock", None))
    assert all("updated_since" not in query(call) for call in responses.calls)


@responses.activate
def test_unsorted_stream_saves_the_cursor_only_on_the_last_page() -> None:
    responses.get(f"{BASE}/stock", json=body([item("A", "2024-05-03T00:00:00Z")], "p2"))
    responses.get(f"{BASE}/stock", json=body([item("B", "2024-05-01T00:00:00Z")]))

    pages = list(connector(sorted_by_cursor=False).fetch("stock", None))
    assert [page.cursor for page in pages] == [None, "2024-05-03T00:00:00Z"]


@responses.activate
def test_records_missing_cursor_or_key_are_still_yielded() -> None:
    responses.get(
        f"{BASE}/stock", json=body([{"qty": 3}, item("A", None), item("B", "2024-05-02T00:00:00Z")])
    )

    [page] = list(connector().fetch("stock", "2024-05-01T00:00:00Z"))
    assert page == Page(
        records=[{"qty": 3}, item("A", None), item("B", "2024-05-02T00:00:00Z")],
        cursor="2024-05-02T00:00:00Z",
        last=True,
    )


@responses.activate
def test_empty_read_keeps_the_saved_cursor() -> None:
    responses.get(f"{BASE}/stock", json={"data": {}})
    [page] = list(connector().fetch("stock", "2024-05-01T00:00:00Z"))
    assert page.records == []
    assert page.cursor == "2024-05-01T00:00:00Z"


@responses.activate
def test_snapshot_stream_with_top_level_list_and_page_numbers() -> None:
    responses.get(f"{BASE}/warehouses", json=[{"code": "WH1"}, {"code": "WH2"}])
    responses.get(f"{BASE}/warehouses", json=[{"code": "WH3"}])
    rest = connector(
        path="warehouses",
        record_path="@",
        primary_key=["code"],
        cursor_field=None,
        cursor_param=None,
        snapshot=True,
        paginator={"type": "page", "size": 2},
    )

    assert rest.streams["stock"].snapshot is True
    assert rest.streams["stock"].primary_key == ("code",)
    pages = list(rest.fetch("stock", None))
    assert [(len(page.records), page.cursor, page.last) for page in pages] == [
        (2, None, False),
        (1, None, True),
    ]
    assert [query(call)["page"] for call in responses.calls] == ["1", "2"]


@responses.activate
def test_post_stream_sends_params_as_json_body() -> None:
    responses.post(
        f"{BASE}/stock/query",
        json=body([item("A", "2024-05-01T10:00:00Z")]),
        match=[matchers.json_params_matcher({"status": "active", "updated_since": "2024-05-01T00:00:00Z"})],
    )
    rest = connector(
        path="stock/query", method="POST", params={"status": "active"}, paginator={"type": "none"}
    )
    [page] = list(rest.fetch("stock", "2024-05-01T00:00:00Z"))
    assert page.cursor == "2024-05-01T10:00:00Z"


@responses.activate
def test_record_path_not_selecting_objects_is_permanent() -> None:
    responses.get(f"{BASE}/stock", json={"data": {"items": "oops"}})
    with pytest.raises(PermanentError, match=r"record_path 'data\.items' did not select a list") as caught:
        list(connector().fetch("stock", None))
    assert caught.value.connector == "erp"
    assert caught.value.stream == "stock"


@responses.activate
def test_paginator_loop_error_names_connector_and_stream() -> None:
    responses.get(f"{BASE}/stock", json=body([item("A", "2024-05-01T10:00:00Z")], "same"))
    with pytest.raises(
        PermanentError, match=r"page 2 \(stock\?after=same\) holds the same records"
    ) as caught:
        list(connector().fetch("stock", None))
    assert (caught.value.connector, caught.value.stream) == ("erp", "stock")


@pytest.mark.parametrize(
    ("error", "reply", "said"),
    [
        ({"when": "success == `false`", "message": "msg"}, {"success": False, "msg": "db down"}, "db down"),
        (
            {"code": "errcode", "message": "errmsg"},
            {"errcode": 40014, "errmsg": "bad token"},
            "code 40014: bad token",
        ),
        ({"code": "status", "ok_codes": ["OK"]}, {"status": "FAIL"}, "code FAIL: no message"),
    ],
)
@responses.activate
def test_a_declared_error_answer_is_permanent_and_quotes_the_upstream(
    error: dict[str, Any], reply: dict[str, Any], said: str
) -> None:
    responses.get(f"{BASE}/stock", json={**reply, "data": {"items": []}})
    with pytest.raises(PermanentError, match="the API answered stock with a failure: " + said) as caught:
        list(connector(paginator={"type": "none"}, error=error).fetch("stock", None))
    assert (caught.value.connector, caught.value.stream) == ("erp", "stock")


@pytest.mark.parametrize(
    "reply",
    [{"success": True}, {"errcode": 0}, {"status": "OK"}, {}],
    ids=["success", "code-0", "ok-code", "no-code"],
)
@responses.activate
def test_an_answer_that_is_no_failure_is_read(reply: dict[str, Any]) -> None:
    responses.get(f"{BASE}/stock", json={**reply, "data": {"items": [item("A", "2024-05-01T10:00:00Z")]}})
    errors: list[dict[str, Any]] = [
        {"when": "success == `false`"},
        {"code": "errcode"},
        {"code": "status", "ok_codes": ["OK"]},
    ]
    for error in errors:
        pages = list(connector(paginator={"type": "none"}, error=error).fetch("stock", None))
        assert [r["sku"] for p in pages for r in p.records] == ["A"]


def test_unknown_stream_lists_known_ones() -> None:
    with pytest.raises(PermanentError, match=r"offers: stock"):
        list(connector().fetch("orders", None))


@responses.activate
def test_check_maps_401_to_auth_error_after_one_call() -> None:
    responses.get(f"{BASE}/stock", status=401, json={"error": "bad token"})
    with pytest.raises(AuthError):
        connector({"type": "bearer", "token": "wrong-token"}).check()
    assert len(responses.calls) == 1


@responses.activate
def test_check_uses_check_path_when_given() -> None:
    responses.get(f"{BASE}/ping", json={"ok": True})
    settings = RestSettings.model_validate(
        {"base_url": BASE, "check_path": "ping", "streams": {"s": {"path": "s", "primary_key": ["id"]}}}
    )
    RestConnector("erp", settings).check()
    assert [call.request.url for call in responses.calls] == [f"{BASE}/ping"]


@responses.activate
def test_check_requests_the_first_page_of_the_first_stream() -> None:
    responses.get(f"{BASE}/stock", json=body([]))
    connector(paginator={"type": "page", "size": 10}).check()
    assert query(responses.calls[0]) == {"page": "1", "per_page": "10"}


def test_secrets_are_hidden_in_settings_repr() -> None:
    rest = connector({"type": "basic", "username": "u", "password": "repr-secret-1"})
    assert "repr-secret-1" not in repr(rest.settings)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"surprise": 1}, "Extra inputs are not permitted"),
        ({"auth": {"type": "oauth"}}, "does not match any of the expected tags"),
        ({"auth": {"type": "api_key", "name": "k", "value": "v", "in": "cookie"}}, "'header' or 'query'"),
        ({"streams": {}}, "at least one stream"),
        ({"streams": {"s": {"path": "s", "primary_key": ["id"], "record_path": "a.["}}}, "record_path"),
        ({"streams": {"s": {"path": "s", "primary_key": ["id"], "cursor_param": "since"}}}, "cursor_field"),
        ({"base_url": "not a url"}, "base_url"),
        (
            {"streams": {"s": {"path": "s", "primary_key": ["id"], "error": {"message": "msg"}}}},
            "give `when`",
        ),
        ({"streams": {"s": {"path": "s", "primary_key": ["id"], "error": {"when": "a.["}}}}, "when"),
    ],
)
def test_settings_are_validated(change: dict[str, Any], problem: str) -> None:
    raw = {"base_url": BASE, "streams": {"s": {"path": "s", "primary_key": ["id"]}}} | change
    with pytest.raises(ValidationError, match=problem):
        RestSettings.model_validate(raw)


def test_connector_declares_kind_and_settings() -> None:
    assert RestConnector.kind == "rest"
    assert RestConnector.Settings is RestSettings
    assert RestConnector.default_mappings == {}
