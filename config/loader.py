"""Loading erpsync's config file: YAML with line numbers, ``${VAR}`` references, full validation.

``load_config`` finds the file (the path given, else ``$ERPSYNC_CONFIG``, else
``./erpsync.yaml``) and ``load_config_text`` does the rest:

1. read the YAML with ``yaml.SafeLoader``, keeping the line of every value and reporting
   duplicate keys; a file over 1 MiB (``$ERPSYNC_CONFIG_MAX_BYTES``) is not read at all, and a
   document whose aliases expand it beyond ``config.source.MAX_VALUES`` values, or that nests
   too deep, is refused as it is read (see ``config.source``);
2. replace ``${VAR}`` / ``${VAR:-fallback}`` in string values (``$${`` is a literal ``${``);
3. let ``$ERPSYNC_DATABASE_URL`` override ``database.url``: when it is set, the file's
   ``database.url`` is neither interpolated nor validated (its ``${VAR}`` may be unset);
4. validate each connector's ``settings`` against the ``Settings`` model of its ``kind``
   (``connectors.registry.connector_class``), the cross references (unique names, location
   parents) and the models of ``config.model``;
5. register every secret with ``core.redact`` so that logs never show it.

The loaded config remembers its file and lines (``ErpsyncConfig.problem``), so that what is built
from it later (``erpsync.startup``) reports its findings the same way (``invalid_config``).

Errors: ``ConfigError``. For a file with mistakes its ``problems`` lists every one at once,
sorted by line, each as ``FILE:LINE PATH: message``::

    ConfigError("invalid config file erpsync.yaml: 2 problems", problems=[
        "erpsync.yaml:7 connectors[0].kind: unknown connector kind 'shopfy' (known: rest, shopify)",
        "erpsync.yaml:14 connectors[1].settings.shop_domain: field required",
    ])

A missing or unreadable file is a ``ConfigError`` naming the path. No message contains the
value of a secret.

Example::

    from connectors.registry import connector_class

    cfg = load_config()                                  # ./erpsync.yaml or $ERPSYNC_CONFIG
    for c in cfg.connectors:
        connector = connector_class(c.kind)(c.name, c.parsed_settings)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from config.model import ErpsyncConfig
from config.references import check_references
from config.render import register_secrets
from config.source import Loc, Problem, SourceMap, format_loc, read_yaml
from connectors.base import Connector, ConnectorSettings
from core.errors import ConfigError

#: gives the connector class of a kind; ``ConfigError`` listing the known kinds for an unknown one
ConnectorLookup = Callable[[str], type[Connector]]

CONFIG_ENV = "ERPSYNC_CONFIG"
CONFIG_MAX_BYTES_ENV = "ERPSYNC_CONFIG_MAX_BYTES"
DEFAULT_CONFIG_MAX_BYTES = 1 << 20
DATABASE_URL_ENV = "ERPSYNC_DATABASE_URL"
DATABASE_URL_PATH: Loc = ("database", "url")
DEFAULT_CONFIG_FILE = "erpsync.yaml"

_STRIPPED_PREFIXES = ("Value error, ", "Assertion failed, ")
_MAPPING = "a mapping (key: value lines)"
#: error types whose pydantic message names a Python class; said in YAML terms instead
_SHAPE_ERRORS = {
    "model_type": _MAPPING,
    "model_attributes_type": _MAPPING,
    "dict_type": _MAPPING,
    "list_type": "a list (lines starting with '- ')",
}


def resolve_config_path(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """Return the config file to read: ``path``, else ``$ERPSYNC_CONFIG``, else ``./erpsync.yaml``."""
    env = os.environ if env is None else env
    if path is not None and str(path):
        return Path(path)
    return Path(env.get(CONFIG_ENV) or DEFAULT_CONFIG_FILE)


def _size_limit(env: Mapping[str, str]) -> int:
    raw = env.get(CONFIG_MAX_BYTES_ENV)
    if not raw:
        return DEFAULT_CONFIG_MAX_BYTES
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if limit < 1:
        raise ConfigError(f"{CONFIG_MAX_BYTES_ENV} must be a number of bytes, not {raw[:40]!r}")
    return limit


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    connector_lookup: ConnectorLookup | None = None,
) -> ErpsyncConfig:
    """Return the validated config of the file at ``path`` (see the module docstring for the rest)."""
    env = os.environ if env is None else env
    file = resolve_config_path(path, env)
    limit = _size_limit(env)
    try:
        with file.open("rb") as f:
            data = f.read(limit + 1)  # never more: the file may be huge, or a device
        if len(data) > limit:
            raise ConfigError(
                f"config file {file} is larger than {limit:,} bytes: refusing to read it",
                hint=f"a config is a few KiB; if yours really is larger, raise {CONFIG_MAX_BYTES_ENV}",
            )
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file not found: {file}",
            hint=f"pass --config, set {CONFIG_ENV}, or create {DEFAULT_CONFIG_FILE} in the working directory",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.reason if isinstance(exc, UnicodeDecodeError) else exc.strerror or str(exc)
        raise ConfigError(f"cannot read config file {file}: {reason}") from None
    return load_config_text(text, str(file), env, connector_lookup=connector_lookup)


def load_config_text(
    text: str,
    filename: str = DEFAULT_CONFIG_FILE,
    env: Mapping[str, str] | None = None,
    *,
    connector_lookup: ConnectorLookup | None = None,
) -> ErpsyncConfig:
    """Return the validated config written in ``text``; ``filename`` only labels the problems."""
    env = os.environ if env is None else env
    if connector_lookup is None:
        from connectors.registry import connector_class

        connector_lookup = connector_class
    # the environment's database url wins: the file's is not read at all (its ${VAR} may be unset)
    verbatim = [DATABASE_URL_PATH] if env.get(DATABASE_URL_ENV) else []
    parsed = read_yaml(text, filename, env, verbatim=verbatim)
    if parsed.data is None:
        raise _invalid(filename, parsed.problems)
    data = _override_database_url(parsed.data, env)
    problems = list(parsed.problems)
    settings, settings_problems = _connector_settings(
        data, parsed.source, parsed.unresolved, connector_lookup
    )
    problems += settings_problems
    problems += [parsed.source.problem(loc, message) for loc, message in check_references(data)]
    cfg: ErpsyncConfig | None = None
    try:
        cfg = ErpsyncConfig.model_validate(_with_settings(data, settings))
    except ValidationError as exc:
        problems += _pydantic_problems(exc, (), parsed.source, parsed.unresolved)
    if problems or cfg is None:
        raise _invalid(filename, problems)
    for index, connector_settings in settings.items():
        cfg.connectors[index].attach_settings(connector_settings)
    cfg.attach_origin(filename, parsed.source)
    register_secrets(cfg)
    return cfg


def invalid_config(cfg: ErpsyncConfig, problems: Sequence[Problem]) -> ConfigError:
    """Return the error listing ``problems`` found in a loaded ``cfg``, as the loader lists its own."""
    return _invalid(cfg.filename, list(problems))


def _override_database_url(data: Any, env: Mapping[str, str]) -> Any:
    url = env.get(DATABASE_URL_ENV)
    if not url or not isinstance(data, dict):
        return data
    database = data.get("database")
    database = {} if database is None else database
    if not isinstance(database, dict):
        return data  # the model reports the section itself
    return {**data, "database": {**database, "url": url}}


def _connector_settings(
    data: Any, source: SourceMap, unresolved: set[Loc], lookup: ConnectorLookup
) -> tuple[dict[int, ConnectorSettings], list[Problem]]:
    """Return each connector's settings validated against its kind, by index, and the problems found."""
    connectors = data.get("connectors") if isinstance(data, dict) else None
    valid: dict[int, ConnectorSettings] = {}
    problems: list[Problem] = []
    for index, entry in enumerate(connectors if isinstance(connectors, list) else []):
        if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str):
            continue  # the model reports it
        try:
            settings_model = lookup(entry["kind"]).Settings
        except ConfigError as exc:
            problems.append(source.problem(("connectors", index, "kind"), exc.message))
            continue
        raw = entry.get("settings", {})
        if not isinstance(raw, dict):
            continue
        try:
            valid[index] = settings_model.model_validate(raw)
        except ValidationError as exc:
            problems += _pydantic_problems(exc, ("connectors", index, "settings"), source, unresolved)
    return valid, problems


def _with_settings(data: Any, settings: Mapping[int, ConnectorSettings]) -> Any:
    """Return ``data`` with validated settings in place of raw ones, so that secrets stay ``SecretStr``."""
    if not settings:
        return data
    connectors = list(data["connectors"])
    for index, valid in settings.items():
        connectors[index] = {**connectors[index], "settings": valid.model_dump(by_alias=True)}
    return {**data, "connectors": connectors}


def _pydantic_problems(
    exc: ValidationError, prefix: Loc, source: SourceMap, unresolved: set[Loc]
) -> list[Problem]:
    problems = []
    # the input is read only for its type (see _message): a value could be a secret
    for error in exc.errors(include_url=False):
        loc: Loc = (*prefix, *error["loc"])
        if any(loc[: len(skip)] == skip for skip in unresolved):
            continue  # that value could not be read: its problem is reported already
        message = _message(error)
        if loc and loc[-1] == "[key]":
            loc, message = loc[:-1], f"invalid key: {message}"
        line = source.line_of(loc, key=error["type"] == "extra_forbidden")
        problems.append(Problem(line, format_loc(loc), message))
    return problems


def _message(error: ErrorDetails) -> str:
    """Return pydantic's message for ``error`` as written in problems: first letter lowercase."""
    message = error["msg"]
    if error["type"] in _SHAPE_ERRORS:
        return f"expected {_SHAPE_ERRORS[error['type']]}, got {_yaml_kind(error.get('input'))}"
    for prefix in _STRIPPED_PREFIXES:
        message = message.removeprefix(prefix)
    if error["type"] == "extra_forbidden":
        message += " (unknown key: check its spelling and indentation)"
    return message[:1].lower() + message[1:]


def _yaml_kind(value: object) -> str:
    """Return what ``value`` is called in YAML terms, never the value itself."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "a mapping" if isinstance(value, dict) else type(value).__name__


def _invalid(filename: str, problems: list[Problem]) -> ConfigError:
    ordered = sorted(problems, key=lambda problem: problem.line)
    count = len(ordered)
    return ConfigError(
        f"invalid config file {filename}: {count} problem{'' if count == 1 else 's'}",
        problems=[problem.render(filename) for problem in ordered],
    )
