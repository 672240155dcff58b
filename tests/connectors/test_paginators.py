"""Paginators walked over faked HTTP: each strategy, and the refusal to loop."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from pydantic import TypeAdapter, ValidationError

from connectors.http import HttpClient
from connectors.paginate import (
    AnyPaginator,
    CursorTokenPaginator,
    LinkHeaderPaginator,
    NoPaginator,
    PageNumberPaginator,
    Paginator,
    RequestSpec,
    SinceIdPaginator,
    iter_pages,
)
from core.errors import PermanentError

BASE = "https://shop.example/api"


def walk(paginator: Paginator, path: str = "items", params: dict[str, Any] | None = None) -> list[Any]:
    """Every page's records; the records are the body's "items", or the body itself if a list."""
    client = HttpClient("shop", BASE, sleep=lambda _: None)

    def fetch(request: RequestSpec) -> tuple[requests.Response, list[dict[str, Any]]]:
        response = client.request("GET", request.path, params=request.params)
        body = response.json()
        return response, body if isinstance(body, list) else body["items"]

    pages = list(iter_pages(paginator, RequestSpec(path, params or {}), fetch))
    assert [page.last for page in pages] == [False] * (len(pages) - 1) + [True]
    return [[record["id"] for record in page.records] for page in pages]


def sent_params() -> list[dict[str, str]]:
    return [dict(parse_qsl(urlsplit(str(call.request.url)).query)) for call in responses.calls]


@responses.activate
def test_no_paginator_reads_once() -> None:
    responses.get(f"{BASE}/items", json=[{"id": 1}, {"id": 2}])
    assert walk(NoPaginator()) == [[1, 2]]


@responses.activate
def test_link_header_follows_next_until_absent() -> None:
    responses.get(
        f"{BASE}/items",
        json=[{"id": 1}],
        headers={"Link": f'<{BASE}/items?page_info=abc>; rel="next"'},
        match=[responses.matchers.query_param_matcher({"limit": "1"})],
    )
    responses.get(
        f"{BASE}/items",
        json=[{"id": 2}],
        headers={"Link": f'<{BASE}/items?page_info=def>; rel="next", <{BASE}/items>; rel="previous"'},
        match=[responses.matchers.query_param_matcher({"page_info": "abc"})],
    )
    responses.get(
        f"{BASE}/items",
        json=[{"id": 3}],
        match=[responses.matchers.query_param_matcher({"page_info": "def"})],
    )

    assert walk(LinkHeaderPaginator(), params={"limit": 1}) == [[1], [2], [3]]


@responses.activate
def test_link_header_pointing_back_raises_instead_of_looping() -> None:
    link = {"Link": f'<{BASE}/items?page_info=same>; rel="next"'}
    responses.get(f"{BASE}/items", json=[{"id": 1}], headers=link)
    responses.get(f"{BASE}/items", json=[{"id": 2}], headers=link)

    with pytest.raises(PermanentError, match="returned the same next token twice"):
        walk(LinkHeaderPaginator())
    assert len(responses.calls) == 2


@responses.activate
def test_cursor_token_goes_into_the_param() -> None:
    responses.get(f"{BASE}/items", json={"items": [{"id": 1}], "meta": {"next": "t2"}})
    responses.get(f"{BASE}/items", json={"items": [{"id": 2}], "meta": {"next": "t3"}})
    responses.get(f"{BASE}/items", json={"items": [{"id": 3}], "meta": {"next": None}})

    assert walk(CursorTokenPaginator(token_path="meta.next", param="cursor"), params={"q": "x"}) == [
        [1],
        [2],
        [3],
    ]
    assert sent_params() == [{"q": "x"}, {"q": "x", "cursor": "t2"}, {"q": "x", "cursor": "t3"}]


@responses.activate
def test_cursor_token_repeated_raises_instead_of_looping() -> None:
    responses.get(f"{BASE}/items", json={"items": [{"id": 1}], "next": "t2"})
    responses.get(f"{BASE}/items", json={"items": [{"id": 2}], "next": "t2"})

    with pytest.raises(
        PermanentError, match=r"paginator 'cursor' returned the same next token twice \(items\?cursor=t2\)"
    ):
        walk(CursorTokenPaginator(token_path="next", param="cursor"))
    assert len(responses.calls) == 2


def test_cursor_token_path_must_be_jmespath() -> None:
    with pytest.raises(ValidationError):
        CursorTokenPaginator(token_path="meta.[", param="cursor")


@responses.activate
def test_page_number_stops_on_a_short_page() -> None:
    responses.get(f"{BASE}/items", json=[{"id": 1}, {"id": 2}])
    responses.get(f"{BASE}/items", json=[{"id": 3}])

    assert walk(PageNumberPaginator(size=2)) == [[1, 2], [3]]
    assert sent_params() == [{"page": "1", "per_page": "2"}, {"page": "2", "per_page": "2"}]


@responses.activate
def test_page_number_stops_on_an_empty_page() -> None:
    responses.get(f"{BASE}/items", json=[{"id": 1}, {"id": 2}])
    responses.get(f"{BASE}/items", json=[])

    assert walk(PageNumberPaginator(size=2, start=0, param="p", size_param="n")) == [[1, 2], []]
    assert sent_params()[-1] == {"p": "1", "n": "2"}


@responses.activate
def test_page_number_stops_at_the_total_pages_header() -> None:
    for first in (1, 3, 5):
        responses.get(
            f"{BASE}/items", json=[{"id": first}, {"id": first + 1}], headers={"X-WP-TotalPages": "2"}
        )

    assert walk(PageNumberPaginator(size=2)) == [[1, 2], [3, 4]]
    assert len(responses.calls) == 2


@responses.activate
def test_max_pages_guard() -> None:
    for n in range(1, 6):
        responses.get(f"{BASE}/items", json=[{"id": n}])

    with pytest.raises(PermanentError, match="max_pages=3"):
        walk(PageNumberPaginator(size=1, max_pages=3))
    assert len(responses.calls) == 3


@responses.activate
def test_since_id_advances_to_the_last_id() -> None:
    responses.get(f"{BASE}/items", json=[{"id": 5}, {"id": 9}])
    responses.get(f"{BASE}/items", json=[{"id": 12}])
    responses.get(f"{BASE}/items", json=[])

    assert walk(SinceIdPaginator(), params={"since_id": 0}) == [[5, 9], [12], []]
    assert [p["since_id"] for p in sent_params()] == ["0", "9", "12"]


@responses.activate
def test_since_id_with_size_stops_on_a_short_page() -> None:
    responses.get(f"{BASE}/items", json=[{"id": 5}, {"id": 9}])
    responses.get(f"{BASE}/items", json=[{"id": 12}])

    assert walk(SinceIdPaginator(size=2)) == [[5, 9], [12]]
    assert sent_params() == [{"limit": "2"}, {"limit": "2", "since_id": "9"}]


@responses.activate
def test_since_id_ignored_by_the_api_raises_instead_of_looping() -> None:
    responses.get(f"{BASE}/items", json=[{"id": 5}])

    with pytest.raises(
        PermanentError, match=r"page 2 \(items\?since_id=5\) holds the same records as page 1"
    ):
        walk(SinceIdPaginator())
    assert len(responses.calls) == 2


def test_paginators_are_declared_by_type() -> None:
    adapter: TypeAdapter[Paginator] = TypeAdapter(AnyPaginator)
    assert adapter.validate_python({"type": "page", "size": 50}) == PageNumberPaginator(size=50)
    assert adapter.validate_python({"type": "link"}) == LinkHeaderPaginator()
    with pytest.raises(ValidationError):
        adapter.validate_python({"type": "page", "sise": 50})
    with pytest.raises(ValidationError):
        adapter.validate_python({"type": "offset"})
