"""Every example in config/examples is a valid config file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from config import load_config, render_config
from tests.config.fakes import permissive_lookup

EXAMPLES = Path(__file__).parents[2] / "config" / "examples"
ENV = {
    "ERPSYNC_DB_PASSWORD": "db-password",
    "SHOP_TOKEN": "shop-token-123",
    "SMTP_PASSWORD": "smtp-password",
    "CHAT_HOOK_ID": "hook-1234",
    "ERPSYNC_ADMIN_TOKEN": "admin-token-0123456789",
    "ERPSYNC_NORTH_TOKEN": "north-token-0123456789",
    "ERPSYNC_ENCRYPTION_KEY": Fernet.generate_key().decode(),
}


def test_the_expected_examples_exist() -> None:
    names = {path.name for path in EXAMPLES.glob("*.yaml")}
    assert {"minimal.yaml", "connectors.yaml", "locations.yaml", "routing.yaml", "alerts.yaml"} <= names


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda path: path.name)
def test_example_is_valid(path: Path) -> None:
    cfg = load_config(path, env=ENV, connector_lookup=permissive_lookup)
    assert render_config(cfg)
    # the fake kind declares no secret fields: "token" is masked for its name alone
    for name in (
        "ERPSYNC_DB_PASSWORD",
        "SHOP_TOKEN",
        "SMTP_PASSWORD",
        "ERPSYNC_ADMIN_TOKEN",
        "ERPSYNC_ENCRYPTION_KEY",
    ):
        assert ENV[name] not in render_config(cfg)


def test_example_contents() -> None:
    def load(name: str):
        return load_config(EXAMPLES / name, env=ENV, connector_lookup=permissive_lookup)

    assert load("minimal.yaml").database.url.get_secret_value() == "sqlite:///var/erpsync.db"
    shop = load("connectors.yaml").connectors[0]
    assert (shop.kind, shop.streams["orders"].every) == ("rest", timedelta(minutes=5))
    assert shop.settings["base_url"] == "https://shop.example.com/api/v1"
    tree = {loc.code: loc for loc in load("locations.yaml").locations}
    assert tree["SHOP-BJ-01"].kind == "retail"
    assert tree["SHOP-BJ-01"].parent == "DIST-BJ"
    assert [tree[code].kind for code in ("DIST-BJ", "AG-NORTH", "FACTORY")] == [
        "distributor",
        "agent",
        "warehouse",
    ]
    assert sum(loc.kind == "agent" and bool(loc.regions) for loc in tree.values()) == 2
    routing = load("routing.yaml").routing
    assert (routing.split.allowed, routing.split.max_parts, routing.fallback) == (True, 2, "FACTORY")
    assert [p.location for p in routing.pins] == ["FACTORY", "AG-NORTH"]
    assert load("alerts.yaml").alerts.language == "zh-CN"


def test_connectors_example_matches_the_installed_rest_kind() -> None:
    cfg = load_config(EXAMPLES / "connectors.yaml", env=ENV)
    shop = cfg.connectors[0]
    settings = shop.parsed_settings
    assert type(settings).__name__ == "RestSettings"
    assert set(shop.streams) <= set(shop.settings["streams"])
    assert "shop-token-123" not in render_config(cfg)
