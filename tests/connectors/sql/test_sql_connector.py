"""SqlConnector against real databases: paging, cursors, read-only reads, bind parameters, errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from connectors.sql import SqlConnector, SqlSettings, SqlStream, json_value
from core.errors import AuthError, ConfigError, PermanentError, RetriableError
from tests.conftest import mysql_server_url
from tests.connectors.sql.conftest import ROWS, Source

QUERY = (
    "SELECT item_code, wh_code, qty, modified_at FROM inventory "
    "WHERE modified_at >= :cursor ORDER BY modified_at, item_code, wh_code"
)
SECRET = "Sup3r-s3cret-pw"

Make = Callable[..., SqlConnector]


@pytest.fixture
def make() -> Iterator[Make]:
    """Builds connectors with a ``stock`` stream (``QUERY`` unless overridden) and closes them."""
    made: list[SqlConnector] = []

    def build(url: str, **stream: Any) -> SqlConnector:
        spec = {
            "query": QUERY,
            "primary_key": ["item_code", "wh_code"],
            "cursor_column": "modified_at",
            "initial_cursor": "1970-01-01",
        } | stream
        made.append(SqlConnector("erp", SqlSettings.model_validate({"url": url, "streams": {"stock": spec}})))
        return made[-1]

    yield build
    for connector in made:
        connector.close()


def clock(source: Source, local: str) -> str:
    """The cursor text of an ERP-clock time: SQLite hands back its text, MariaDB a datetime."""
    return local if source.backend == "sqlite" else local.replace(" ", "T")


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("SELECT item_code FROM inventory; DELETE FROM inventory", "one statement"),
        ("SELECT 1;\nDROP TABLE inventory;", "one statement"),
        ("WITH gone AS (SELECT 1) DELETE FROM inventory", "DELETE is not allowed"),
        ("WITH c AS (UPDATE inventory SET qty = 0 RETURNING *) SELECT * FROM c", "UPDATE is not allowed"),
        ("UPDATE inventory SET qty = 0", "must start with SELECT or WITH, not UPDATE"),
        ("SHOW TABLES", "must start with SELECT or WITH"),
        ("SELECT * FROM inventory FOR UPDATE", "UPDATE is not allowed"),
        ("SELECT * INTO OUTFILE '/tmp/stock.csv' FROM inventory", "INTO is not allowed"),
        ("SELECT 1 /*!50000 ; DROP TABLE inventory */", "executable comments"),
        ("select 1 from inventory where 1 = 1 -- fine\n; truncate inventory", "one statement"),
    ],
)
def test_queries_that_could_write_are_refused_by_validation(query: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        SqlStream(query=query, primary_key=["item_code"])


def test_reading_queries_pass_validation_whatever_their_text_holds() -> None:
    query = (
        "-- stock; DELETE is only mentioned here\n"
        "SELECT REPLACE(item_code, ' ', '') AS sku, 'a;b DROP' AS note, t.update_flag, t.delete "
        "FROM inventory t WHERE wh_code <> :skip /* ; */ ;  "
    )
    assert SqlStream(query=query, primary_key=["sku"], params={"skip": "X"}).query == query


@pytest.mark.parametrize(
    ("stream", "reason"),
    [
        ({"query": "SELECT * FROM inventory ORDER BY modified_at"}, "must filter on :cursor"),
        ({"initial_cursor": None}, "set initial_cursor"),
        ({"query": "SELECT * FROM inventory WHERE modified_at >= :cursor"}, "must ORDER BY"),
        ({"query": QUERY.replace(">= :cursor", ">= :since")}, "must filter on :cursor"),
        ({"query": QUERY + " LIMIT :n"}, "uses :n but params gives no value"),
    ],
)
def test_incremental_streams_need_their_cursor_wired(stream: dict[str, Any], reason: str) -> None:
    spec = {
        "query": QUERY,
        "primary_key": ["item_code", "wh_code"],
        "cursor_column": "modified_at",
        "initial_cursor": "1970-01-01",
    } | stream
    with pytest.raises(ValidationError, match=reason):
        SqlStream.model_validate(spec)


def test_pages_of_page_size_with_forward_cursors(source: Source, make: Make) -> None:
    pages = list(make(source.url, page_size=2).fetch("stock", None))
    assert [len(p.records) for p in pages] == [2, 2, 1]
    assert [p.last for p in pages] == [False, False, True]
    assert [p.cursor for p in pages] == [
        clock(source, "2024-05-01 10:00:00"),
        clock(source, "2024-05-01 12:00:00"),
        clock(source, "2024-05-01 13:00:00"),
    ]
    first = pages[0].records[0]
    assert (first["item_code"], first["wh_code"], Decimal(str(first["qty"]))) == ("A-1", "WH1", 10)
    if source.backend == "mysql":  # a DATETIME in the ERP's clock (Asia/Shanghai) arrives as UTC
        assert first["modified_at"] == "2024-05-01T02:00:00+00:00"
        assert first["qty"] == "10.000"


def test_a_later_read_starts_at_the_saved_cursor_inclusive(source: Source, make: Make) -> None:
    connector = make(source.url, page_size=2)
    saved = list(connector.fetch("stock", None))[-1].cursor
    source.put(("A-1", "WH1", "11.000", "2024-05-01 14:00:00"))

    pages = list(connector.fetch("stock", saved))
    keys = [r["item_code"] for p in pages for r in p.records]
    assert keys == ["A-5", "A-1"]  # the boundary row again (the engine de-dupes it), then the change
    assert pages[-1].cursor == clock(source, "2024-05-01 14:00:00")


def test_an_empty_result_is_one_last_page_keeping_the_cursor(source: Source, make: Make) -> None:
    pages = list(make(source.url).fetch("stock", clock(source, "2030-01-01 00:00:00")))
    assert [(p.records, p.cursor, p.last) for p in pages] == [
        ([], clock(source, "2030-01-01 00:00:00"), True)
    ]


def test_the_read_only_transaction_refuses_writes_at_the_driver(source: Source, make: Make) -> None:
    connector = make(source.url)
    for statement in (
        "INSERT INTO inventory VALUES ('Z-1', 'WH1', 1, '2024-05-01 00:00:00')",
        "UPDATE inventory SET qty = 0",
        "DELETE FROM inventory",
    ):
        with connector.read_only_connection() as conn, pytest.raises(DBAPIError) as caught:
            conn.exec_driver_sql(statement)
        assert "read" in str(caught.value.orig).lower()  # "readonly database" / "READ ONLY transaction"
    assert source.count() == len(ROWS)


def test_a_write_past_the_config_check_is_still_refused(source: Source) -> None:
    bypass = SqlStream.model_construct(
        query="DELETE FROM inventory",
        primary_key=["item_code"],
        cursor_column=None,
        cursor_param="cursor",
        initial_cursor=None,
        snapshot=False,
        page_size=10,
        params={},
    )
    settings = SqlSettings.model_construct(
        url=SecretStr(source.url),
        timezone="Asia/Shanghai",
        connect_timeout_s=5,
        read_only="transaction",
        streams={"evil": bypass},
    )
    connector = SqlConnector("erp", settings)
    try:
        with pytest.raises(PermanentError, match="only reads") as caught:
            list(connector.fetch("evil", None))
    finally:
        connector.close()
    assert caught.value.stream == "evil"
    assert source.count() == len(ROWS)


def test_parameters_are_bound_never_spliced(source: Source, make: Make) -> None:
    evil = "O'Brien\"; DROP TABLE inventory; --"
    source.put(("Q-1", evil, "1.000", "2024-05-02 00:00:00"))
    connector = make(
        source.url,
        query="SELECT item_code, wh_code FROM inventory WHERE wh_code = :wh ORDER BY item_code",
        cursor_column=None,
        initial_cursor=None,
        params={"wh": evil},
    )
    (page,) = connector.fetch("stock", None)
    assert page.records == [{"item_code": "Q-1", "wh_code": evil}]
    assert page.cursor is None
    assert source.count() == len(ROWS) + 1


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("SELECT item_code, wh_code, qtyx FROM inventory", ["qtyx"]),
        ("SELECT item_code, wh_code FROM no_such_table", ["no_such_table"]),
        ("SELECT item_code, wh_code FROM FROM inventory", ["syntax"]),
    ],
)
def test_bad_queries_are_permanent_errors_naming_the_stream(
    source: Source, make: Make, query: str, words: list[str]
) -> None:
    connector = make(source.url, query=query, cursor_column=None, initial_cursor=None)
    with pytest.raises(PermanentError) as caught:
        list(connector.fetch("stock", None))
    assert caught.value.stream == "stock"
    assert "stream=stock" in str(caught.value)
    for word in words:
        assert word in str(caught.value)


def test_a_key_column_missing_from_the_result_is_named(source: Source, make: Make) -> None:
    connector = make(
        source.url, query="SELECT item_code FROM inventory", cursor_column=None, initial_cursor=None
    )
    with pytest.raises(PermanentError, match=r"no column 'wh_code' \(its columns: item_code\)"):
        list(connector.fetch("stock", None))


def test_check_passes_on_a_reachable_database(source: Source, make: Make) -> None:
    make(source.url).check()


def test_a_refused_connection_is_retriable_and_hides_the_password(make: Make) -> None:
    connector = make(f"mysql+pymysql://sync:{SECRET}@127.0.0.1:1/erp")
    with pytest.raises(RetriableError) as caught:
        connector.check()
    with pytest.raises(RetriableError) as during_read:
        list(connector.fetch("stock", None))
    assert during_read.value.stream == "stock"
    for err in (caught.value, during_read.value):
        assert SECRET not in str(err)
        assert SECRET not in repr(err.args)
        assert err.connector == "erp"
    assert SECRET not in repr(connector.config)


@pytest.mark.mysql
def test_a_refused_login_is_an_auth_error_without_the_password(make: Make) -> None:
    server = mysql_server_url()
    if server is None:
        pytest.skip("needs ERPSYNC_TEST_MYSQL_URL")
    url = make_url(server).set(username="erpsync_nobody", password=SECRET)
    connector = make(url.render_as_string(hide_password=False))
    with pytest.raises(AuthError) as caught:
        connector.check()
    assert "refused the login" in str(caught.value)
    assert "erpsync_nobody" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_missing_sqlite_file_is_a_permanent_error(tmp_path: Any, make: Make) -> None:
    with pytest.raises(PermanentError, match="unable to open"):
        make(f"sqlite:///{tmp_path / 'no' / 'such' / 'erp.db'}").check()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("not a database url", "not a database URL"),
        ("mssql+pyodbc://reader:pw@erp-sql/UFDATA_001", "read_only: account"),
    ],
)
def test_unusable_urls_are_config_errors(make: Make, url: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make(url)
    assert reason in str(caught.value)


def test_values_become_json_friendly_text() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    assert json_value(Decimal("12.500"), shanghai) == "12.500"
    assert json_value(Decimal("1E+2"), shanghai) == "100"
    assert json_value(datetime(2024, 5, 1, 10, 0), shanghai) == "2024-05-01T02:00:00+00:00"
    assert json_value(datetime(2024, 5, 1, 10, 0, tzinfo=UTC), shanghai) == "2024-05-01T10:00:00+00:00"
    assert json_value(date(2024, 5, 1), shanghai) == "2024-05-01"
    assert json_value("物料", shanghai) == "物料"
    assert json_value(b"\xe7\x89\xa9", shanghai) == "物"
    with pytest.raises(ValidationError, match="unknown time zone"):
        SqlSettings.model_validate({"url": "sqlite://", "timezone": "Mars/Base", "streams": {}})


def test_rows_are_streamed_from_a_server_side_cursor(source: Source, make: Make) -> None:
    connector = make(source.url, page_size=2)
    seen: list[tuple[bool, str]] = []

    @event.listens_for(connector.engine, "before_cursor_execute")
    def remember(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "inventory" in statement:
            seen.append((bool(conn.get_execution_options().get("stream_results")), type(cursor).__name__))

    pages = connector.fetch("stock", None)
    assert len(next(pages).records) == 2  # the first page is out before the rest is read
    pages.close()
    assert seen[0][0]
    if source.backend == "mysql":
        assert seen[0][1] == "SSCursor"  # unbuffered: rows come off the socket as pages are taken
