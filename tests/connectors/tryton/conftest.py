"""A throwaway Tryton server on SQLite, started once per session, with a company, stock and products.

The database with the ``sale`` and ``stock`` modules takes about a minute to build, so it is built
once per trytond version into pytest's cache (``.pytest_cache/d/tryton-db``; ``--cache-clear``
rebuilds it) and copied for each session. Each session then creates, over RPC: a currency, a
company for ``admin``, the least accounting a confirmed sale needs (a receivable account and an
accounting product category with a revenue account), a "Box of 6" unit, the products ``WID-1``
(unit), ``BOX-6`` (stocked in units, sold by the box of 6) and ``KG-1`` (kilograms), a second
warehouse ``WH2``, and stock received from the supplier location.

Everything is skipped, saying why, when ``trytond`` is not installed (``pip install -e '.[tryton]'``).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

DATABASE = "erpsync"
PASSWORD = "admin-secret"
# Bump when the cached database should be rebuilt (modules or build steps change).
RECIPE = "sale-stock-1"


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_config(directory: Path, port: int) -> Path:
    config = directory / "trytond.conf"
    config.write_text(
        f"[database]\nuri = sqlite://\npath = {directory}\n\n[web]\nlisten = 127.0.0.1:{port}\n"
    )
    return config


def _build_database(target: Path) -> None:
    """Create the database file with sale + stock activated, then move it to ``target`` at once."""
    with tempfile.TemporaryDirectory(prefix="tryton-build-") as tmp:
        directory = Path(tmp)
        config = _write_config(directory, _free_port())
        (directory / f"{DATABASE}.sqlite").touch()  # SQLite databases must exist before trytond-admin
        (directory / "password").write_text(PASSWORD)
        command = [_bin("trytond-admin"), "-c", str(config), "-d", DATABASE, "-u", "sale", "stock"]
        command += ["--activate-dependencies", "--no-indexes", "--email", "admin@example.com"]
        env = {**os.environ, "TRYTONPASSFILE": str(directory / "password")}
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            pytest.fail(f"trytond-admin failed ({done.returncode}):\n{done.stderr[-3000:]}")
        partial = target.with_name(f"{target.name}.{os.getpid()}.partial")  # concurrent builds
        shutil.copyfile(directory / f"{DATABASE}.sqlite", partial)
        partial.replace(target)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"trytond exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    pytest.fail(f"trytond did not listen on port {port} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


class Rpc:
    """A JSON-RPC client independent of the connector, using Tryton's own JSON encoder and decoder."""

    def __init__(self, url: str, login: str = "admin", password: str = PASSWORD) -> None:
        from trytond.protocols.jsonrpc import JSONDecoder, JSONEncoder  # type: ignore[import-untyped]

        self.url, self._encoder, self._decoder = f"{url}/{DATABASE}/rpc/", JSONEncoder, JSONDecoder()
        self._ids = itertools.count(1)
        self.session = requests.Session()
        user_id, token = self.post("common.db.login", login, {"password": password}, "en")[:2]
        session = base64.b64encode(f"{login}:{user_id}:{token}".encode()).decode()
        self.session.headers["Authorization"] = f"Session {session}"
        self.context: dict[str, Any] = {}

    def post(self, method: str, *params: Any) -> Any:
        body = json.dumps({"id": next(self._ids), "method": method, "params": params}, cls=self._encoder)
        response = self.session.post(self.url, data=body, headers={"Content-Type": "application/json"})
        response.raise_for_status()
        reply = json.loads(response.text, object_hook=self._decoder)
        assert "error" not in reply, reply["error"]
        return reply["result"]

    def __call__(self, method: str, *params: Any, **context: Any) -> Any:
        """``model.<method>`` called with the user's context plus ``context``."""
        return self.post(f"model.{method}", *params, {**self.context, **context})

    def preferences(self) -> None:
        self.context = self.post("model.res.user.get_preferences", True, {})


@dataclass
class Tryton:
    """The running server and what the session created in it."""

    url: str
    rpc: Rpc
    ids: dict[str, int] = field(default_factory=dict)
    seeded_at: float = 0.0

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Connector settings for this server (``admin``), with ``overrides``."""
        base = {"url": self.url, "database": DATABASE, "username": "admin", "password": PASSWORD}
        return {**base, **overrides}

    def receive(self, product: str, quantity: float, unit: str = "unit", to: str = "storage") -> None:
        """Move stock from the supplier to a storage location and mark it done."""
        values: dict[str, Any] = {"product": self.ids[product], "quantity": quantity, "unit": self.ids[unit]}
        values |= {
            "from_location": self.ids["supplier"],
            "to_location": self.ids[to],
            "company": self.ids["company"],
        }
        values |= {"unit_price": Decimal("1.00"), "currency": self.ids["currency"]}
        moves = self.rpc("stock.move.create", [values])
        self.rpc("stock.move.do", moves)

    def count(self, product: str, quantity: float, location: str) -> None:
        """Confirm an inventory setting ``product`` in ``location`` to ``quantity`` (lowers stock too)."""
        line = {"product": self.ids[product], "quantity": quantity}
        inventory = {"location": self.ids[location], "company": self.ids["company"], "date": date.today()}
        inventories = self.rpc("stock.inventory.create", [{**inventory, "lines": [["create", [line]]]}])
        self.rpc("stock.inventory.confirm", inventories)

    def quantities(self, warehouse: str) -> dict[str, float]:
        """Tryton's own ``quantity`` of every product with a code in ``warehouse``."""
        rows = self.rpc(
            "product.product.search_read",
            [["code", "!=", None]],
            0,
            None,
            None,
            ["code", "quantity"],
            locations=[self.ids[warehouse]],
        )
        return {row["code"]: row["quantity"] for row in rows}

    def settle(self) -> None:
        """Wait until a second has passed since seeding.

        The products cursor is capped at the read's start, which the server's ``Date`` header gives
        to the second: a read within the seeding's second would start before the seeded products.
        """
        time.sleep(max(0.0, self.seeded_at + 1.1 - time.time()))


def _accounts(rpc: Rpc, company: int) -> int:
    """The least accounting a confirmed sale needs to invoice: receivable and revenue accounts.

    Returns the accounting product category that carries the revenue account.
    """
    receivable_type, revenue_type = rpc(
        "account.account.type.create",
        [
            {
                "name": "Receivable",
                "company": company,
                "statement": "balance",
                "assets": True,
                "receivable": True,
            },
            {"name": "Revenue", "company": company, "statement": "income", "revenue": True},
        ],
    )
    receivable, revenue = rpc(
        "account.account.create",
        [
            {
                "name": "Receivable",
                "company": company,
                "type": receivable_type,
                "reconcile": True,
                "party_required": True,
            },
            {"name": "Revenue", "company": company, "type": revenue_type},
        ],
    )
    rpc("account.configuration.write", [1], {"default_account_receivable": receivable})
    (category,) = rpc(
        "product.category.create", [{"name": "Goods", "accounting": True, "account_revenue": revenue}]
    )
    return int(category)


def _seed(rpc: Rpc) -> dict[str, int]:
    ids: dict[str, int] = {}
    currency = {
        "name": "Yuan Renminbi",
        "code": "CNY",
        "symbol": "¥",
        "digits": 2,
        "rounding": Decimal("0.01"),
    }
    (ids["currency"],) = rpc("currency.currency.create", [currency])
    ids["company_party"], ids["customer"] = rpc(
        "party.party.create", [{"name": "Erpsync Co"}, {"name": "Shop"}]
    )
    (ids["company"],) = rpc(
        "company.company.create", [{"party": ids["company_party"], "currency": ids["currency"]}]
    )
    rpc("res.user.write", [1], {"companies": [["add", [ids["company"]]]], "company": ids["company"]})
    rpc.preferences()
    uoms = rpc(
        "product.uom.search_read", [["symbol", "in", ["u", "kg"]]], 0, None, None, ["symbol", "category"]
    )
    unit = next(u for u in uoms if u["symbol"] == "u")
    ids["unit"], ids["kg"] = unit["id"], next(u["id"] for u in uoms if u["symbol"] == "kg")
    box = {"name": "Box of 6", "symbol": "bx6", "category": unit["category"], "factor": 6.0}
    (ids["box"],) = rpc("product.uom.create", [{**box, "rate": round(1 / 6, 12), "rounding": 1.0}])
    ids["accounting"] = _accounts(rpc, ids["company"])
    templates = [
        ("WID", "-1", "Widget", "unit", "unit"),
        ("BOX", "-6", "Boxed thing", "unit", "box"),
        ("KG", "-1", "Sugar", "kg", "kg"),
    ]
    for code, suffix, name, stock_unit, sale_unit in templates:  # one transaction each: distinct write dates
        template = {"name": name, "code": code, "type": "goods", "default_uom": ids[stock_unit]}
        template |= {"salable": True, "sale_uom": ids[sale_unit], "list_price": Decimal("10")}
        template["account_category"] = ids["accounting"]
        template["products"] = [["create", [{"suffix_code": suffix}]]]
        (template_id,) = rpc("product.template.create", [template])
        (ids[f"{code}{suffix}"],) = rpc(
            "product.product.search", [["template", "=", template_id]], 0, 1, None
        )
    locations = rpc("stock.location.search_read", [], 0, None, None, ["code", "type", "storage_location"])
    by_code = {row["code"]: row for row in locations}
    ids["WH"], ids["storage"], ids["supplier"] = (
        by_code["WH"]["id"],
        by_code["WH"]["storage_location"],
        by_code["SUP"]["id"],
    )
    (ids["storage2"],) = rpc(
        "stock.location.create", [{"name": "South storage", "code": "ST2", "type": "storage"}]
    )
    south: dict[str, Any] = {"name": "South", "code": "WH2", "type": "warehouse"}
    south |= dict.fromkeys(("storage_location", "input_location", "output_location"), ids["storage2"])
    south["lost_found_location"] = next(row["id"] for row in locations if row["type"] == "lost_found")
    (ids["WH2"],) = rpc("stock.location.create", [south])
    return ids


@pytest.fixture(scope="session")
def tryton(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tryton]:
    """A running Tryton server with the session's data (see the module docstring)."""
    trytond = pytest.importorskip(
        "trytond", reason="the Tryton tests need trytond: pip install -e '.[tryton]'"
    )
    cache_plugin = getattr(request.config, "cache", None)  # absent with -p no:cacheprovider
    cache = Path(cache_plugin.mkdir("tryton-db") if cache_plugin else tmp_path_factory.mktemp("tryton-db"))
    cached = cache / f"{DATABASE}-{trytond.__version__}-{RECIPE}.sqlite"
    if not cached.exists():
        _build_database(cached)
    directory = tmp_path_factory.mktemp("tryton")
    shutil.copyfile(cached, directory / f"{DATABASE}.sqlite")
    port = _free_port()
    config = _write_config(directory, port)
    log = directory / "trytond.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [_bin("trytond"), "-c", str(config), "-d", DATABASE], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait_for_port(port, process, log)
        url = f"http://127.0.0.1:{port}"
        rpc = Rpc(url)
        server = Tryton(url, rpc, _seed(rpc))
        server.receive("WID-1", 10)
        server.receive("BOX-6", 3, unit="box")  # 18 units
        server.receive("KG-1", 2.5, unit="kg")
        server.receive("WID-1", 4, to="storage2")
        server.seeded_at = time.time()
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
