"""`erpsync config validate` checks what `erpsync run` builds at start, with every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet

from config import load_config, load_config_text
from core.errors import ConfigError
from erpsync.cli import run_cli
from erpsync.service import build_service
from erpsync.startup import check_startup, routing_targets
from store.db import make_engine

EXAMPLES = Path(__file__).parents[2] / "config" / "examples"
EXAMPLE_ENV = {
    "ERPSYNC_DB_PASSWORD": "example-db-password",
    "SHOP_TOKEN": "example-shop-token-123",
    "ERPSYNC_ADMIN_TOKEN": "example-admin-token-0123456789",
    "ERPSYNC_NORTH_TOKEN": "example-north-token-0123456789",
    "ERPSYNC_ENCRYPTION_KEY": Fernet.generate_key().decode(),
}

REST_STREAMS = """\
      base_url: https://shop.example/api/
      streams:
        orders: {path: orders, primary_key: [id], cursor_field: updated_at, cursor_param: since}
        stock: {path: stock, primary_key: [sku], snapshot: true}
"""

BROKEN = (
    """\
database:
  url: sqlite:///@DB@
locations:
  - {code: WH, name: Warehouse, kind: warehouse, dispatch: {method: csv, folder: /tmp/wh}}
  - {code: DS-GZ, name: Guangzhou, kind: distributor, parent: WH, regions: [广东省]}
connectors:
  - name: shop
    kind: rest
    settings:
"""
    + REST_STREAMS
    + """\
    streams:
      orders:
        every: 5m
        mapping:
          external_id: "id[["
          status: status
          lines: {path: items, each: {sku: sku, qty: {path: n, convert: [furlongs]}}}
      stock:
        every: 5m
        mapping: {sku: sku, location: wh, on_hand: qty, colour: tint}
      prices:
        every: 1h
channels:
  - {name: shop, sources: [WH]}
routing:
  erp_connector: shop
alerts:
  destinations:
    - {name: robot, kind: dingtalk, url: "https://oapi.dingtalk.com/robot/send?x=1", secret: nope}
"""
)


def line_of(text: str, fragment: str) -> int:
    """The 1-based line of ``text`` holding ``fragment`` (the test fails if it is not there once)."""
    lines = [n for n, line in enumerate(text.splitlines(), 1) if fragment in line]
    assert len(lines) == 1, (fragment, lines)
    return lines[0]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "erpsync.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def example_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda path: path.name)
def test_every_example_passes_the_start_up_check(
    path: Path, example_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    check_startup(load_config(path))  # the installed connector kinds, not fakes
    assert run_cli(["--config", str(path), "config", "validate"]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.startswith(f"config ok: {path}")


def test_every_start_up_problem_is_reported_at_once_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = BROKEN.replace("@DB@", str(tmp_path / "x.db"))
    path = write(tmp_path, text)
    assert run_cli(["--config", str(path), "config", "validate"]) == 2
    err = capsys.readouterr().err
    problems = [line for line in err.splitlines() if line.startswith(f"{path}:")]
    orders, stock = "connectors[0].streams.orders.mapping", "connectors[0].streams.stock.mapping"
    expected = [
        (line_of(text, "code: DS-GZ"), "locations[1]: location 'DS-GZ' has no dispatch target"),
        (line_of(text, 'external_id: "id[["'), f"{orders}.external_id: invalid JMESPath 'id[['"),
        (line_of(text, "lines: {path: items"), f"{orders}.lines: qty: unknown converter 'furlongs'"),
        (line_of(text, "colour: tint"), f"{stock}.colour: StockLevel has no such field"),
        (line_of(text, "prices:"), "connectors[0].streams.prices: connector kind 'rest' has no stream"),
        (line_of(text, "name: shop, sources"), "channels[0].name: channel 'shop': connector kind 'rest'"),
        (line_of(text, "erp_connector: shop"), "routing.erp_connector: connector 'shop' (kind rest) cannot"),
        (line_of(text, "name: robot"), "alerts.destinations[0]: dingtalk destination 'robot': the secret"),
    ]
    assert len(problems) == len(expected), err
    for (line, start), problem in zip(sorted(expected), problems, strict=True):
        assert problem.startswith(f"{path}:{line} {start}"), (problem, line, start)
    assert err.splitlines()[-1] == f"invalid config file {path}: {len(expected)} problems"


def test_the_service_refuses_what_validation_refuses(tmp_path: Path) -> None:
    cfg = load_config_text(BROKEN.replace("@DB@", str(tmp_path / "x.db")), "erpsync.yaml", {})
    with pytest.raises(ConfigError) as validated:
        check_startup(cfg)
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(ConfigError) as started:
        build_service(engine, cfg)
    engine.dispose()
    assert started.value.problems == validated.value.problems
    assert len(started.value.problems) == 8


ERP_SETTINGS = {
    "tryton": (
        "{url: http://tryton.example:8000, database: prod, username: erpsync, password: tryton-secret}",
        "sale: {create_sales: true, customer_party: 12}",
        "sale.create_sales: true and sale.customer_party",
    ),
    "odoo": (
        "{url: https://odoo.example, database: prod, username: erpsync, api_key: odoo-api-key-1}",
        "create_sales: true, partner_id: 7",
        "create_sales: true and partner_id",
    ),
    "kingdee": (
        "{url: https://k3.example/K3Cloud/, acct_id: '6001', username: erpsync, "
        "app_id: 100001_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcY, app_secret: kingdee-secret-1}",
        "create_sales: true, customer_number: C001, sale_org: '100'",
        "create_sales: true, customer_number and sale_org",
    ),
}


@pytest.mark.parametrize("kind", sorted(ERP_SETTINGS))
def test_erp_connector_needs_the_sales_settings_of_its_kind(kind: str) -> None:
    settings, sales, needed = ERP_SETTINGS[kind]
    text = (
        f"connectors:\n  - name: erp\n    kind: {kind}\n    settings: {settings}\n"
        "routing:\n  erp_connector: erp\n"
    )
    with pytest.raises(ConfigError) as caught:
        check_startup(load_config_text(text, "erpsync.yaml", {}))
    [problem] = caught.value.problems
    assert problem.startswith(f"erpsync.yaml:{line_of(text, 'erp_connector')} routing.erp_connector: ")
    assert f"does not create sales orders with its settings: set {needed}" in problem
    with_sales = text.replace(settings, settings[:-1] + ", " + sales + "}")
    parts = check_startup(load_config_text(with_sales, "erpsync.yaml", {}))
    assert list(parts.sales_order_sinks) == ["erp"]


def test_erp_connector_must_name_a_connector() -> None:
    text = "routing:\n  erp_connector: erp\n"
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "erpsync.yaml", {})
    assert caught.value.problems == [
        "erpsync.yaml:2 routing.erp_connector: 'erp' is not the name of a connector"
    ]


ORDERS_SHOP = (
    """\
connectors:
  - name: shop
    kind: rest
    settings:
"""
    + REST_STREAMS
    + """\
    streams:
      orders:
        mapping: {external_id: id, status: status, lines: {path: items, each: {sku: sku, qty: n}}}
"""
)
LOCATIONS = """\
locations:
  - {code: WH, name: Factory, kind: warehouse, priority: 300}
  - {code: WH2, name: Second factory, kind: warehouse, priority: 400}
  - {code: AG, name: Agent, kind: agent, parent: WH}
  - {code: DS, name: Distributor, kind: distributor, parent: AG, regions: [广东省]}
  - {code: SHOP, name: Shop, kind: retail, parent: DS}
"""


@pytest.mark.parametrize(
    ("routing", "targets"),
    [
        ("", {"WH": "fall", "DS": "regions"}),  # without routing.fallback: the top warehouse
        ("routing: {fallback: WH2}\n", {"WH2": "routing.fallback", "DS": "regions"}),
        (
            "routing: {pins: [{channel: b2b, location: SHOP}]}\n",
            {"WH": "fall", "DS": "regions", "SHOP": "pin"},
        ),
    ],
)
def test_every_location_orders_can_be_routed_to_needs_a_dispatch_target(
    routing: str, targets: dict[str, str]
) -> None:
    text = ORDERS_SHOP + LOCATIONS + routing
    cfg = load_config_text(text, "erpsync.yaml", {})
    assert routing_targets(cfg).keys() == targets.keys()
    with pytest.raises(ConfigError) as caught:
        check_startup(cfg)
    found = {}
    for problem in caught.value.problems:
        code = problem.split("location '", 1)[1].split("'", 1)[0]
        found[code] = problem
        assert problem.startswith(f"erpsync.yaml:{line_of(text, '{code: ' + code + ',')} locations[")
    assert found.keys() == targets.keys()
    for code, why in targets.items():
        assert why in found[code]
    # with a target each, the same config starts
    dispatch = ", dispatch: {method: email, to: [wh@example.com]}}"
    fixed = "\n".join(
        line.replace("}", dispatch, 1) if any(f"{{code: {c}," in line for c in targets) else line
        for line in text.splitlines()
    )
    check_startup(load_config_text(fixed, "erpsync.yaml", {}))


def test_a_config_that_reads_no_orders_needs_no_dispatch_target() -> None:
    check_startup(load_config_text(LOCATIONS, "erpsync.yaml", {}))


def test_validate_without_a_config_file_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ERPSYNC_CONFIG", raising=False)
    assert run_cli(["config", "validate"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    for place in ("--config", "$ERPSYNC_CONFIG", "./erpsync.yaml", str(tmp_path)):
        assert place in err


def test_show_masks_secrets_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHOP_KEY", "shop-key-5c1e0a9d")
    monkeypatch.setenv("HOOK_TOKEN", "hook-token-77aa21f0")
    text = f"""\
database:
  url: sqlite:///{tmp_path / "e.db"}
connectors:
  - name: shop
    kind: rest
    settings:
      base_url: https://shop.example/api/
      headers: {{X-Api-Key: "${{SHOP_KEY}}", Accept-Language: zh-CN}}
      streams:
        stock:
          path: stock
          primary_key: [sku]
          paginator: {{type: cursor, token_path: meta.next, param: cursor}}
  - name: legacy
    kind: sql
    settings:
      url: mysql+pymysql://reader:sql-pass-31ce@db.example/erp?charset=utf8mb4
      read_only: account
      streams: {{stock: {{query: "SELECT 1", primary_key: [sku]}}}}
alerts:
  destinations:
    - {{name: chat, kind: slack, url: "https://hooks.slack.com/services/${{HOOK_TOKEN}}"}}
"""
    path = write(tmp_path, text)
    assert run_cli(["--config", str(path), "config", "validate", "--show"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    shown = yaml.safe_load(out)
    assert shown["database"]["url"] == f"sqlite:///{tmp_path / 'e.db'}"  # no password: nothing to hide
    shop, legacy = (c["settings"] for c in shown["connectors"])
    assert shop["streams"]["stock"]["paginator"]["token_path"] == "meta.next"  # a JMESPath, not a token
    assert shop["headers"] == {"X-Api-Key": "********", "Accept-Language": "zh-CN"}
    assert legacy["url"] == "mysql+pymysql://reader:********@db.example/erp?charset=utf8mb4"
    assert shown["alerts"]["destinations"][0]["url"] == "********"  # a robot's url is its token
    for secret in ("shop-key-5c1e0a9d", "hook-token-77aa21f0", "sql-pass-31ce"):
        assert secret not in out


def test_tryton_sales_need_a_customer_party() -> None:
    settings = ERP_SETTINGS["tryton"][0][:-1] + ", sale: {create_sales: true}}"
    text = f"connectors:\n  - name: erp\n    kind: tryton\n    settings: {settings}\n"
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "erpsync.yaml", {})
    [problem] = caught.value.problems
    assert problem.startswith("erpsync.yaml:4 connectors[0].settings.sale: create_sales needs customer_party")
