"""What a CLI command or the service needs: the loaded config and an engine on its database.

Both are built lazily, so ``erpsync --help`` or ``connectors list`` work without a database, and a
missing default ``./erpsync.yaml`` means "all defaults" (SQLite under ``var/``) rather than an
error — while a config file named with ``--config`` or ``ERPSYNC_CONFIG`` must exist.

``database_info()`` names the database for error messages: its url with the password masked and
where that url is set (``ERPSYNC_DATABASE_URL`` wins over the file's ``database.url``). A url
SQLAlchemy cannot use (not a url, an unknown backend or driver) is a ``ConfigError`` naming it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import typer
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from config import ErpsyncConfig, load_config, load_config_text
from config.loader import DATABASE_URL_ENV
from core.errors import ConfigError
from erpsync.failures import DatabaseInfo
from erpsync.logging import configure_logging
from mapping.records import normalise_key
from store.db import make_engine

DEFAULT_CONFIG = Path("erpsync.yaml")


@dataclass
class AppContext:
    """Lazily loaded config and engine for one process."""

    config_path: Path | None = None
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    #: logging options given on the command line; they win over the config's ``logging:``
    log_level: str | None = None
    log_format: str | None = None

    def config_file(self) -> Path | None:
        """The config file to read: ``--config``, ``$ERPSYNC_CONFIG``, else ``./erpsync.yaml`` if there."""
        explicit = self.config_path or (
            Path(self.env["ERPSYNC_CONFIG"]) if self.env.get("ERPSYNC_CONFIG") else None
        )
        if explicit is None and not DEFAULT_CONFIG.exists():
            return None
        return explicit or DEFAULT_CONFIG

    @cached_property
    def config(self) -> ErpsyncConfig:
        file = self.config_file()
        if file is None:
            cfg = load_config_text("", "<defaults>", env=self.env)
        else:
            cfg = load_config(file, env=self.env)
        configure_logging(self.log_level or cfg.logging.level, self.log_format or cfg.logging.format)  # type: ignore[arg-type]
        return cfg

    @cached_property
    def engine(self) -> Engine:
        db = self.config.database
        try:
            return make_engine(db.url.get_secret_value(), echo=db.echo)
        except (ArgumentError, ImportError) as exc:  # not a url, or an unknown backend or driver
            raise ConfigError(
                f"{self.database_setting()}: not a database url erpsync can use ({exc})",
                hint="write sqlite:///path/to/erpsync.db or mysql+pymysql://user:password@host:3306/name",
            ) from None

    def database_setting(self) -> str:
        """Where the database url is set, as a person would go and change it."""
        if self.env.get(DATABASE_URL_ENV):
            return DATABASE_URL_ENV
        file = self.config_file()
        if file is not None:
            return f"database.url in {file}"
        return "database.url (no config file: the default)"

    def database_info(self) -> DatabaseInfo | None:
        """The database for error messages; None while the config is not loaded."""
        if "config" not in self.__dict__:
            return None
        try:
            url = make_url(self.config.database.url.get_secret_value())
        except ArgumentError:
            return None
        sqlite = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
        return DatabaseInfo(
            url.set(query={}).render_as_string(hide_password=True),
            self.database_setting(),
            Path(url.database).resolve() if sqlite and url.database else None,
            None if url.get_backend_name() == "sqlite" else url.database,
        )

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()


def app_context(ctx: typer.Context) -> AppContext:
    """The process's AppContext (set up by the CLI's root callback)."""
    obj = ctx.find_root().obj
    assert isinstance(obj, AppContext)
    return obj


def key_param(value: str | None) -> str | None:
    """A CLI argument naming a SKU or a code, under the key rule of ``mapping.records``."""
    if value is None:
        return None
    try:
        return normalise_key(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
