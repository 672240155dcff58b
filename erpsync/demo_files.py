"""The files ``make demo`` keeps under ``var/demo/``: its config, SKU bindings and encryption key.

Everything the demo writes is relative to the working directory, so the commands it prints work
from there as they are printed, with nothing exported:

- ``erpsync.yaml``: the config. The simulator's credentials are fixed demo values, so the file
  gives them as the fallback of a ``${VAR:-…}`` reference; the encryption key is read from a file
  (``security.encryption_key_file``).
- ``encryption.key``: a Fernet key, mode 0600, made on the first run and kept by later ones (the
  database and the dispatch notes are made anew each run).
- ``skus.csv``: the shop's SKU bindings (one listing is left without one on purpose).
- ``erpsync.db`` and ``dispatch/``: written by erpsync itself while the demo runs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from cryptography.fernet import Fernet

from erpsync.simulator import ERP_TOKEN, SHOP_KEY

WORKDIR = Path("var/demo")
KEY_FILE = "encryption.key"

CONFIG = """\
# Written by `make demo`. A real config takes its secrets from the environment (${{ERP_TOKEN}});
# the demo's are fixed values of its simulated systems, given as fallbacks so that no variable
# needs to be set.
database:
  url: sqlite:///{workdir}/erpsync.db
logging: {{level: error}}          # the demo has no mail server: its retries are expected, not news
api: {{listen: "127.0.0.1:0"}}     # the HTTP API on a free port for the demo (default 127.0.0.1:8787)
security:
  encryption_key_file: {workdir}/{key_file}   # buyer addresses are stored encrypted with it

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
      auth: {{type: bearer, token: "${{DEMO_ERP_TOKEN:-{erp_token}}}"}}
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
      auth: {{type: api_key, name: X-Shop-Key, value: "${{DEMO_SHOP_KEY:-{shop_key}}}", in: header}}
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
          status: financial_status     # the channel's status of the order (here: its payment)
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

channels:
  - name: shop
    sources: [WH-SH, DS-GZ]          # the warehouses that feed the shop
    rule: {{percent: 90, buffer: 1}}   # show 90 % of what is available, minus one
    overrides:
      - {{sku: CUP-010, max: 20}}      # cups: never show more than 20
    push: {{every: 2s}}
    drift: {{every: 5s}}
"""

ALERTS = """
alerts:
  language: {language}                 # the texts of alerts and their messages (en or zh-CN)
  destinations:
    - {{name: head-office, kind: email, to: [supply@factory.example]}}
  rules:
    - {{match: {{level: distributor}}, warning: 40, critical: 10, lead_time_days: 5}}
  routes:
    - {{destinations: [head-office], min_severity: warning}}
email: {{host: 127.0.0.1, port: 1, security: none}}   # no mail server in the demo: messages stay queued
"""

SKUS = """\
system,external_sku,sku,uom_factor
shop,TEA-001,TEA-001,1
shop,POT-020,POT-020,1
shop,CUP-6PK,CUP-010,6
"""


def demo_key(workdir: Path = WORKDIR) -> Path:
    """The demo's key file: made once with a new Fernet key, readable by its owner only, then kept."""
    path = workdir / KEY_FILE
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(Fernet.generate_key().decode() + "\n")
    return path


def fresh_workdir(workdir: Path = WORKDIR) -> None:
    """Empty ``workdir`` for a new run, all but the key file."""
    workdir.mkdir(parents=True, exist_ok=True)
    for entry in workdir.iterdir():
        if entry.name == KEY_FILE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def config_text(url: str, language: str | None, workdir: Path = WORKDIR) -> str:
    """The demo's config for the simulator at ``url``; without ``language``, no ``alerts:`` section."""
    fields = {
        "workdir": workdir.as_posix(),
        "key_file": KEY_FILE,
        "url": url,
        "erp_token": ERP_TOKEN,
        "shop_key": SHOP_KEY,
        "language": language,
    }
    return CONFIG.format(**fields) + (ALERTS.format(**fields) if language else "")


def write_demo_files(url: str, language: str, workdir: Path = WORKDIR) -> Path:
    """Write the key (once), the config (for the simulator at ``url``) and the SKU bindings; the config."""
    demo_key(workdir)
    config = workdir / "erpsync.yaml"
    config.write_text(config_text(url, language, workdir), encoding="utf-8")
    (workdir / "skus.csv").write_text(SKUS, encoding="utf-8")
    return config
