"""A small ERP and a sales channel served over real HTTP on 127.0.0.1, with changing data.

Used by ``make demo`` (``erpsync.demo``) to show erpsync end to end without any outside
system. Both speak plain JSON REST, which the generic ``rest`` connector reads:

- ERP (bearer token): ``GET /erp/products?page=N&per_page=M`` (page numbers, ``X-Total-Pages``)
  and ``GET /erp/stock?updated_since=T&cursor=C`` (records sorted by ``updated_at``, a
  ``next_cursor`` token in the body).
- Shop (API key header ``X-Shop-Key``): ``GET /shop/orders?updated_at_min=T&limit=N`` sorted
  by ``updated_at``, paged with an RFC 5988 ``Link: <…>; rel="next"`` header (``page_info``); stock it shows,
  set with ``POST /shop/stock/push`` (compare-and-set on ``expected``) and read back with
  ``GET /shop/stock?skus=a,b``.

A background thread moves stock and places or edits orders every ``tick`` seconds. The paging
tokens name the last row read (its change time and identity), as real cursor APIs do, so a row
changed while a client pages through is read at the end rather than skipped.
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

ERP_TOKEN = "demo-erp-token"  # noqa: S105 - a demo server's fixed credential, not a secret
SHOP_KEY = "demo-shop-key"
PRODUCTS = [
    ("TEA-001", "Green tea 250 g", "box"),
    ("TEA-002", "Oolong tea 250 g", "box"),
    ("CUP-010", "Porcelain cup", "pcs"),
    ("POT-020", "Clay teapot", "pcs"),
    ("SET-100", "Gift set (pot + 4 cups)", "set"),
]
WAREHOUSES = ["WH-SH", "DS-GZ", "DS-SH"]
PROVINCES = [("上海市", "上海市", "浦东新区"), ("广东省", "广州市", "天河区"), ("广东省", "深圳市", "南山区")]


@dataclass
class SimState:
    """The simulated systems' data, guarded by one lock."""

    rng: random.Random
    clock: datetime = field(default_factory=lambda: datetime(2026, 11, 1, 8, 0, tzinfo=UTC))
    stock: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    shown: dict[str, int] = field(default_factory=dict)  # what the shop shows, by its own SKU
    pushes: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def tick_time(self) -> str:
        self.clock += timedelta(seconds=1)
        return self.clock.isoformat().replace("+00:00", "Z")

    def seed(self) -> None:
        for code, _name, _unit in PRODUCTS:
            for wh in WAREHOUSES:
                qty = self.rng.randint(20, 200) if wh == "WH-SH" else self.rng.randint(0, 40)
                self.stock[(code, wh)] = {
                    "item_code": code,
                    "warehouse": wh,
                    "qty": qty,
                    "updated_at": self.tick_time(),
                }
        for _ in range(6):
            self.new_order()

    def new_order(self) -> None:
        oid = 450789469 + len(self.orders)
        province, city, district = self.rng.choice(PROVINCES)
        # The shop sells cups in packs of 6 under its own SKU; one listing has no binding yet.
        sku, price = self.rng.choice(
            [("TEA-001", "59.00"), ("CUP-6PK", "90.00"), ("POT-020", "199.00"), ("MUG-X", "25.00")]
        )
        stamp = self.tick_time()
        quantity = self.rng.randint(1, 3)
        self.orders[oid] = {
            "id": oid,
            "name": f"#{1001 + len(self.orders)}",
            "created_at": stamp,
            "updated_at": stamp,
            "financial_status": "paid",
            "currency": "CNY",
            "total_price": f"{float(price) * quantity:.2f}",
            "line_items": [{"id": oid * 10, "sku": sku, "quantity": quantity, "price": price}],
            "shipping_address": {
                "name": "王小明",
                "phone": "13800000000",
                "province": province,
                "city": city,
                "district": district,
                "address1": "科技路 1 号",
                "zip": "200120",
                "country_code": "CN",
            },
        }

    def step(self) -> None:
        with self.lock:
            for _ in range(2):
                key = self.rng.choice(list(self.stock))
                row = self.stock[key]
                row["qty"] = max(0, row["qty"] + self.rng.randint(-15, 10))
                row["updated_at"] = self.tick_time()
            if self.rng.random() < 0.7:
                self.new_order()
            else:
                order = self.orders[self.rng.choice(list(self.orders))]
                line = order["line_items"][0]
                line["quantity"] += 1
                order["total_price"] = f"{float(line['price']) * line['quantity']:.2f}"
                order["updated_at"] = self.tick_time()


def _ident(row: dict[str, Any]) -> str:
    return str(row["id"]) if "id" in row else f"{row['item_code']}@{row['warehouse']}"


def _page(
    rows: list[dict[str, Any]], since: str | None, key: str, after: str | None, size: int
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of ``rows`` changed since ``since``, after the token ``after``; the next token.

    The token is the last row's (change time, identity), as the cursors of the real APIs are, not an
    offset: a row changed while a client pages moves to the end of the list and is read there,
    instead of shifting the rows after it so that one is never read.
    """
    ordered = sorted((r for r in rows if since is None or r[key] >= since), key=lambda r: (r[key], _ident(r)))
    if after is not None:
        stamp, _, ident = after.partition("|")
        ordered = [r for r in ordered if (r[key], _ident(r)) > (stamp, ident)]
    chunk = ordered[:size]
    more = len(ordered) > size
    return chunk, f"{chunk[-1][key]}|{_ident(chunk[-1])}" if more else None


class _Handler(BaseHTTPRequestHandler):
    state: SimState
    page_size = 4

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        with self.state.lock:
            if url.path.startswith("/erp/"):
                if self.headers.get("Authorization") != f"Bearer {ERP_TOKEN}":
                    return self._send(401, {"error": "invalid token"})
                return self._erp(url.path, query)
            if url.path.startswith("/shop/"):
                if self.headers.get("X-Shop-Key") != SHOP_KEY:
                    return self._send(401, {"errors": "[API] Invalid API key"})
                if url.path == "/shop/orders":
                    return self._orders(query)
                if url.path == "/shop/stock":
                    skus = [s for s in query.get("skus", "").split(",") if s]
                    items = [
                        {"sku": s, "quantity": self.state.shown[s]} for s in skus if s in self.state.shown
                    ]
                    return self._send(200, {"items": items})
        return self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        url = urlparse(self.path)
        if url.path != "/shop/stock/push":
            return self._send(404, {"error": "not found"})
        if self.headers.get("X-Shop-Key") != SHOP_KEY:
            return self._send(401, {"errors": "[API] Invalid API key"})
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        results = []
        with self.state.lock:
            for update in body.get("updates", []):
                sku, current = update["sku"], self.state.shown.get(update["sku"])
                if (
                    update.get("expected") is not None
                    and current is not None
                    and current != update["expected"]
                ):
                    results.append({"sku": sku, "status": "conflict", "actual": current})
                    continue
                self.state.shown[sku] = int(update["quantity"])
                self.state.pushes.append(update)
                results.append({"sku": sku, "status": "ok", "actual": self.state.shown[sku]})
        return self._send(200, {"results": results})

    def _erp(self, path: str, query: dict[str, str]) -> None:
        if path == "/erp/products":
            page, per_page = int(query.get("page", 1)), int(query.get("per_page", 50))
            items = [
                {"code": c, "name": n, "unit": u, "barcode": f"69{i:011d}"}
                for i, (c, n, u) in enumerate(PRODUCTS)
            ]
            pages = max(1, -(-len(items) // per_page))
            chunk = items[(page - 1) * per_page : page * per_page]
            return self._send(200, {"data": chunk}, {"X-Total-Pages": str(pages)})
        if path == "/erp/stock":
            chunk, nxt = _page(
                list(self.state.stock.values()),
                query.get("updated_since"),
                "updated_at",
                query.get("cursor"),
                self.page_size,
            )
            return self._send(200, {"items": chunk, "next_cursor": nxt})
        return self._send(404, {"error": "not found"})

    def _orders(self, query: dict[str, str]) -> None:
        chunk, after = _page(
            list(self.state.orders.values()),
            query.get("updated_at_min"),
            "updated_at",
            query.get("page_info"),
            int(query.get("limit", 5)),
        )
        headers = {}
        if after is not None:
            nxt = {**query, "page_info": after}
            headers["Link"] = f'<http://{self.headers["Host"]}/shop/orders?{urlencode(nxt)}>; rel="next"'
        return self._send(200, {"orders": chunk}, headers)


class Simulator:
    """The ERP and shop servers plus the thread that changes their data."""

    def __init__(self, port: int = 0, tick: float = 1.0, seed: int = 7) -> None:
        self.state = SimState(random.Random(seed))  # noqa: S311 - demo data, not security
        self.state.seed()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.tick = tick
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Simulator:
        self._threads = [
            threading.Thread(target=self.server.serve_forever, daemon=True),
            threading.Thread(target=self._churn, daemon=True),
        ]
        for t in self._threads:
            t.start()
        return self

    def _churn(self) -> None:
        while not self._stop.wait(self.tick):
            self.state.step()

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
