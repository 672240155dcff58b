"""Secrets: registered for redaction, never in render_config, repr or a ConfigError."""

from __future__ import annotations

import pytest
import yaml
from cryptography.fernet import Fernet

from config import load_config_text, render_config
from core.errors import ConfigError
from core.redact import redact_text
from tests.config.fakes import shop_lookup

SHOP_TOKEN = "shp-Zq81x-interpolated-token"
DB_PASSWORD = "db-pw-Kx93m"
API_TOKEN = "api-token-7f3c2e9a1b"
KEY = Fernet.generate_key().decode()
ENV = {"SHOP_TOKEN": SHOP_TOKEN, "DB_PASSWORD": DB_PASSWORD, "API_TOKEN": API_TOKEN, "KEY": KEY}

TEXT = """\
database:
  url: mysql+pymysql://erp:${DB_PASSWORD}@db/erp
connectors:
  - name: shop
    kind: shop
    settings:
      shop_domain: shop.example
      token: ${SHOP_TOKEN}
    streams:
      orders: {every: 5m}
api:
  tokens:
    - {name: ops, token: "${API_TOKEN}", role: admin}
security:
  encryption_key: ${KEY}
"""
SECRETS = (SHOP_TOKEN, DB_PASSWORD, API_TOKEN, KEY)


def _load(text: str = TEXT):
    return load_config_text(text, "erpsync.yaml", ENV, connector_lookup=shop_lookup)


def test_render_config_masks_every_secret() -> None:
    cfg = _load()
    rendered = render_config(cfg)
    for secret in SECRETS:
        assert secret not in rendered
    plain = yaml.safe_load(rendered)
    assert plain["database"]["url"] == "mysql+pymysql://erp:********@db/erp"  # the password alone
    assert plain["connectors"][0]["settings"] == {
        "shop_domain": "shop.example",
        "token": "********",
        "page_size": 50,
        "api-version": "2024-01",
    }
    assert plain["api"]["tokens"][0]["token"] == "********"
    assert plain["security"]["encryption_key"] == "********"
    assert plain["connectors"][0]["streams"]["orders"]["every"] == "5m"
    assert plain["connectors"][0]["streams"]["orders"]["jitter"] == "10s"


def test_repr_and_dumps_hide_secrets() -> None:
    cfg = _load()
    for text in (repr(cfg), str(cfg), cfg.model_dump_json(), repr(cfg.connectors[0].parsed_settings)):
        for secret in SECRETS:
            assert secret not in text
    assert cfg.connectors[0].parsed_settings.token.get_secret_value() == SHOP_TOKEN


def test_config_errors_never_show_an_interpolated_secret() -> None:
    # every value from the environment lands where a mistake is reported
    text = """\
connectors:
  - name: shop
    kind: shop
    settings:
      shop_domain: shop.example
      tokn: ${SHOP_TOKEN}
      page_size: ${SHOP_TOKEN}
api:
  tokens:
    - {name: ops, token: "${API_TOKEN}", role: "${API_TOKEN}"}
security:
  encryption_key: ${DB_PASSWORD}
"""
    with pytest.raises(ConfigError) as caught:
        _load(text)
    err = caught.value
    assert len(err.problems) == 5
    for shown in (str(err), repr(err), *err.problems):
        for secret in SECRETS:
            assert secret not in shown


def test_secrets_are_registered_for_redaction() -> None:
    _load()
    for secret in (SHOP_TOKEN, API_TOKEN, KEY):
        assert redact_text(f"calling with {secret} now") == "calling with *** now"
    # a database url keeps saying which database it is; only its password is masked
    assert redact_text(f"no connection to mysql+pymysql://erp:{DB_PASSWORD}@db/erp") == (
        "no connection to mysql+pymysql://erp:***@db/erp"
    )
    # the password alone, as a driver error might print it
    assert DB_PASSWORD not in redact_text(f"access denied for erp using password {DB_PASSWORD}")


def test_a_database_url_without_a_password_is_not_a_secret() -> None:
    _load(TEXT.replace("mysql+pymysql://erp:${DB_PASSWORD}@db/erp", "sqlite:///var/shop-erp.db"))
    assert redact_text("cannot open sqlite:///var/shop-erp.db") == "cannot open sqlite:///var/shop-erp.db"


def test_credentials_in_plain_sections_are_masked_and_registered() -> None:
    text = """\
alerts:
  destinations:
    - {name: mail, kind: webhook, url: "https://hooks.example/x", secret: smtp-Pw-4471}
"""
    cfg = load_config_text(text, "erpsync.yaml", {}, connector_lookup=shop_lookup)
    destination = yaml.safe_load(render_config(cfg))["alerts"]["destinations"][0]
    assert destination["secret"] == "********"
    assert destination["url"] == "********"
    assert destination["name"] == "mail"
    assert redact_text("login failed for smtp-Pw-4471") == "login failed for ***"
