"""The demo's files under var/demo, its language and the erpsync command it prints."""

from __future__ import annotations

import dataclasses
import os
import re
import string
import sys
from pathlib import Path

import pytest

from config import load_config
from connectors.rest import ApiKeyAuthSettings, BearerAuthSettings, RestSettings
from erpsync.demo import erpsync_command, language_from
from erpsync.demo_files import KEY_FILE, WORKDIR, demo_key, fresh_workdir, write_demo_files
from erpsync.demo_texts import HEADINGS
from erpsync.simulator import ERP_TOKEN, SHOP_KEY


def test_the_key_file_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = demo_key(tmp_path / "demo")
    assert path == tmp_path / "demo" / KEY_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    key = path.read_text(encoding="ascii")
    assert demo_key(tmp_path / "demo") == path
    assert path.read_text(encoding="ascii") == key


def test_a_new_run_starts_afresh_but_keeps_the_key(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    key = demo_key(workdir).read_text(encoding="ascii")
    (workdir / "erpsync.db").write_bytes(b"old")
    (workdir / "dispatch" / "DS-GZ").mkdir(parents=True)
    (workdir / "dispatch" / "DS-GZ" / "DI-1.csv").write_text("old", encoding="utf-8")
    fresh_workdir(workdir)
    assert [p.name for p in workdir.iterdir()] == [KEY_FILE]
    assert (workdir / KEY_FILE).read_text(encoding="ascii") == key


def test_the_demo_config_needs_nothing_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = write_demo_files("http://127.0.0.1:9", "en")
    assert config == WORKDIR / "erpsync.yaml"
    cfg = load_config(config, env={})
    assert cfg.security.encryption_key is not None
    assert cfg.security.encryption_key.get_secret_value() == (WORKDIR / KEY_FILE).read_text().strip()
    assert cfg.database.url.get_secret_value() == "sqlite:///var/demo/erpsync.db"
    erp, shop = (c.parsed_settings for c in cfg.connectors)
    assert isinstance(erp, RestSettings)
    assert isinstance(erp.auth, BearerAuthSettings)
    assert erp.auth.token.get_secret_value() == ERP_TOKEN
    assert isinstance(shop, RestSettings)
    assert isinstance(shop.auth, ApiKeyAuthSettings)
    assert shop.auth.value.get_secret_value() == SHOP_KEY
    assert cfg.alerts.language == "en"


def test_the_demo_config_takes_the_chosen_language(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config(write_demo_files("http://127.0.0.1:9", "zh-CN"), env={}).alerts.language == "zh-CN"


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        ([], {}, "en"),
        ([], {"LANG": "zh_CN.UTF-8"}, "zh-CN"),
        ([], {"LANG": "zh_CN.UTF-8", "LC_ALL": "C.UTF-8"}, "en"),  # LC_ALL wins
        ([], {"LANG": "en_US.UTF-8", "LC_MESSAGES": "zh_TW.UTF-8"}, "zh-CN"),
        (["--lang", "zh-CN"], {"LANG": "en_GB.UTF-8"}, "zh-CN"),
        (["--lang", "en"], {"LC_ALL": "zh_CN.UTF-8"}, "en"),
    ],
)
def test_one_language_per_run_from_the_flag_or_the_locale(argv, env, expected) -> None:
    assert language_from(argv, env) == expected


def test_an_unknown_language_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        language_from(["--lang", "fr"], {})
    assert caught.value.code == 2
    assert "invalid choice: 'fr'" in capsys.readouterr().err


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_heading_exists_in_both_languages_with_the_same_fields() -> None:
    en, zh = HEADINGS["en"], HEADINGS["zh-CN"]
    for field in dataclasses.fields(en):
        mine, theirs = getattr(en, field.name), getattr(zh, field.name)
        assert mine, field.name
        assert theirs, field.name
        if isinstance(mine, str):
            assert _fields(mine) == _fields(theirs), field.name
            assert not re.search(r"[\u4e00-\u9fff]", mine), field.name
        else:
            assert len(mine) == len(theirs), field.name


def test_the_printed_erpsync_is_the_venv_script_relative_to_the_working_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = Path(sys.executable).parent / "erpsync"
    if not script.exists():
        pytest.skip("erpsync is not installed beside this Python")
    monkeypatch.chdir(Path(sys.executable).parent.parent.parent)
    assert erpsync_command() == os.path.relpath(script)
    monkeypatch.chdir("/")
    assert erpsync_command() in (str(script), os.path.relpath(script, "/"))
