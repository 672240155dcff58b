"""Connector discovery: every connector kind is an entry point in the group ``erpsync.connectors``.

erpsync's own connectors are declared in its ``pyproject.toml``; a third-party package adds a
kind by declaring one more::

    [project.entry-points."erpsync.connectors"]
    acme = "acme_erpsync.connector:AcmeConnector"

:func:`connector_class` loads and checks the class for a kind; :func:`known_kinds` lists what is
installed (``erpsync connectors list``). Problems are ``ConfigError``: an unknown kind (the
message lists the known ones), a plugin that fails to import, or one that is not a proper
``Connector`` (no ``Settings`` model, abstract methods left, ``kind`` not matching its name).

>>> "rest" in known_kinds()  # doctest: +SKIP
True
"""

from __future__ import annotations

import inspect
from importlib.metadata import EntryPoint, entry_points

from connectors.base import Connector, ConnectorSettings
from core.errors import ConfigError

GROUP = "erpsync.connectors"


def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for entry in entry_points(group=GROUP):
        other = found.setdefault(entry.name, entry)
        if other.value != entry.value:
            raise ConfigError(
                f"connector kind {entry.name!r} is declared twice: {other.value} and {entry.value}",
                hint="uninstall one of the packages that declare it",
            )
    return found


def known_kinds() -> dict[str, str]:
    """Installed connector kinds, sorted, each with its ``module:attr`` entry point value."""
    return {name: entry.value for name, entry in sorted(_entry_points().items())}


def connector_class(kind: str) -> type[Connector]:
    """The ``Connector`` subclass for ``kind``; ``ConfigError`` if unknown, broken or not a connector."""
    entries = _entry_points()
    entry = entries.get(kind)
    if entry is None:
        known = ", ".join(sorted(entries)) or "none"
        raise ConfigError(
            f"unknown connector kind {kind!r}; known kinds: {known}",
            hint="fix the connector's 'kind' or install the package that provides it",
        )
    try:
        loaded = entry.load()
    except Exception as exc:  # a plugin's import can fail in any way; name it instead of crashing
        raise ConfigError(
            f"connector plugin {entry.name} = {entry.value} failed to import: {type(exc).__name__}: {exc}",
            hint="reinstall or fix the package that provides it",
        ) from exc
    return _checked(entry, loaded)


def _checked(entry: EntryPoint, loaded: object) -> type[Connector]:
    where = f"connector plugin {entry.name} = {entry.value}"
    if not (inspect.isclass(loaded) and issubclass(loaded, Connector)):
        raise ConfigError(f"{where} is not a Connector subclass (got {loaded!r})")
    settings = getattr(loaded, "Settings", None)
    if not (inspect.isclass(settings) and issubclass(settings, ConnectorSettings)):
        raise ConfigError(f"{where} has no Settings model (a ConnectorSettings subclass)")
    if inspect.isabstract(loaded):
        missing = ", ".join(sorted(loaded.__abstractmethods__))
        raise ConfigError(f"{where} leaves abstract methods unimplemented: {missing}")
    if getattr(loaded, "kind", None) != entry.name:
        raise ConfigError(
            f"{where} has kind {getattr(loaded, 'kind', None)!r}; it must equal the entry point name"
        )
    return loaded
