"""Contract checks any connector's tests can run over its own fake data.

Three functions, each raising ``AssertionError`` with a sentence saying what broke:

``check_stream(connector, stream, serve, *, runs=2, max_pages=50) -> list[list[Page]]``
    Reads ``stream`` ``runs`` times, each run from the cursor the previous one ended with (the
    first from ``None``). Before each run it calls ``serve(run, cursor)`` so the test can put
    that run's fake data in place (register ``responses``, fill a table, drop a file). Checks:

    * the read stops within ``max_pages`` pages;
    * the final page, and only it, is marked ``last`` (a read of no pages is allowed);
    * page cursors never move back (``connectors.cursors.cursor_order``), within a run and from
      one run to the next; a stream without ``cursor_field`` gives no cursor at all;
    * every record is a dict carrying each ``primary_key`` field (dotted names dig into
      sub-dicts) with a value that is neither ``None`` nor ``""``.

    Returns the pages of each run, for the test's own assertions.

``check_error_mapping(connector, stream, serve_status, cases=HTTP_ERROR_CASES)``
    For each ``(status, error type)``: calls ``serve_status(status)``, which makes every request
    of the next read answer that HTTP status, then reads ``stream`` and expects that error type
    naming the connector and the stream. Defaults: 401 → ``AuthError``, 503 →
    ``RetriableError``, 400 and 404 → ``PermanentError``. Build the connector with retries off
    (``max_attempts: 1``), or a 503 is retried with real sleeps.

``status_everywhere(url_prefix) -> serve_status``
    A ``serve_status`` for connectors faked with ``responses`` (inside ``@responses.activate``):
    it clears what was registered and answers every GET/POST under ``url_prefix`` with the status.

Example::

    @responses.activate
    def test_contract() -> None:
        connector = MyConnector("erp", MySettings(base_url=BASE, max_attempts=1))
        check_stream(connector, "products", lambda run, cursor: serve_products(run))
        check_error_mapping(connector, "products", status_everywhere(BASE))
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pytest
import responses

from connectors.base import Connector, Page
from connectors.cursors import cursor_order
from core.errors import AuthError, ConnectorError, PermanentError, RetriableError

Serve = Callable[[int, str | None], None]
ServeStatus = Callable[[int], None]

HTTP_ERROR_CASES: tuple[tuple[int, type[ConnectorError]], ...] = (
    (401, AuthError),
    (503, RetriableError),
    (400, PermanentError),
    (404, PermanentError),
)


def check_stream(
    connector: Connector, stream: str, serve: Serve, *, runs: int = 2, max_pages: int = 50
) -> list[list[Page]]:
    """The pages of ``runs`` reads of ``stream``, each checked against the contract above."""
    spec = connector.stream(stream)
    cursor: str | None = None
    all_runs = []
    for run in range(runs):
        serve(run, cursor)
        pages = _bounded(connector.fetch(stream, cursor), max_pages, f"{stream} run {run}")
        _check_last_flags(pages, f"{stream} run {run}")
        for number, page in enumerate(pages):
            where = f"{stream} run {run} page {number}"
            _check_records(page.records, spec.primary_key, where)
            if spec.cursor_field is None:
                assert page.cursor is None, f"{where}: stream has no cursor_field but gave {page.cursor!r}"
            elif page.cursor is not None:
                _check_forward(cursor, page.cursor, where)
                cursor = page.cursor
        all_runs.append(pages)
    return all_runs


def check_error_mapping(
    connector: Connector,
    stream: str,
    serve_status: ServeStatus,
    cases: Iterable[tuple[int, type[ConnectorError]]] = HTTP_ERROR_CASES,
) -> None:
    """Assert each served HTTP status makes a read of ``stream`` raise its error type."""
    for status, expected in cases:
        serve_status(status)
        with pytest.raises(ConnectorError) as caught:
            _bounded(connector.fetch(stream, None), 50, stream)
        err = caught.value
        assert isinstance(err, expected), f"HTTP {status}: expected {expected.__name__}, got {err!r}"
        assert err.connector == connector.name, f"HTTP {status}: error names connector {err.connector!r}"
        assert err.stream == stream, f"HTTP {status}: error names stream {err.stream!r}"


def status_everywhere(url_prefix: str) -> ServeStatus:
    """A ``serve_status`` answering every GET/POST under ``url_prefix`` with the given status."""
    pattern = re.compile(re.escape(url_prefix) + ".*")

    def serve(status: int) -> None:
        responses.reset()
        for method in (responses.GET, responses.POST):
            responses.add(method, pattern, status=status, json={"error": f"fake {status}"})

    return serve


def _bounded(pages: Iterable[Page], max_pages: int, where: str) -> list[Page]:
    read: list[Page] = []
    for page in pages:
        read.append(page)
        assert len(read) <= max_pages, f"{where}: paging did not stop after {max_pages} pages"
    return read


def _check_last_flags(pages: Sequence[Page], where: str) -> None:
    flags = [page.last for page in pages]
    if flags:
        assert flags[-1], f"{where}: the final page is not marked last"
        assert not any(flags[:-1]), f"{where}: page {flags.index(True)} is marked last but more followed"


def _check_records(records: Any, primary_key: Sequence[str], where: str) -> None:
    assert isinstance(records, list), f"{where}: records is a {type(records).__name__}, not a list"
    for index, record in enumerate(records):
        assert isinstance(record, dict), f"{where} record {index}: not a dict"
        for name in primary_key:
            value: Any = record
            for part in name.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            assert value not in (None, ""), f"{where} record {index}: primary key field {name!r} is empty"


def _check_forward(before: str | None, after: str, where: str) -> None:
    if before is not None:
        assert cursor_order(after) >= cursor_order(before), (
            f"{where}: cursor went back {before!r} -> {after!r}"
        )
