"""${VAR} references: substitution rules and how they behave inside a config file."""

from __future__ import annotations

import pytest

from config.interpolate import InterpolationError, interpolate

ENV = {"HOST": "shop.example", "PORT": "8443", "EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${HOST}", "shop.example"),
        ("https://${HOST}:${PORT}/api", "https://shop.example:8443/api"),
        ("${MISSING:-fallback}", "fallback"),
        ("${HOST:-fallback}", "shop.example"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${EMPTY}", ""),
        ("${MISSING:-}", ""),
        ("${MISSING:-a:-b c}", "a:-b c"),
        ("$${HOST}", "${HOST}"),
        ("cost: $$5 and $HOST", "cost: $$5 and $HOST"),
        ("$${HOST} is ${HOST}", "${HOST} is shop.example"),
        ("no references", "no references"),
    ],
)
def test_interpolate(text: str, expected: str) -> None:
    assert interpolate(text, ENV) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "${MISSING}",
            r"environment variable MISSING is not set \(set it, or write \$\{MISSING:-fallback\}\)",
        ),
        ("https://${HOST", r"'\$\{' is not closed by '\}'"),
        ("${}", r"'\$\{\}' is not a valid reference"),
        ("${1ABC}", r"'\$\{1ABC\}' is not a valid reference"),
        ("${HOST-x}", r"is not a valid reference"),
        ("${A:-${B}}", r"the fallback of \$\{A:-...\} cannot contain another reference"),
    ],
)
def test_interpolate_errors(text: str, message: str) -> None:
    with pytest.raises(InterpolationError, match=message):
        interpolate(text, ENV)


def test_references_in_the_file_are_replaced_after_parsing(load) -> None:
    text = """\
database:
  url: "mysql+pymysql://erp:${DB_PASSWORD}@${DB_HOST:-localhost}/erp"
locations:
  - code: WH1
    name: ${WH_NAME}
    kind: warehouse
    priority: ${WH_PRIORITY}
    regions: ["${REGION:-north}", "$${literal}"]
"""
    env = {"DB_PASSWORD": "pw", "WH_NAME": "Main: [not yaml]\n- still text", "WH_PRIORITY": "7"}
    cfg = load(text, env)
    assert cfg.database.url.get_secret_value() == "mysql+pymysql://erp:pw@localhost/erp"
    location = cfg.locations[0]
    assert location.name == "Main: [not yaml]\n- still text"
    assert location.priority == 7
    assert location.regions == ["north", "${literal}"]


def test_keys_and_non_text_values_are_left_alone(load) -> None:
    from tests.config.fakes import permissive_lookup

    text = "connectors:\n  - name: x\n    kind: any\n    settings: {'${KEY}': 5, n: 12}\n"
    cfg = load(text, {"KEY": "k"}, connector_lookup=permissive_lookup)
    assert cfg.connectors[0].settings == {"${KEY}": 5, "n": 12}


def test_unset_variable_is_one_problem_on_its_line(problems) -> None:
    text = """\
logging:
  level: info
locations:
  - code: WH1
    name: Main
    kind: warehouse
    priority: ${WH_PRIORITY}
"""
    # only the unset variable: not also "priority should be an integer"
    assert problems(text) == [
        "erpsync.yaml:7 locations[0].priority: environment variable WH_PRIORITY is not set "
        "(set it, or write ${WH_PRIORITY:-fallback})"
    ]


def test_every_unset_variable_is_reported(problems) -> None:
    text = "database:\n  url: ${DB_URL}\nlogging:\n  level: ${LEVEL}\n  format: ${FORMAT:-json}\n"
    found = problems(text)
    assert [p.split(" ")[0] for p in found] == ["erpsync.yaml:2", "erpsync.yaml:4"]
    assert "DB_URL" in found[0]
    assert "LEVEL" in found[1]
