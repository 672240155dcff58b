"""A worker process for the crash tests, on the store at URL (stream erp/stock, two pages).

    python -m tests.sync.lease_worker URL hang      lands the first page, says so, then hangs
    python -m tests.sync.lease_worker URL run       runs the stream once and says how it went
    python -m tests.sync.lease_worker URL service   starts the service (no streams) and stops it

Each says what happened on one stdout line starting with ``RESULT``, as JSON.
"""

from __future__ import annotations

import json
import sys
import time

from store.db import make_engine
from sync.engine import RunResult, StreamJob, run_stream
from tests.sync.fakes import ListSource, plain_mapper
from tests.sync.test_engine import stock_row


def say(**what: object) -> None:
    print("RESULT", json.dumps(what), flush=True)


class NoWork:
    """Work for a service that schedules nothing."""

    def run_stream(self, connector: str, stream: str) -> None: ...

    def run_task(self, name: str) -> None: ...

    def drain_outbox(self, topic: str) -> None: ...

    def close(self) -> None: ...


def main(url: str, mode: str) -> None:
    engine = make_engine(url)
    if mode == "service":
        from sync.executor import ThreadExecutor
        from sync.scheduler import Service

        service = Service(engine, ThreadExecutor(NoWork()), outbox=False)
        service.start()
        service.stop()
        say(started=True)
        return
    source = ListSource("erp", {"stock": [stock_row(i, 10 * i, f"t{i}") for i in range(1, 7)]}, size=3)

    def hang_after_the_first_page(result: RunResult) -> None:
        say(landed=result.pages, run=result.run_id)
        time.sleep(3600)  # until killed: the lease is held and the run is running

    job = StreamJob(source, "stock", plain_mapper("stock"))
    result = run_stream(engine, job, on_page=hang_after_the_first_page if mode == "hang" else None)
    say(status=result.status, run=result.run_id, pages=result.pages)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
