"""``security.encryption_key_file``: the encryption key read from a file, checked like the key itself."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet

from config import render_config
from core.redact import redact_text


@pytest.fixture
def key_file(tmp_path: Path) -> tuple[Path, str]:
    key = Fernet.generate_key().decode()
    path = tmp_path / "encryption.key"
    path.write_text(key + "\n", encoding="ascii")
    path.chmod(0o600)
    return path, key


def test_the_key_is_read_from_the_file(load, key_file) -> None:
    path, key = key_file
    cfg = load(f"security:\n  encryption_key_file: {path}\n")
    assert cfg.security.encryption_key is not None
    assert cfg.security.encryption_key.get_secret_value() == key
    assert cfg.security.encryption_key_file == path


def test_a_relative_key_file_is_found_from_the_working_directory(load, key_file, monkeypatch) -> None:
    path, key = key_file
    monkeypatch.chdir(path.parent)
    cfg = load("security:\n  encryption_key_file: encryption.key\n")
    assert cfg.security.encryption_key is not None
    assert cfg.security.encryption_key.get_secret_value() == key


def test_a_key_read_from_a_file_is_a_secret(load, key_file) -> None:
    path, key = key_file
    cfg = load(f"security:\n  encryption_key_file: {path}\n")
    plain = yaml.safe_load(render_config(cfg))
    assert plain["security"] == {"encryption_key": "********", "encryption_key_file": str(path)}
    assert key not in redact_text(f"sealing with {key}")


def test_a_missing_key_file_is_named_with_its_line(problems, tmp_path) -> None:
    missing = tmp_path / "nowhere.key"
    assert problems(f"logging: {{level: info}}\nsecurity:\n  encryption_key_file: {missing}\n") == [
        f"erpsync.yaml:3 security.encryption_key_file: cannot read the key file {missing}: "
        "No such file or directory"
    ]


def test_a_file_without_a_key_is_refused_without_showing_its_content(problems, tmp_path) -> None:
    bad = tmp_path / "bad.key"
    bad.write_text("hunter2-not-a-fernet-key\n", encoding="ascii")
    found = problems(f"security:\n  encryption_key_file: {bad}\n")
    assert len(found) == 1
    assert found[0].startswith(f"erpsync.yaml:2 security.encryption_key_file: the key file {bad} must be")
    assert "Fernet key" in found[0]
    assert "hunter2" not in found[0]


def test_a_key_and_a_key_file_together_are_refused(problems, key_file) -> None:
    path, key = key_file
    assert problems(f"security:\n  encryption_key: {key}\n  encryption_key_file: {path}\n") == [
        "erpsync.yaml:2 security: give encryption_key or encryption_key_file, not both"
    ]
