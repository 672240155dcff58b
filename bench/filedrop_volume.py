"""A big dropped stock list: peak memory and time of importing it, and of holding it whole.

    python bench/filedrop_volume.py [--rows 300000] [--page-size 5000] [--xlsx]

Writes a CSV (or, with ``--xlsx``, an Excel workbook) of ``--rows`` rows, imports it with the
file connector and the real engine into a fresh SQLite store, and prints the peak memory of
the import (tracemalloc) next to the peak of holding all the file's records at once, the ratio
of the two, the rows per second and how many stock rows landed. The import runs with SQLite's
limit on bound parameters lowered to 999 (its oldest default), so it also shows that a page
larger than the limit lands. Target: the import's peak stays far below a quarter of the whole
file's, whatever ``--rows`` (a CSV's peak is that of a few pages).
"""

from __future__ import annotations

import argparse
import csv
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
from sqlalchemy import event, func, select

from connectors.filedrop import FileDropConnector, FileDropSettings
from connectors.filetable import FileTable
from mapping.fieldmap import FieldMap
from mapping.pipeline import Mapper
from mapping.records import StockLevel
from store.db import make_engine
from store.locations import LocationSpec, apply_locations
from store.migrate import upgrade
from store.models import StockLevel as StockRow
from sync.engine import StreamJob, run_stream
from sync.mapper import StreamMapper

HEADER = ["物料编码", "仓库", "数量", "备注"]
COLUMNS = {"物料编码": "sku", "仓库": "location", "数量": "qty"}
STOCK_MAP = {"sku": "sku", "location": "location", "on_hand": {"path": "qty", "convert": ["int"]}}


def write_file(folder: Path, rows: int, xlsx: bool) -> Path:
    data = ([f"SKU-{n:07d}", "WH-A", n % 97, "整箱"] for n in range(rows))
    if xlsx:
        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet("库存")
        sheet.append(HEADER)
        for row in data:
            sheet.append(row)
        path = folder / "big.xlsx"
        book.save(path)
    else:
        path = folder / "big.csv"
        with path.open("w", encoding="utf-8-sig", newline="") as f:
            out = csv.writer(f)
            out.writerow(HEADER)
            out.writerows(data)
    return path


def peak(work: Callable[[], Any]) -> tuple[int, float]:
    """Peak traced bytes and seconds of ``work()``."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        work()
        return tracemalloc.get_traced_memory()[1], time.perf_counter() - started
    finally:
        tracemalloc.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--page-size", type=int, default=5000)
    parser.add_argument("--xlsx", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "drop"
        folder.mkdir()
        path = write_file(folder, args.rows, args.xlsx)
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")

        @event.listens_for(engine, "connect")
        def _oldest_limit(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
            dbapi_conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)

        upgrade(engine)
        apply_locations(engine, [LocationSpec("WH-A", "South A", "distributor")])
        settings = FileDropSettings(
            folder=folder, columns=COLUMNS, required=["sku", "location", "qty"], numeric=["qty"], min_age_s=0
        ).model_copy(update={"page_size": args.page_size})
        connector = FileDropConnector("bench", settings)
        mapper = StreamMapper(
            "bench", Mapper(StockLevel, FieldMap.compile(STOCK_MAP, StockLevel)), ("sku", "location")
        )
        job = StreamJob(connector, "stock", mapper)

        codec = None if args.xlsx else "utf-8-sig"
        whole, _ = peak(lambda: list(FileTable(path, settings).records(codec)))
        imported, seconds = peak(lambda: run_stream(engine, job))
        with engine.connect() as conn:
            landed = conn.execute(select(func.count()).select_from(StockRow)).scalar_one()
        engine.dispose()
    print(f"rows {args.rows:,} in {path.name}, pages of {args.page_size:,}")
    print(f"holding every record: peak {whole / 2**20:8.1f} MiB")
    print(f"importing in pages:   peak {imported / 2**20:8.1f} MiB ({imported / whole:.3f} of it)")
    print(f"{args.rows / seconds:,.0f} rows/s under tracemalloc; {landed:,} stock rows landed")
    return 0 if landed == args.rows and imported < whole / 4 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
