"""Secrets of a loaded config: registering them for redaction and printing the config without them.

``register_secrets`` hands every ``SecretStr`` of the config (database url and its password,
api tokens, the encryption key, connector settings declared secret) to
``connectors.redact.register_secret``, so that no log line or error message shows them.
``render_config`` gives the effective config (defaults filled in) as YAML, for
``erpsync config validate --show``, with every secret written as ``'********'``.

Sections still held as plain mappings (alert notifiers, routing rules, field maps) have no
``SecretStr``; there a text value under a key that names a credential (``password``, ``token``,
``secret``...: ``connectors.redact.is_sensitive_key``) counts as a secret too.

Errors: none of its own.

Example::

    cfg = load_config("erpsync.yaml")   # registers the secrets already
    print(render_config(cfg))           # database: {url: '********', echo: false} ...
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
from pydantic import BaseModel, SecretBytes, SecretStr
from pydantic_core import to_jsonable_python

from config.durations import format_duration
from config.model import ErpsyncConfig
from connectors.redact import is_sensitive_key, register_secret

SECRET_MASK = "********"  # noqa: S105 - what secrets are replaced by, not a secret


def iter_secrets(value: Any) -> Iterator[str]:
    """Yield the text of every secret in ``value``: ``SecretStr`` and text under a credential key."""
    return _secrets(value, set())


def _secrets(value: Any, seen: set[int]) -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
        return
    if id(value) in seen:  # YAML aliases share values: visit each once
        return
    seen.add(id(value))
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secrets(getattr(value, name), seen)
        yield from _secrets(getattr(value, "_parsed_settings", None), seen)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and is_sensitive_key(key):
                yield item
            else:
                yield from _secrets(item, seen)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _secrets(item, seen)


def register_secrets(cfg: ErpsyncConfig) -> None:
    """Register every secret of ``cfg`` (and the password inside a secret url) for redaction."""
    for secret in iter_secrets(cfg):
        register_secret(secret)
        password = _url_password(secret)
        if password:
            register_secret(password)


def _url_password(text: str) -> str | None:
    if "://" not in text:
        return None
    try:
        password = urlsplit(text).password
    except ValueError:
        return None
    return unquote(password) if password else None


def render_config(cfg: ErpsyncConfig) -> str:
    """Return the effective config as YAML, every secret shown as ``'********'``."""
    plain = _plain(cfg.model_dump())
    return yaml.safe_dump(plain, sort_keys=False, allow_unicode=True, default_flow_style=False)


def _plain(value: Any) -> Any:
    """Return ``value`` as plain YAML data: secrets masked, durations as text like ``5m``."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, dict):
        return {
            str(key): SECRET_MASK if isinstance(item, str) and is_sensitive_key(key) else _plain(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if isinstance(value, SecretStr | SecretBytes):
        plain: Any = SECRET_MASK
    elif isinstance(value, timedelta) and value >= timedelta(0) and not value.microseconds:
        plain = format_duration(value)
    elif value is None or isinstance(value, str | int | float | bool):
        plain = value
    else:
        plain = to_jsonable_python(value)
    return plain
