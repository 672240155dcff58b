"""A stock API on 127.0.0.1 for CLI tests: answers ``GET /stock`` with the items it holds."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STOCK_CONFIG = """\
database: {{url: "{db}"}}
logging: {{level: warning}}
locations: [{{code: WH, name: Warehouse, kind: warehouse}}]
connectors:
  - name: erp
    kind: rest
    settings:
      base_url: http://127.0.0.1:{port}/
      streams: {{stock: {{path: stock, record_path: items, primary_key: [sku]}}}}
    streams:
      stock:
        mapping: {{sku: sku, location: {{const: WH}}, on_hand: {{path: qty, convert: [int]}}}}
"""


@contextmanager
def stock_api(items: list[dict[str, Any]]) -> Iterator[int]:
    """Serve ``items`` (change the list to change the answer); yields the port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"items": items}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
