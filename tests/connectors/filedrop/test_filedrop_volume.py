"""Big files: read in pages with flat memory, landed within the database's parameter limit, and an
import interrupted between two pages of one file goes on where it stopped."""

from __future__ import annotations

import csv
import sqlite3
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine, event, func, select

from connectors.filedrop import FileDropConnector, FileDropSettings
from mapping.fieldmap import FieldMap
from mapping.pipeline import Mapper
from mapping.records import StockLevel
from store import batching
from store.db import make_engine
from store.locations import LocationSpec, apply_locations
from store.migrate import upgrade
from store.models import StockLevel as StockRow
from store.models import StockMovement
from sync.engine import RunResult, StreamJob, run_stream
from sync.mapper import StreamMapper
from tests.conftest import BACKENDS, _wipe
from tests.connectors.filedrop.files import COLUMNS, HEADER, aged, write_xlsx

STOCK_MAP = {"sku": "sku", "location": "location", "on_hand": {"path": "qty", "convert": ["int"]}}
LIMIT = 250  # bound parameters a statement may carry in these tests (SQLite's oldest default is 999)


def write_rows(path: Path, count: int, qty: int = 1) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(HEADER)
        out.writerows([f"SKU-{n:07d}", "WH-A", qty + n % 7, "备注"] for n in range(count))
    return aged(path, 60)


def job(folder: Path, page_size: int) -> StreamJob:
    settings = FileDropSettings(
        folder=folder, columns=COLUMNS, required=["sku", "location", "qty"], numeric=["qty"], min_age_s=0
    )
    settings = settings.model_copy(update={"page_size": page_size})
    mapper = Mapper(StockLevel, FieldMap.compile(STOCK_MAP, StockLevel))
    return StreamJob(
        FileDropConnector("south", settings), "stock", StreamMapper("south", mapper, ("sku", "location"))
    )


def counts(store: Engine) -> tuple[int, int, int]:
    """Stock rows, ledger lines, and SKUs with more than one ledger line."""
    with store.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(StockRow)).scalar_one()
        moves = conn.execute(select(func.count()).select_from(StockMovement)).scalar_one()
        twice = conn.execute(
            select(func.count()).select_from(
                select(StockMovement.sku).group_by(StockMovement.sku).having(func.count() > 1).subquery()
            )
        ).scalar_one()
    return int(rows), int(moves), int(twice)


@pytest.fixture(params=BACKENDS)
def limited_store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    """A store whose statements may carry at most LIMIT parameters: SQLite's own limit lowered,
    and on MySQL a statement with more refused before it is sent."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'limited.db'}")

        @event.listens_for(engine, "connect")
        def _lower_limit(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
            dbapi_conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, LIMIT)

        upgrade(engine)
        apply_locations(engine, [LocationSpec("WH-A", "South A", "distributor")])
        yield engine
        engine.dispose()
        return
    engine = request.getfixturevalue("_migrated_mysql")
    _wipe(engine)
    monkeypatch.setattr(batching, "MYSQL_SLICE", LIMIT - batching.RESERVED_PARAMS)

    def _refuse(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if not many and len(params or ()) > LIMIT:
            raise AssertionError(f"{len(params)} bound parameters in one statement: {statement[:80]}")

    event.listen(engine, "before_cursor_execute", _refuse)
    apply_locations(engine, [LocationSpec("WH-A", "South A", "distributor")])
    yield engine
    event.remove(engine, "before_cursor_execute", _refuse)


def test_a_page_far_beyond_the_parameter_limit_lands(tmp_path: Path, limited_store: Engine) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    write_rows(drop / "big.csv", 6 * LIMIT)
    result = run_stream(limited_store, job(drop, page_size=10 * LIMIT))
    assert (result.status, result.pages, result.records_in, result.changed) == ("ok", 1, 6 * LIMIT, 6 * LIMIT)
    assert counts(limited_store) == (6 * LIMIT, 6 * LIMIT, 0)
    again = run_stream(limited_store, job(drop, page_size=10 * LIMIT))  # files it; nothing twice
    assert (again.pages, counts(limited_store)) == (0, (6 * LIMIT, 6 * LIMIT, 0))


class Crash(Exception):
    pass


def test_a_crash_between_two_pages_of_one_file_neither_loses_nor_repeats_a_row(
    tmp_path: Path, limited_store: Engine
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    write_rows(drop / "big.csv", 10)

    def crash_after_two_pages(result: RunResult) -> None:
        if result.pages == 2:
            raise Crash("killed after the second page of big.csv committed")

    with pytest.raises(Crash):
        run_stream(limited_store, job(drop, page_size=3), on_page=crash_after_two_pages)
    assert counts(limited_store) == (6, 6, 0)

    rerun = run_stream(limited_store, job(drop, page_size=3))  # the rows after the sixth only
    assert (rerun.status, rerun.pages, rerun.records_in) == ("ok", 2, 4)
    assert counts(limited_store) == (10, 10, 0)

    last = run_stream(limited_store, job(drop, page_size=3))
    assert (last.pages, counts(limited_store)) == (0, (10, 10, 0))
    assert not (drop / "big.csv").exists()
    assert len(list((drop / "done").glob("big.*.csv"))) == 1


def peak_bytes(work: Any) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def fetch_peak(folder: Path, page_size: int) -> int:
    """Peak memory of reading every page of the folder's files (pages are dropped as they come)."""
    connector = job(folder, page_size).connector
    pages: list[int] = []
    peak = peak_bytes(lambda: pages.extend(len(page.records) for page in connector.fetch("stock", None)))
    assert pages
    assert max(pages) <= page_size
    return peak


def held(path: Path) -> list[dict[str, Any]]:
    """Every row of the file as the connector's records, all at once."""
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as f:
            rows: list[Any] = list(csv.reader(f))
    else:
        book = openpyxl.load_workbook(path, read_only=True)
        rows = [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
        book.close()
    keys = ("sku", "location", "qty")
    return [
        {**{key: str(cell) for key, cell in zip(keys, row, strict=False)}, "_file": path.name, "_row": n}
        for n, row in enumerate(rows[1:], start=2)
    ]


def test_memory_stays_flat_in_the_size_of_a_csv_file(tmp_path: Path) -> None:
    big = write_rows(tmp_path / "big.csv", 10_000)
    all_records = peak_bytes(lambda: held(big))  # the file held as records
    assert fetch_peak(tmp_path, page_size=100) < all_records / 4


def test_memory_stays_flat_in_the_size_of_a_workbook(tmp_path: Path) -> None:
    # SKUs typed as numbers: Excel keeps each distinct text once, in a table read whole
    peaks, whole = [], []
    for name, rows in (("warm-up", 10), ("small", 500), ("large", 3_000)):
        (tmp_path / name).mkdir()
        data = [HEADER[:3], *([100_000 + n, "WH-A", n % 7] for n in range(rows))]
        path = write_xlsx(tmp_path / name / "stock.xlsx", data, age_s=60)
        whole.append(peak_bytes(lambda path=path: held(path)))
        peaks.append(fetch_peak(tmp_path / name, page_size=50))
    # six times the rows: holding them all grows with them; reading them in pages grows only by
    # what openpyxl keeps of each row it parsed (an emptied XML element, about 100 bytes)
    assert peaks[2] - peaks[1] < (whole[2] - whole[1]) / 2, (peaks, whole)
