"""Throughput and memory of the sync path, measured in one run and printed as ratios.

    python bench/sync_throughput.py [--rows 100000] [--url mysql+pymysql://root@127.0.0.1:3306/bench]

1. per-row ORM merge (what not to do), on a slice of the rows;
2. batched upsert of stock rows, 1,000 per statement (the floor the engine builds on);
3. the whole path: HTTP page from a local server -> REST connector -> field map -> reconcile
   with ledger -> commit with the cursor, through ``sync.engine.run_stream``.

Prints rows/s for each and the ratio whole-path / batched (target: >= 0.5), then the peak
Python memory of the whole path for N and 4N rows (flat in catalog size: ratio close to 1).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from connectors.rest import RestConnector, RestSettings
from core.statuses import RunStatus
from mapping.fieldmap import FieldMap
from mapping.pipeline import Mapper
from mapping.records import StockLevel as StockRecord
from store.db import make_engine
from store.locations import LocationSpec, apply_locations
from store.migrate import upgrade
from store.models import StockLevel
from store.upsert import NEW, increment, upsert
from sync.engine import StreamJob, run_stream
from sync.mapper import StreamMapper

PAGE = 1000
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def stock_row(i: int, rows: int) -> dict[str, Any]:
    return {
        "item": f"SKU-{i:07d}",
        "wh": "WH1",
        "qty": (i * 7) % 500,
        "updated_at": (T0 + timedelta(seconds=i)).isoformat(),
    }


def _serve_forever(rows: int, ready: Any) -> None:
    server = _make_server(rows)
    ready.put(server.server_address[1])
    server.serve_forever()


def serve(rows: int) -> tuple[str, multiprocessing.Process]:
    """The source system in its own process (as a real one would be): its URL and the process."""
    ready: Any = multiprocessing.Queue()
    proc = multiprocessing.Process(target=_serve_forever, args=(rows, ready), daemon=True)
    proc.start()
    return f"http://127.0.0.1:{ready.get(timeout=30)}/", proc


def _make_server(rows: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            offset = int(query.get("offset", ["0"])[0])
            items = [stock_row(i, rows) for i in range(offset, min(offset + PAGE, rows))]
            nxt = offset + PAGE if offset + PAGE < rows else None
            body = json.dumps({"items": items, "next": nxt}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def fresh_engine(url: str | None, tag: str) -> Engine:
    if url is None:
        path = Path(tempfile.mkdtemp()) / f"{tag}.db"
        engine = make_engine(f"sqlite:///{path}")
    else:
        base = make_url(url)
        name = f"{base.database or 'bench'}_{tag}"
        admin = make_engine(base.set(database=""))
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
            conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"))
        admin.dispose()
        engine = make_engine(base.set(database=name))
    upgrade(engine)
    apply_locations(engine, [LocationSpec("WH1", "Warehouse", "warehouse")])
    return engine


def bench_orm(engine: Engine, rows: int) -> float:
    start = time.perf_counter()
    with Session(engine) as session:
        for i in range(rows):
            r = stock_row(i, rows)
            session.merge(
                StockLevel(
                    sku=r["item"],
                    location_id=1,
                    on_hand=r["qty"],
                    reserved=0,
                    version=1,
                    updated_at=datetime.now(UTC),
                )
            )
            session.commit()
    return rows / (time.perf_counter() - start)


def bench_upsert(engine: Engine, rows: int) -> float:
    start = time.perf_counter()
    for offset in range(0, rows, PAGE):
        now = datetime.now(UTC)
        batch = [
            {
                "sku": r["item"],
                "location_id": 1,
                "on_hand": r["qty"],
                "reserved": 0,
                "version": 1,
                "source": "bench",
                "updated_at": now,
            }
            for r in (stock_row(i, rows) for i in range(offset, min(offset + PAGE, rows)))
        ]
        with engine.begin() as conn:
            upsert(
                conn,
                StockLevel,
                batch,
                key=["sku", "location_id"],
                update={"on_hand": NEW, "updated_at": NEW, "version": increment(StockLevel.version)},
            )
    return rows / (time.perf_counter() - start)


def bench_whole_path(engine: Engine, rows: int) -> tuple[float, int]:
    url, proc = serve(rows)
    settings = RestSettings.model_validate(
        {
            "base_url": url,
            "streams": {
                "stock": {
                    "path": "stock",
                    "record_path": "items",
                    "primary_key": ["item", "wh"],
                    "cursor_field": "updated_at",
                    "cursor_param": "since",
                    "paginator": {"type": "cursor", "token_path": "next", "param": "offset"},
                }
            },
        }
    )
    connector = RestConnector("erp", settings)
    fieldmap = FieldMap.compile(
        {
            "sku": "item",
            "location": "wh",
            "on_hand": {"path": "qty", "convert": ["int"]},
            "as_of": {"path": "updated_at", "convert": ["datetime"]},
        },
        StockRecord,
    )
    job = StreamJob(connector, "stock", StreamMapper("erp", Mapper(StockRecord, fieldmap), ("item", "wh")))
    tracemalloc.start()
    start = time.perf_counter()
    result = run_stream(engine, job)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    proc.terminate()
    if result.status != RunStatus.OK or result.changed != rows:
        raise RuntimeError(f"the run did not land every row: {result}")
    return rows / elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--url", help="MySQL/MariaDB server URL (default: SQLite in a temp dir)")
    args = parser.parse_args()
    backend = "MySQL/MariaDB" if args.url else "SQLite"
    orm_rows = max(1000, args.rows // 20)
    orm = bench_orm(fresh_engine(args.url, "orm"), orm_rows)
    batched = bench_upsert(fresh_engine(args.url, "upsert"), args.rows)
    whole, peak = bench_whole_path(fresh_engine(args.url, "whole"), args.rows)
    _, peak4 = bench_whole_path(fresh_engine(args.url, "whole4"), args.rows * 4)
    print(f"backend: {backend}, rows: {args.rows} (ORM: {orm_rows}), page size {PAGE}")
    print(f"per-row ORM merge       {orm:10,.0f} rows/s")
    print(f"batched upsert          {batched:10,.0f} rows/s   ({batched / orm:.1f}x ORM)")
    print(f"whole path (HTTP->DB)   {whole:10,.0f} rows/s")
    print(f"ratio whole/batched     {whole / batched:10.2f}      (target >= 0.5)")
    print(
        f"peak memory N={args.rows}: {peak / 1e6:.1f} MB; 4N: {peak4 / 1e6:.1f} MB; "
        f"ratio {peak4 / peak:.2f} (flat ~ 1)"
    )


if __name__ == "__main__":
    main()
