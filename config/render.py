"""Secrets of a loaded config: registering them for redaction and printing the config without them.

``register_secrets`` hands every ``SecretStr`` of the config (database url and its password,
api tokens, the encryption key, connector settings declared secret) to
``core.redact.register_secret``, so that no log line or error message shows them.
``render_config`` gives the effective config (defaults filled in) as YAML, for
``erpsync config validate --show``, with every secret written as ``'********'`` and nothing else
masked:

- a ``SecretStr`` is masked whole, except a database url (a url whose scheme is not a web one):
  only its password, and the values of credential query parameters, are masked, so
  ``sqlite:///var/erpsync.db`` shows as it is and ``mysql+pymysql://erpsync:********@db/erpsync``
  keeps its user, host and database;
- typed models (erpsync's sections, each connector's settings validated for its kind) declare
  their secrets ``SecretStr``: a plain field is never masked for its name (a paginator's
  ``token_path`` is a JMESPath, not a token);
- free-form mappings (a ``rest`` connector's ``headers``, field maps, a plugin's extra settings)
  have no ``SecretStr``; there a text value under a key that names a credential (``password``,
  ``token``, ``secret``...: ``core.redact.is_sensitive_key``) counts as a secret.

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

from config.durations import Section as _Section
from config.durations import format_duration
from config.model import ConnectorConfig, ErpsyncConfig
from core.redact import is_sensitive_key, register_secret

SECRET_MASK = "********"  # noqa: S105 - what secrets are replaced by, not a secret
_WEB_SCHEMES = frozenset({"http", "https", "ws", "wss"})


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


#: database url schemes: their secret is the password alone (the rest names where the data is)
_DATABASE_SCHEMES = ("sqlite", "mysql", "mariadb", "postgresql")


def register_secrets(cfg: ErpsyncConfig) -> None:
    """Register every secret of ``cfg`` (and the password inside a secret url) for redaction.

    A database url is registered by its password only, so that error messages can still say
    which database they are about; any other secret url (a chat webhook holding its token in the
    path) is a secret as a whole.
    """
    for secret in iter_secrets(cfg):
        if secret.split(":", 1)[0].split("+", 1)[0].lower() not in _DATABASE_SCHEMES:
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
    plain = _plain(cfg)
    return yaml.safe_dump(plain, sort_keys=False, allow_unicode=True, default_flow_style=False)


def mask_url_password(url: str) -> str | None:
    """Return a database url with only its password (and credential query values) masked.

    None for text that is not such a url (web addresses too: a chat robot's url is its token).
    """
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme or scheme.lower() in _WEB_SCHEMES or any(c.isspace() for c in url):
        return None
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    netloc, tail = rest[:cut], rest[cut:]
    userinfo, at, host = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.partition(':')[0]}:{SECRET_MASK}@{host}"
    path, question, query = tail.partition("?")
    query, hash_, fragment = query.partition("#")
    pairs = (pair.partition("=") for pair in query.split("&")) if query else ()
    query = "&".join(
        f"{key}{eq}{SECRET_MASK if eq and is_sensitive_key(key) else value}" for key, eq, value in pairs
    )
    return f"{scheme}://{netloc}{path}{question}{query}{hash_}{fragment}"


def _plain(value: Any, *, free_form: bool = False) -> Any:
    """Return ``value`` as plain YAML data: secrets masked, durations as text like ``5m``.

    Typed models declare their secrets ``SecretStr``; only in a free-form mapping (headers, field
    maps, a plugin's extra settings) does a credential's key name make its text a secret.
    """
    if isinstance(value, BaseModel):
        return _model(value)
    if isinstance(value, dict):
        return {
            str(key): SECRET_MASK
            if free_form and isinstance(item, str) and is_sensitive_key(key)
            else _plain(item, free_form=free_form)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item, free_form=free_form) for item in value]
    if isinstance(value, SecretStr):
        plain: Any = mask_url_password(value.get_secret_value()) or SECRET_MASK
    elif isinstance(value, SecretBytes):
        plain = SECRET_MASK
    elif isinstance(value, timedelta) and value >= timedelta(0) and not value.microseconds:
        plain = format_duration(value)
    elif value is None or isinstance(value, str | int | float | bool):
        plain = value
    else:
        plain = to_jsonable_python(value)
    return plain


def _model(model: BaseModel) -> dict[str, Any]:
    """Return a model's fields as plain data; a connector's settings as validated for its kind."""
    # settings keys are written as in the file (aliases); erpsync's own models have none
    aliased = not isinstance(model, _Section)
    data = {}
    for name, info in type(model).model_fields.items():
        item = getattr(model, name)
        if isinstance(model, ConnectorConfig) and name == "settings" and model._parsed_settings is not None:
            item = model._parsed_settings
        data[(info.alias or name) if aliased else name] = _plain(item, free_form=isinstance(item, dict))
    for key, item in (model.model_extra or {}).items():
        data[key] = _plain({key: item}, free_form=True)[key]
    return data
