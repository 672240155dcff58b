"""Paginators: tiny declarations of how to reach the next page, walked by a loop that refuses to loop.

A paginator is a frozen pydantic model, so a YAML ``paginator: {type: page, size: 50}`` block
and Python code build the same object. It is pure: :meth:`Paginator.first_request` adjusts the
stream's request, :meth:`Paginator.next_request` looks at the request just sent, its response
and records, and returns the next :class:`RequestSpec` or None at the end.

==================================  ========================================================
:class:`NoPaginator` (none)         one request is the whole read
:class:`LinkHeaderPaginator` (link)  follow ``Link: <…>; rel="next"`` (RFC 8288 / 5988)
:class:`CursorTokenPaginator` (cursor)  a token from the body (jmespath) goes into ``param``
:class:`PageNumberPaginator` (page)  ``page=1,2,…`` to a short/empty page or a total-pages header
:class:`SinceIdPaginator` (since_id)  ``since_id=<last id of the page>`` to an empty page
==================================  ========================================================

:func:`iter_pages` walks a read. It refuses to loop, with ``PermanentError`` naming the page:

- a next request equal to one already sent ("paginator … returned the same next token twice");
- a page holding exactly the records of an earlier page of the same read (a server that hands out
  new tokens but serves the same page; empty pages are exempt, some APIs page through them);
- more than ``max_pages`` pages: reaching the limit is a failed read, never a complete one.

Connectors with their own paging loop (offsets, keysets) walk it with a :class:`PageLoop`, which
applies the same rules.

>>> pages = PageNumberPaginator(size=2)
>>> pages.first_request(RequestSpec("orders", {"status": "open"})).params
{'status': 'open', 'page': 1, 'per_page': 2}
"""

from __future__ import annotations

import abc
import hashlib
import json
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal

import jmespath
import requests
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from core.errors import PermanentError
from core.redact import redact_url

DEFAULT_MAX_PAGES = 100_000

Records = Sequence[Mapping[str, Any]]


def _compiles(expression: str) -> str:
    jmespath.compile(expression)  # ParseError is a ValueError: pydantic reports it on the field
    return expression


#: a string field that must be a valid jmespath expression
JmesPath = Annotated[str, AfterValidator(_compiles)]
RequestKey = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class RequestSpec:
    """Where one page comes from: a path under the base URL (or an absolute URL) and parameters."""

    path: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def identity(self) -> RequestKey:
        """A hashable key; two requests with the same key fetch the same page."""
        return self.path, tuple(sorted((str(key), str(value)) for key, value in self.params.items()))

    def with_params(self, **params: Any) -> RequestSpec:
        """This request with ``params`` added or replaced."""
        return replace(self, params={**self.params, **params})

    def describe(self) -> str:
        """The request as a redacted URL-ish string for messages."""
        query = "&".join(f"{key}={value}" for key, value in self.params.items())
        return redact_url(f"{self.path}?{query}" if query else self.path)


class Paginator(BaseModel, abc.ABC):
    """Base of the strategies: frozen settings, no state (the walk's state lives in :func:`iter_pages`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    max_pages: int = Field(default=DEFAULT_MAX_PAGES, ge=1)

    def first_request(self, request: RequestSpec) -> RequestSpec:
        """The first page's request for a read starting at ``request``."""
        return request

    @abc.abstractmethod
    def next_request(
        self, current: RequestSpec, response: requests.Response, records: Records
    ) -> RequestSpec | None:
        """The request after ``current`` (whose answer was ``response``/``records``); None at the end."""


class NoPaginator(Paginator):
    """The first response holds every record."""

    type: Literal["none"] = "none"

    def next_request(self, current: RequestSpec, response: requests.Response, records: Records) -> None:
        return None


class LinkHeaderPaginator(Paginator):
    """Follows the ``rel="next"`` URL of the ``Link`` header (GitHub, Shopify, WooCommerce…)."""

    type: Literal["link"] = "link"

    def next_request(
        self, current: RequestSpec, response: requests.Response, records: Records
    ) -> RequestSpec | None:
        url = response.links.get("next", {}).get("url")
        # The next URL already carries every parameter.
        return RequestSpec(url) if url else None


class CursorTokenPaginator(Paginator):
    """Reads the next-page token from the JSON body at ``token_path`` and sends it as ``param``."""

    type: Literal["cursor"] = "cursor"
    token_path: JmesPath
    param: str

    def next_request(
        self, current: RequestSpec, response: requests.Response, records: Records
    ) -> RequestSpec | None:
        token = jmespath.search(self.token_path, response.json())
        if token is None or token == "" or token is False:
            return None
        return current.with_params(**{self.param: token})


class PageNumberPaginator(Paginator):
    """``page=start, start+1, …``; stops on an empty page, a short one, or at the total-pages header.

    A page shorter than ``size`` ends the read only when ``size_param`` sends that size.
    """

    type: Literal["page"] = "page"
    param: str = "page"
    size_param: str | None = "per_page"
    size: int = Field(default=100, ge=1)
    start: int = 1
    total_pages_header: str | None = "X-WP-TotalPages"

    def first_request(self, request: RequestSpec) -> RequestSpec:
        sizing = {self.size_param: self.size} if self.size_param else {}
        return request.with_params(**{self.param: self.start}, **sizing)

    def next_request(
        self, current: RequestSpec, response: requests.Response, records: Records
    ) -> RequestSpec | None:
        page = int(current.params[self.param])
        if not records or (self.size_param and len(records) < self.size):
            return None
        total = response.headers.get(self.total_pages_header or "", "").strip()
        if total.isdigit() and page - self.start + 1 >= int(total):
            return None
        return current.with_params(**{self.param: page + 1})


class SinceIdPaginator(Paginator):
    """``since_id=<id of the page's last record>`` until a page comes back empty (or short of ``size``)."""

    type: Literal["since_id"] = "since_id"
    param: str = "since_id"
    id_field: str = "id"
    size: int | None = Field(default=None, ge=1)
    size_param: str = "limit"

    def first_request(self, request: RequestSpec) -> RequestSpec:
        return request.with_params(**{self.size_param: self.size}) if self.size else request

    def next_request(
        self, current: RequestSpec, response: requests.Response, records: Records
    ) -> RequestSpec | None:
        ids = [record[self.id_field] for record in records if record.get(self.id_field) is not None]
        if not ids or (self.size and len(records) < self.size):
            return None
        # since_id APIs return records in ascending id order: the last one is the highest.
        return current.with_params(**{self.param: ids[-1]})


AnyPaginator = Annotated[
    NoPaginator | LinkHeaderPaginator | CursorTokenPaginator | PageNumberPaginator | SinceIdPaginator,
    Field(discriminator="type"),
]


@dataclass(frozen=True)
class FetchedPage:
    """One page of a walk: the request sent, its response and records, and whether it was the last."""

    request: RequestSpec
    response: requests.Response
    records: list[dict[str, Any]]
    last: bool


Fetch = Callable[[RequestSpec], tuple[requests.Response, list[dict[str, Any]]]]


class PageLoop:
    """Watches one read page by page and refuses to loop (see the module docstring).

    ``what`` names the read in messages ("paginator 'cursor'", "Kingdee STK_Inventory"). Call
    :meth:`advance` before reading a page at a position (a token, an offset, a last key) and
    :meth:`page` with the records it held.

    >>> loop = PageLoop("read", max_pages=5)
    >>> loop.advance(0, "offset 0"); loop.page([{"id": 1}], "offset 0")
    >>> loop.advance(1, "offset 1"); loop.page([{"id": 1}], "offset 1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    core.errors.PermanentError: read: page 2 (offset 1) holds the same records as page 1; ...
    """

    def __init__(self, what: str, max_pages: int = DEFAULT_MAX_PAGES) -> None:
        self.what, self.max_pages = what, max_pages
        self.pages = 0
        self._digests: dict[str, int] = {}
        self._positions: dict[Hashable, int] = {}

    def advance(self, position: Hashable, where: str) -> None:
        """The read is about to fetch the page at ``position``; refuse one seen before or one too many."""
        if position in self._positions:
            raise PermanentError(
                f"{self.what}: page {self.pages + 1} ({where}) is where page {self._positions[position]} "
                "was read; the API is not advancing, check the paging settings"
            )
        if self.pages >= self.max_pages:
            raise PermanentError(
                f"{self.what} stopped after max_pages={self.max_pages} pages (next: {where}); "
                "the read is incomplete — raise max_pages if the data really is that large"
            )
        self._positions[position] = self.pages + 1

    def page(self, records: Sequence[Any], where: str) -> None:
        """Count a page just read; refuse it when it holds exactly an earlier page's records."""
        self.pages += 1
        if not records:
            return
        text = json.dumps(list(records), sort_keys=True, default=str, ensure_ascii=False)
        earlier = self._digests.setdefault(hashlib.sha256(text.encode()).hexdigest(), self.pages)
        if earlier != self.pages:
            raise PermanentError(
                f"{self.what}: page {self.pages} ({where}) holds the same records as page {earlier}; "
                "the API is not advancing, check the paging settings"
            )


def iter_pages(paginator: Paginator, start: RequestSpec, fetch: Fetch) -> Iterator[FetchedPage]:
    """Yield every page of a read: ``fetch`` sends a request and returns its response and records.

    Raises ``PermanentError`` when the paginator asks for a request already sent, serves the records
    of an earlier page again or goes past ``max_pages``; the pages before the refusal have been
    yielded by then.
    """
    request: RequestSpec | None = paginator.first_request(start)
    seen: set[RequestKey] = set()
    loop = PageLoop(f"paginator {paginator.type!r}", paginator.max_pages)
    while request is not None:
        seen.add(request.identity())
        response, records = fetch(request)
        loop.page(records, request.describe())
        following = paginator.next_request(request, response, records)
        yield FetchedPage(request, response, records, last=following is None)
        if following is not None:
            _refuse_loop(paginator, following, seen)
        request = following


def _refuse_loop(paginator: Paginator, following: RequestSpec, seen: set[RequestKey]) -> None:
    if following.identity() in seen:
        raise PermanentError(
            f"paginator {paginator.type!r} returned the same next token twice ({following.describe()}); "
            "the API is not advancing, check the paginator settings"
        )
    if len(seen) >= paginator.max_pages:
        raise PermanentError(
            f"paginator {paginator.type!r} stopped after max_pages={paginator.max_pages} pages "
            f"(next: {following.describe()}); raise max_pages if the data really is that large"
        )
