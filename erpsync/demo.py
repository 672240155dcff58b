"""``make demo``: erpsync end to end on SQLite against a simulated ERP and shop.

Starts the simulator (``erpsync.simulator``) on 127.0.0.1, writes a config file and a SKU
binding CSV under ``var/demo/``, creates the schema, imports the bindings, runs the service for
a few seconds while the simulated systems change, then prints what landed: stream status,
stock levels, orders and the quarantine (one shop listing has no SKU binding on purpose).
Everything goes through the ``erpsync`` command line, as a user would type it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from cryptography.fernet import Fernet
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from erpsync.cli import run_cli
from erpsync.console import make_console
from erpsync.simulator import ERP_TOKEN, SHOP_KEY, Simulator
from store.db import make_engine
from store.models import Alert, Location, OrderLine, SalesOrder, StockLevel

WORKDIR = Path("var/demo")
RUN_SECONDS = 12

CONFIG = """\
# Written by `make demo`. Secrets come from the environment, never from this file.
database:
  url: sqlite:///{workdir}/erpsync.db
logging: {{level: warning}}
api: {{listen: "127.0.0.1:0"}}     # the HTTP API on a free port for the demo (default 127.0.0.1:8787)
security:
  encryption_key: ${{DEMO_ENCRYPTION_KEY}}   # buyer addresses are stored encrypted

locations:                       # factory → regional agent → distributors, each with its regions
  - code: WH-SH
    name: Shanghai factory warehouse
    kind: warehouse
    dispatch: {{method: csv, folder: {workdir}/dispatch/WH-SH}}
  - {{code: GA-SOUTH, name: South China general agent, kind: agent, parent: WH-SH, regions: [广东省],
     dispatch: {{method: csv, folder: {workdir}/dispatch/GA-SOUTH}}}}
  - code: DS-GZ
    name: Guangzhou distributor
    kind: distributor
    parent: GA-SOUTH
    regions: [广东省/广州市]
    dispatch: {{method: csv, folder: {workdir}/dispatch/DS-GZ}}   # no API: dispatch notes as CSV files
  - code: DS-SH
    name: Shanghai distributor
    kind: distributor
    parent: WH-SH
    regions: [上海市]
    dispatch: {{method: csv, folder: {workdir}/dispatch/DS-SH}}

routing:
  split: {{allowed: true, max_parts: 2}}
  fallback: WH-SH

connectors:
  - name: erp
    kind: rest
    settings:
      base_url: {url}/erp/
      auth: {{type: bearer, token: "${{DEMO_ERP_TOKEN}}"}}
      streams:
        products:
          path: products
          record_path: data
          primary_key: [code]
          snapshot: true
          paginator: {{type: page, size: 2, total_pages_header: X-Total-Pages}}
        stock:
          path: stock
          record_path: items
          primary_key: [item_code, warehouse]
          cursor_field: updated_at
          cursor_param: updated_since
          paginator: {{type: cursor, token_path: next_cursor, param: cursor}}
    streams:
      products:
        every: 5s
        jitter: 0s
        mapping: {{sku: code, name: name, uom: unit, barcode: barcode}}
      stock:
        every: 2s
        jitter: 1s
        mapping:
          sku: item_code
          location: warehouse
          on_hand: {{path: qty, convert: [int]}}
          as_of: {{path: updated_at, convert: [datetime]}}

  - name: shop
    kind: rest
    skus: bound          # the shop's SKUs must have a binding (see skus.csv)
    settings:
      base_url: {url}/shop/
      auth: {{type: api_key, name: X-Shop-Key, value: "${{DEMO_SHOP_KEY}}", in: header}}
      stock_push: {{path: stock/push, batch: 20}}     # where the shop is told its quantities
      stock_read: {{path: stock}}                      # where they are read back (drift check)
      streams:
        orders:
          path: orders
          params: {{limit: 5}}
          record_path: orders
          primary_key: [id]
          cursor_field: updated_at
          cursor_param: updated_at_min
          paginator: {{type: link}}
    streams:
      orders:
        every: 2s
        jitter: 1s
        lag: 2s
        mapping:
          external_id: {{path: id, convert: [str]}}
          status: financial_status
          placed_at: {{path: created_at, convert: [datetime]}}
          updated_at: {{path: updated_at, convert: [datetime]}}
          currency: currency
          total: {{path: total_price, convert: [decimal]}}
          ship_to:
            path: shipping_address
            fields: {{name: name, phone: phone, province: province, city: city, district: district,
                      street: address1, postal_code: zip, country: country_code}}
          lines:
            path: line_items
            each:
              sku: sku
              qty: {{path: quantity, convert: [int]}}
              unit_price: {{path: price, convert: [decimal]}}
              external_line_id: {{path: id, convert: [str]}}
"""

ALERTS = """
alerts:
  language: zh-CN                   # message texts in Simplified Chinese (or en)
  destinations:
    - {{name: head-office, kind: email, to: [supply@factory.example]}}
  rules:
    - {{match: {{level: distributor}}, warning: 40, critical: 10, lead_time_days: 5}}
  routes:
    - {{destinations: [head-office], min_severity: warning}}
email: {{host: 127.0.0.1, port: 1, security: none}}   # no mail server in the demo: messages stay queued
"""

CHANNELS = """
channels:
  - name: shop
    sources: [WH-SH, DS-GZ]          # the warehouses that feed the shop
    rule: {{percent: 90, buffer: 1}}   # show 90 % of what is available, minus one
    overrides:
      - {{sku: CUP-010, max: 20}}      # cups: never show more than 20
    push: {{every: 2s}}
    drift: {{every: 5s}}
"""

SKUS = """\
system,external_sku,sku,uom_factor
shop,TEA-001,TEA-001,1
shop,POT-020,POT-020,1
shop,CUP-6PK,CUP-010,6
"""


def _cli(console: Console, title: str, *args: str) -> None:
    console.rule(title)
    code = run_cli(["--config", str(WORKDIR / "erpsync.yaml"), *args])
    if code != 0:
        raise SystemExit(f"`erpsync {' '.join(args)}` failed with exit code {code}")


def _print_store(console: Console) -> None:
    engine = make_engine(f"sqlite:///{WORKDIR / 'erpsync.db'}")
    with engine.connect() as conn:
        stock = conn.execute(
            select(StockLevel.sku, Location.code, StockLevel.on_hand, StockLevel.reserved, StockLevel.version)
            .join(Location, Location.id == StockLevel.location_id)
            .order_by(StockLevel.sku, Location.code)
        ).all()
        orders = conn.execute(
            select(
                SalesOrder.external_id,
                SalesOrder.source_status,
                SalesOrder.ship_region,
                func.group_concat(OrderLine.sku + " x" + func.cast(OrderLine.qty, OrderLine.sku.type)),
                SalesOrder.ship_to_sealed.is_not(None),
            )
            .join(OrderLine)
            .group_by(SalesOrder.id)
            .order_by(SalesOrder.external_id)
        ).all()
    engine.dispose()
    table = Table("sku", "location", "on hand", "reserved", "version", title="stock levels")
    for row in stock:
        table.add_row(*(str(v) for v in row))
    console.print(table)
    table = Table(
        "order", "status", "ship-to region", "lines (base units)", "address encrypted", title="orders"
    )
    for ext, status, region, lines, sealed in orders:
        table.add_row(ext, status, region or "-", lines, "yes" if sealed else "no")
    console.print(table)


def _show_first_alert(console: Console) -> None:
    engine = make_engine(f"sqlite:///{WORKDIR / 'erpsync.db'}")
    with engine.connect() as conn:
        first = conn.execute(select(func.min(Alert.id))).scalar()
    engine.dispose()
    if first is not None:
        _cli(
            console,
            "the message head office would receive (the demo has no mail server)",
            "alerts",
            "show",
            str(first),
        )


def main() -> None:
    console = make_console()
    shutil.rmtree(WORKDIR, ignore_errors=True)
    WORKDIR.mkdir(parents=True)
    sim = Simulator(tick=1.0).start()
    os.environ.update(
        DEMO_ERP_TOKEN=ERP_TOKEN, DEMO_SHOP_KEY=SHOP_KEY, DEMO_ENCRYPTION_KEY=Fernet.generate_key().decode()
    )
    try:
        text = CONFIG.format(workdir=WORKDIR, url=sim.url) + CHANNELS.format() + ALERTS.format()
        (WORKDIR / "erpsync.yaml").write_text(text, encoding="utf-8")
        (WORKDIR / "skus.csv").write_text(SKUS, encoding="utf-8")
        console.print(f"simulated ERP and shop at {sim.url}; config in {WORKDIR / 'erpsync.yaml'}")
        _cli(console, "validate the config", "config", "validate")
        _cli(console, "create the database schema", "db", "upgrade")
        _cli(console, "import SKU bindings", "mapping", "import-skus", str(WORKDIR / "skus.csv"))
        _cli(
            console,
            f"run the service for {RUN_SECONDS} s while the ERP and the shop change",
            "run",
            "--for",
            str(RUN_SECONDS),
        )
    finally:
        sim.stop()
    _cli(console, "stream status", "status")
    _print_store(console)
    _cli(console, "orders: routed to the distributor serving the buyer's region", "orders", "list")
    _cli(console, "dispatch instructions sent to the warehouses", "dispatch", "list")
    notes = sorted((WORKDIR / "dispatch").glob("*/*.csv"))
    console.rule(f"{len(notes)} dispatch note(s) written as CSV files for warehouses without an API")
    for note in notes[:2]:
        console.print(f"{note}:", markup=False)
        console.print(note.read_text(encoding="utf-8-sig"), markup=False)
    _cli(console, "quarantine (records a person must look at)", "quarantine", "list")
    _cli(console, "shortage alerts raised for the distributors", "alerts", "list")
    _show_first_alert(console)
    console.rule("what the shop shows now (pushed by erpsync)")
    table = Table("shop sku", "quantity", title=None)
    for sku, qty in sorted(sim.state.shown.items()):
        table.add_row(sku, str(qty))
    console.print(table)
    _cli(
        console,
        "why the shop shows what it shows for cups (limited by a rule)",
        "stock",
        "explain",
        "CUP-010",
    )
    console.print(
        "next: `erpsync --config var/demo/erpsync.yaml quarantine show ID`, "
        "`erpsync --config var/demo/erpsync.yaml --help`"
    )


if __name__ == "__main__":
    main()
