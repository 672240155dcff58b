"""Loading the config file: path resolution, problems with lines, env override, connector settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from config import (
    DEFAULT_DATABASE_URL,
    ConnectorConfig,
    ErpsyncConfig,
    load_config,
    load_config_text,
    resolve_config_path,
)
from core.errors import ConfigError
from tests.config.fakes import FakeShop, ShopSettings, shop_lookup

THREE_MISTAKES = """\
database:
  url: sqlite:///var/test.db
logging:
  level: info
  colour: true
connectors:
  - name: shop
    kind: shop
    settings:
      token: ${SHOP_TOKEN}
    streams:
      orders:
        every: 5 minutes
"""


def test_three_mistakes_give_three_problems_with_their_lines() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(
            THREE_MISTAKES, "erpsync.yaml", {"SHOP_TOKEN": "t0k3n"}, connector_lookup=shop_lookup
        )

    err = caught.value
    assert err.message == "invalid config file erpsync.yaml: 3 problems"
    assert [p.split(":", 2)[:2] for p in err.problems] == [
        ["erpsync.yaml", "5 logging.colour"],  # the line of the unknown key
        ["erpsync.yaml", "10 connectors[0].settings.shop_domain"],  # missing: the line of its mapping
        ["erpsync.yaml", "13 connectors[0].streams.orders.every"],
    ]
    assert err.problems[0].startswith("erpsync.yaml:5 logging.colour: extra inputs are not permitted")
    assert err.problems[1] == "erpsync.yaml:10 connectors[0].settings.shop_domain: field required"
    assert "invalid duration '5 minutes'" in err.problems[2]


def test_one_problem_is_singular() -> None:
    with pytest.raises(ConfigError, match=r"^invalid config file erpsync.yaml: 1 problem$"):
        load_config_text("logging: {level: loud}\n", "erpsync.yaml", {})


def test_empty_file_is_the_default_config(load) -> None:
    cfg = load("")
    assert cfg == ErpsyncConfig()
    assert cfg.database.url.get_secret_value() == DEFAULT_DATABASE_URL == "sqlite:///var/erpsync.db"
    assert cfg.connectors == []
    assert cfg.locations == []
    assert cfg.api.listen == "127.0.0.1:8787"
    assert cfg.logging.level == "info"
    assert cfg.logging.format == "auto"
    assert cfg.alerts.language == "en"
    assert cfg.security.encryption_key is None


def test_a_section_with_every_key_commented_out_means_defaults(load) -> None:
    cfg = load("database:\n  # url: mysql://...\nlogging:\n")
    assert cfg.database.url.get_secret_value() == DEFAULT_DATABASE_URL


def test_a_misspelled_empty_section_is_still_reported(problems) -> None:
    assert problems("databse:\n") == [
        "erpsync.yaml:1 databse: extra inputs are not permitted "
        "(unknown key: check its spelling and indentation)"
    ]


def test_missing_required_key_is_on_the_line_of_its_mapping(problems) -> None:
    text = "locations:\n  - code: WH\n    name: Warehouse\n"
    assert problems(text) == ["erpsync.yaml:2 locations[0].kind: field required"]


def test_wrong_shapes_are_named_in_yaml_terms(problems) -> None:
    assert problems("- a\n- b\n") == [
        "erpsync.yaml:1 (top level): expected a mapping (key: value lines), got a list"
    ]
    assert problems("connectors: shop\n") == [
        "erpsync.yaml:1 connectors: expected a list (lines starting with '- '), got text"
    ]


def test_yaml_syntax_error_is_one_problem_with_its_line(problems) -> None:
    found = problems("logging:\n  level: info\n  format: [json\napi: {}\n")
    assert len(found) == 1
    assert found[0].startswith("erpsync.yaml:4 (yaml syntax): ")


def test_tab_indentation_is_a_syntax_problem(problems) -> None:
    assert problems("logging:\n\tlevel: info\n") == [
        "erpsync.yaml:2 (yaml syntax): found character '\\t' that cannot start any token"
    ]


def test_two_documents_are_a_syntax_problem(problems) -> None:
    found = problems("logging: {}\n---\napi: {}\n")
    assert len(found) == 1
    assert found[0] == (
        "erpsync.yaml:2 (yaml syntax): found another document "
        "(expected a single document in the stream on line 1)"
    )


def test_unsafe_tags_are_refused(problems) -> None:
    found = problems("logging:\n  level: !!python/object:os.system echo\n")
    assert found[0].startswith("erpsync.yaml:2 logging.level: could not determine a constructor")


def test_duplicate_keys_are_problems_at_the_second_key(problems) -> None:
    text = """\
logging:
  level: info
connectors:
  - name: shop
    kind: shop
    settings:
      shop_domain: a.example
      token: secret-1
      shop_domain: b.example
logging:
  level: debug
"""
    found = problems(text)
    assert found == [
        "erpsync.yaml:9 connectors[0].settings.shop_domain: duplicate key 'shop_domain' "
        "(first given on line 7); keep only one, otherwise the last one silently wins",
        "erpsync.yaml:10 logging: duplicate key 'logging' (first given on line 1); "
        "keep only one, otherwise the last one silently wins",
    ]


def test_duplicate_keys_in_a_flow_mapping_on_one_line(problems) -> None:
    found = problems("logging: {level: info, level: debug}\n")
    assert len(found) == 1
    assert found[0].startswith("erpsync.yaml:1 logging.level: duplicate key 'level' (first given on line 1)")


def test_values_pyyaml_cannot_convert_are_problems(problems) -> None:
    text = "locations:\n  - code: A\n    name: A\n    kind: retail\n    priority: !!int high\n"
    assert problems(text) == ["erpsync.yaml:5 locations[0].priority: the value cannot be read as !!int"]


def test_an_alias_is_reported_on_the_line_of_its_anchor(problems) -> None:
    # PyYAML's node for "*shop" is the anchored node itself: its content is written on line 2
    text = """\
locations:
  - &shop {code: A, name: A, kind: shop}
  - *shop
"""
    kind_problem = "locations[{}].kind: input should be 'warehouse', 'agent', 'distributor' or 'retail'"
    assert sorted(problems(text)) == sorted(
        [
            f"erpsync.yaml:2 {kind_problem.format(0)}",
            f"erpsync.yaml:2 {kind_problem.format(1)}",
            "erpsync.yaml:2 locations[1].code: location code 'A' is already used by locations[0]",
        ]
    )


def test_merge_keys_override_without_being_duplicates(load) -> None:
    text = """\
connectors:
  - name: shop
    kind: shop
    settings: {shop_domain: a.example, token: secret-1}
    streams:
      orders: &often {every: 5m, lag: 1m}
      stock:
        <<: *often
        every: 1h
"""
    streams = load(text).connectors[0].streams
    assert streams["stock"].every is not None
    assert streams["stock"].every.total_seconds() == 3600
    assert streams["stock"].lag == streams["orders"].lag


def test_database_url_from_the_environment_wins(load) -> None:
    env = {"ERPSYNC_DATABASE_URL": "mysql+pymysql://u:pw@db/erp"}
    for text in ("database:\n  url: sqlite:///other.db\n  echo: true\n", "", "database:\n"):
        cfg = load(text, env)
        assert cfg.database.url.get_secret_value() == "mysql+pymysql://u:pw@db/erp"
    assert load("database:\n  url: sqlite:///other.db\n  echo: true\n", env).database.echo is True


@pytest.mark.parametrize(
    "written",
    [
        "mysql+pymysql://erp:${DB_PASSWORD}@db/erp",  # its variable is not set
        "mysql+pymysql://erp:${DB_PASSWORD@db/erp",  # a malformed reference
        "${DATABASE_URL}",
    ],
)
def test_database_url_from_the_environment_wins_over_an_unset_variable_in_the_file(
    load, written: str
) -> None:
    text = f"database:\n  url: {written}\n  echo: true\n"
    cfg = load(text, {"ERPSYNC_DATABASE_URL": "sqlite:///from-env.db"})
    assert cfg.database.url.get_secret_value() == "sqlite:///from-env.db"
    assert cfg.database.echo is True
    with pytest.raises(ConfigError) as caught:  # without it, the file's url must be readable
        load(text, {})
    assert caught.value.problems[0].startswith("erpsync.yaml:2 database.url:")


def test_the_environment_url_leaves_other_references_checked(load) -> None:
    text = "database:\n  url: ${DB_URL}\nlogging:\n  level: ${LOG_LEVEL}\n"
    with pytest.raises(ConfigError) as caught:
        load(text, {"ERPSYNC_DATABASE_URL": "sqlite:///from-env.db"})
    assert [p.split(" ", 2)[:2] for p in caught.value.problems] == [["erpsync.yaml:4", "logging.level:"]]


def test_empty_database_url_variable_is_ignored(load) -> None:
    cfg = load("database:\n  url: sqlite:///other.db\n", {"ERPSYNC_DATABASE_URL": ""})
    assert cfg.database.url.get_secret_value() == "sqlite:///other.db"


def test_resolve_config_path_order() -> None:
    env = {"ERPSYNC_CONFIG": "/etc/erpsync/from-env.yaml"}
    assert resolve_config_path("given.yaml", env) == Path("given.yaml")
    assert resolve_config_path(None, env) == Path("/etc/erpsync/from-env.yaml")
    assert resolve_config_path(None, {}) == Path("erpsync.yaml")


def test_load_config_reads_the_file_named_by_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("logging:\n  level: debug\n", encoding="utf-8")
    cfg = load_config(env={"ERPSYNC_CONFIG": str(path)}, connector_lookup=shop_lookup)
    assert cfg.logging.level == "debug"


def test_load_config_defaults_to_erpsync_yaml_in_the_working_directory(tmp_path, monkeypatch) -> None:
    (tmp_path / "erpsync.yaml").write_text("logging:\n  level: warning\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load_config(env={}).logging.level == "warning"


def test_problems_name_the_file_as_given(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("logging:\n  level: loud\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.problems[0].startswith(f"{path}:2 logging.level: unknown log level 'loud'")


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"config file not found: .*nope\.yaml") as caught:
        load_config(missing, env={})
    assert str(missing) in str(caught.value)
    with pytest.raises(ConfigError, match=r"config file not found: .*elsewhere\.yaml"):
        load_config(env={"ERPSYNC_CONFIG": str(tmp_path / "elsewhere.yaml")})


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"cannot read config file .*latin1\.yaml"):
        load_config(tmp_path / "latin1.yaml", env={})
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path, env={})


SHOP = """\
connectors:
  - name: main
    kind: shop
    settings:
      shop_domain: main.example
      token: secret-main
  - name: outlet
    kind: shop
    enabled: false
    skus: bound
    settings:
      shop_domain: outlet.example
      token: secret-outlet
      page_size: "200"
"""


def test_connector_settings_are_validated_and_kept_for_building_the_connector(load) -> None:
    cfg = load(SHOP)
    outlet = cfg.connectors[1]
    assert isinstance(outlet.parsed_settings, ShopSettings)
    assert outlet.parsed_settings.page_size == 200
    assert outlet.parsed_settings.token.get_secret_value() == "secret-outlet"
    assert (outlet.enabled, outlet.skus) == (False, "bound")
    assert cfg.connectors[0].skus == "identity"
    connector = shop_lookup(outlet.kind)(outlet.name, outlet.parsed_settings)
    assert isinstance(connector, FakeShop)
    assert connector.settings is outlet.parsed_settings
    # the dict form holds the effective settings, secrets still wrapped
    assert outlet.settings["page_size"] == 200
    assert outlet.settings["api-version"] == "2024-01"  # keys as written in the file
    assert isinstance(outlet.settings["token"], SecretStr)
    assert "parsed_settings" not in outlet.model_dump()


def test_parsed_settings_of_an_unloaded_connector_is_an_error() -> None:
    connector = ConnectorConfig(name="main", kind="shop", settings={})
    with pytest.raises(ConfigError, match="were not checked against kind 'shop'"):
        _ = connector.parsed_settings


def test_connector_settings_problems_have_paths_and_lines(problems) -> None:
    text = SHOP.replace("      shop_domain: outlet.example\n", "").replace('"200"', "lots")
    assert problems(text) == [
        "erpsync.yaml:12 connectors[1].settings.shop_domain: field required",
        "erpsync.yaml:13 connectors[1].settings.page_size: "
        "input should be a valid integer, unable to parse string as an integer",
    ]


def test_unknown_connector_kind_is_a_problem_on_its_line(problems) -> None:
    text = SHOP.replace("kind: shop\n    enabled", "kind: shopp\n    enabled")
    assert problems(text) == [
        "erpsync.yaml:8 connectors[1].kind: unknown connector kind 'shopp'; known kinds: shop"
    ]


def test_the_installed_registry_is_used_by_default() -> None:
    text = "connectors:\n  - name: x\n    kind: no-such-kind\n"
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "erpsync.yaml", {})
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(
        "erpsync.yaml:3 connectors[0].kind: unknown connector kind 'no-such-kind'; known kinds: "
    )


def test_connector_names_are_checked(problems) -> None:
    text = SHOP.replace("name: outlet", "name: Outlet Shop")
    assert problems(text) == [
        "erpsync.yaml:7 connectors[1].name: a connector name is 1-64 characters: lowercase letters, "
        "digits, '_' or '-', starting with a letter"
    ]
    assert problems(SHOP.replace("name: outlet", "name: main")) == [
        "erpsync.yaml:7 connectors[1].name: connector name 'main' is already used by connectors[0]"
    ]


def test_skus_must_be_identity_or_bound(problems) -> None:
    assert problems(SHOP.replace("skus: bound", "skus: mapped")) == [
        "erpsync.yaml:10 connectors[1].skus: input should be 'identity' or 'bound'"
    ]


def test_non_text_keys_are_reported(problems) -> None:
    text = """\
connectors:
  - name: x
    kind: shop
    settings: {shop_domain: a, token: b}
    streams:
      1: {}
"""
    assert problems(text) == [
        "erpsync.yaml:6 connectors[0].streams[1]: invalid key: input should be a valid string"
    ]


def test_api_and_security_values_are_checked(problems) -> None:
    text = """\
api:
  listen: localhost
  tokens:
    - name: ops
      token: short
      role: root
security:
  encryption_key: not-a-fernet-key
"""
    found = problems(text)
    assert [p.split(":")[1] for p in found] == [
        "2 api.listen",
        "5 api.tokens[0].token",
        "6 api.tokens[0].role",
        "8 security.encryption_key",
    ]
    assert "at least 16 characters" in found[1]
    assert "not-a-fernet-key" not in found[3]
    assert "Fernet key" in found[3]


def test_api_and_security_valid_values(load) -> None:
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    text = f"""\
locations:
  - {{code: WH1, name: Main, kind: warehouse}}
api:
  listen: 0.0.0.0:9000
  tokens:
    - {{name: scanner, token: abcdefghijklmnop, role: warehouse, locations: [WH1]}}
security:
  encryption_key: {key}
"""
    cfg = load(text)
    assert cfg.api.tokens[0].locations == ["WH1"]
    assert cfg.security.encryption_key is not None
    assert cfg.security.encryption_key.get_secret_value() == key


def test_logging_level_is_normalised(load, problems) -> None:
    assert load("logging:\n  level: WARNING\n  format: json\n").logging.level == "warning"
    assert problems("logging:\n  format: xml\n") == [
        "erpsync.yaml:2 logging.format: input should be 'auto', 'console' or 'json'"
    ]


def test_models_are_frozen(load) -> None:
    cfg = load("logging:\n  level: debug\n")
    with pytest.raises(ValueError, match="frozen"):
        cfg.logging.level = "info"
