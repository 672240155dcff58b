"""The shape of erpsync's config file, as pydantic models.

One YAML file configures an installation: ``database``, ``logging``, ``connectors``,
``locations``, ``channels``, ``routing``, ``alerts``, ``api`` and ``security``. Every section is optional (an
empty file is a valid config keeping its data in ``sqlite:///var/erpsync.db``, relative to the
working directory), an empty section means its defaults, and every model forbids unknown keys,
so a typo is reported instead of silently ignored. Models are frozen.

These models check one value at a time. Checks across entries (unique names, location parents),
each connector's settings against its kind and line numbers are ``config.loader``'s job: load
files with ``config.load_config`` rather than validating these models directly.

Secrets (database url, api tokens, the encryption key, connector settings declared ``SecretStr``)
are ``SecretStr``: ``repr`` and ``str`` show ``**********``; ``get_secret_value()`` gives the text.

Errors: pydantic's ``ValidationError``; ``load_config`` turns it into ``ConfigError``.

Example::

    cfg = ErpsyncConfig.model_validate(
        {"locations": [{"code": "WH1", "name": "Factory", "kind": "warehouse"}]}
    )
    cfg.locations[0].priority          # 100
    cfg.database.url.get_secret_value()  # 'sqlite:///var/erpsync.db'
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.fernet import Fernet
from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)

from config.alerts import AlertsConfig
from config.channels import ChannelConfig
from config.durations import Duration, check_cron
from config.durations import Section as _Section
from config.routing import DispatchConfig, EmailConfig, RoutingConfig
from config.source import Loc, Problem, SourceMap
from connectors.base import ConnectorSettings
from core.errors import ConfigError
from mapping.records import KEY

DEFAULT_DATABASE_URL = "sqlite:///var/erpsync.db"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
MIN_API_TOKEN_LENGTH = 16

_CONNECTOR_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_LOCATION_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")

#: a five-field cron line such as "0 6 * * 1-5"
CronLine = Annotated[str, AfterValidator(check_cron)]


class DatabaseConfig(_Section):
    """Where erpsync keeps its data. ``url`` is a SQLAlchemy url and may hold a password."""

    url: SecretStr = SecretStr(DEFAULT_DATABASE_URL)
    echo: bool = False


class LoggingConfig(_Section):
    """Log level (debug, info, warning, error, critical) and format (auto: console on a terminal)."""

    level: str = "info"
    format: Literal["auto", "console", "json"] = "auto"

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().lower()
        if level not in LOG_LEVELS:
            raise ValueError(f"unknown log level {value!r}; use one of {', '.join(LOG_LEVELS)}")
        return level


class StreamConfig(_Section):
    """When and how one stream of a connector is read.

    ``every`` (an interval) or ``cron`` (a five-field cron line) schedules the stream; with
    neither it runs only when started by hand. ``lag`` re-reads that much before the saved cursor
    for late updates, ``jitter`` spreads start times, ``staleness`` is how old the last successful
    run may get before an alert. ``mapping`` is a field map (see ``mapping``), None for the
    connector's default. ``missing`` says what a complete stock snapshot means for a SKU it no
    longer lists: ``zero`` (it is gone) or ``keep`` (leave the last level). ``max_shrink`` (0..1,
    default 0.2) is the share of its source's rows a stock snapshot may zero before it is held for
    a person (an empty snapshot with rows to zero is always held; see docs/stock.md).

    The cursor never moves past the run's start plus ``clock_skew`` (default 5 minutes; records
    dated later are applied and raise an alert). Cursor times without an offset are read in
    ``cursor_timezone`` (default: the connector's own clock — the SQL connector's ``timezone``,
    Asia/Shanghai for Kingdee, else UTC); ``cursor_epoch`` (``seconds`` or ``milliseconds``) says
    a numeric cursor is a Unix time (otherwise numbers are ids and never capped).
    """

    every: Duration | None = None
    cron: CronLine | None = None
    lag: Duration = timedelta(0)
    enabled: bool = True
    mapping: dict[str, Any] | None = None
    jitter: Duration = timedelta(seconds=10)
    staleness: Duration | None = None
    missing: Literal["zero", "keep"] = "zero"
    max_shrink: float = Field(default=0.2, ge=0, le=1)
    clock_skew: Duration = timedelta(minutes=5)
    cursor_timezone: str | None = None
    cursor_epoch: Literal["seconds", "milliseconds"] | None = None

    @field_validator("cursor_timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)"
                ) from None
        return value

    @field_validator("clock_skew")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("clock_skew cannot be negative")
        return value

    @field_validator("every")
    @classmethod
    def _positive_interval(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("every must be longer than 0s (leave it out to run the stream by hand only)")
        return value

    @model_validator(mode="after")
    def _one_schedule(self) -> StreamConfig:
        if self.every is not None and self.cron is not None:
            raise ValueError("give either every or cron, not both")
        return self


class SkuBindingConfig(_Section):
    """This connector's SKU ``external_sku`` is our ``sku``; one of its units is ``uom_factor`` of ours."""

    external_sku: Annotated[str, Field(min_length=1, max_length=128), KEY]
    sku: Annotated[str, Field(min_length=1, max_length=64), KEY]
    uom_factor: int = Field(default=1, ge=1)


class ConnectorConfig(_Section):
    """One configured connection to an external system.

    ``kind`` names the connector class (see ``connectors.registry``); ``settings`` are checked
    against that class's ``Settings`` model when the file is loaded, and the validated object is
    ``parsed_settings`` (it is not part of dumps; in ``settings`` its secret values stay
    ``SecretStr``). ``skus``: "identity" when the external SKU is our SKU, "bound" when every
    external SKU needs a binding to one of ours.
    """

    name: str
    kind: str
    settings: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True
    skus: Literal["identity", "bound"] = "identity"
    #: SKU bindings kept in the config (more come from `erpsync mapping import-skus FILE`)
    sku_bindings: list[SkuBindingConfig] = Field(default_factory=list)
    streams: dict[str, StreamConfig] = Field(default_factory=dict)

    _parsed_settings: ConnectorSettings | None = PrivateAttr(default=None)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _CONNECTOR_NAME.fullmatch(value):
            raise ValueError(
                "a connector name is 1-64 characters: lowercase letters, digits, '_' or '-', "
                "starting with a letter"
            )
        return value

    @property
    def parsed_settings(self) -> ConnectorSettings:
        """The settings validated against this connector kind's ``Settings`` model."""
        if self._parsed_settings is None:
            raise ConfigError(
                f"settings of connector {self.name!r} were not checked against kind {self.kind!r}",
                connector=self.name,
                hint="load the config with config.load_config",
            )
        return self._parsed_settings

    def attach_settings(self, settings: ConnectorSettings) -> None:
        """Keep ``settings``, validated against this connector's kind, as ``parsed_settings``."""
        self._parsed_settings = settings


class LocationConfig(_Section):
    """A place holding stock: a warehouse, an agent, a distributor or a retail shop.

    ``parent`` is the code of the location supplying this one (None for the top of the tree),
    ``regions`` the regions it serves, ``priority`` orders candidates (lower first) and
    ``safety_stock`` units are never offered for sale.
    """

    code: str
    name: str = Field(min_length=1)
    kind: Literal["warehouse", "agent", "distributor", "retail"]
    parent: str | None = None
    regions: list[str] = Field(default_factory=list)
    priority: int = 100
    safety_stock: int = Field(default=0, ge=0)
    #: the connector whose stock readings are authoritative here (None: erpsync keeps the books)
    stock_source: str | None = None
    #: how this location receives dispatch instructions (None: it ships nothing erpsync routes)
    dispatch: DispatchConfig | None = None

    @field_validator("code")
    @classmethod
    def _valid_code(cls, value: str) -> str:
        if not _LOCATION_CODE.fullmatch(value):
            raise ValueError("a location code is 1-64 characters: letters, digits, '_', '.' or '-'")
        return value


class ApiToken(_Section):
    """A bearer token for the HTTP API; ``locations`` limits a warehouse token to those codes."""

    name: str = Field(min_length=1)
    token: SecretStr
    role: Literal["admin", "warehouse", "viewer"]
    locations: list[str] = Field(default_factory=list)

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_API_TOKEN_LENGTH:
            raise ValueError(
                f"an api token must be at least {MIN_API_TOKEN_LENGTH} characters; "
                "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value


class ApiConfig(_Section):
    """The HTTP API: the ``host:port`` it listens on, the tokens it accepts, the largest request body."""

    listen: str = "127.0.0.1:8787"
    tokens: list[ApiToken] = Field(default_factory=list)
    #: a larger request body is answered 413 before it is read
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)

    @field_validator("listen")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) < 65536:  # 0: any free port
            raise ValueError("listen must be host:port, e.g. 127.0.0.1:8787 or 0.0.0.0:8787")
        return value


class SecurityConfig(_Section):
    """``encryption_key``: the Fernet key that encrypts personal data (names, addresses) at rest.

    Give the key itself (``${ERPSYNC_ENCRYPTION_KEY}``) or ``encryption_key_file``: a file holding it
    (one line; keep it mode 0600), read when the config is loaded — a relative path is relative to the
    working directory, like the SQLite database. Either way the key ends up in ``encryption_key``.
    """

    encryption_key: SecretStr | None = None
    encryption_key_file: Path | None = None

    @field_validator("encryption_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _check_fernet_key(value.get_secret_value(), "encryption_key")
        return value

    @field_validator("encryption_key_file")
    @classmethod
    def _readable_key_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            _read_key_file(value)
        return value

    @model_validator(mode="after")
    def _key_from_file(self) -> SecurityConfig:
        if self.encryption_key_file is None:
            return self
        if self.encryption_key is not None:
            raise ValueError("give encryption_key or encryption_key_file, not both")
        return self.model_copy(update={"encryption_key": _read_key_file(self.encryption_key_file)})


_NEW_KEY_HINT = (
    "generate one with: python -c 'from cryptography.fernet import Fernet; "
    "print(Fernet.generate_key().decode())'"
)


def _check_fernet_key(text: str, what: str) -> None:
    try:
        Fernet(text.encode())
    except ValueError:
        raise ValueError(
            f"{what} must be a Fernet key (32 url-safe base64-encoded bytes); {_NEW_KEY_HINT}"
        ) from None


def _read_key_file(path: Path) -> SecretStr:
    """Return the key held in ``path``; ValueError naming the file (never its content) otherwise."""
    try:
        with path.open("rb") as f:
            data = f.read(1024)  # a key is 44 characters: never read a large file or a device whole
    except OSError as exc:
        raise ValueError(f"cannot read the key file {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("ascii").strip()
    except UnicodeDecodeError:
        text = ""
    _check_fernet_key(text, f"the key file {path}")
    return SecretStr(text)


class ErpsyncConfig(_Section):
    """The whole config file."""

    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    connectors: list[ConnectorConfig] = Field(default_factory=list)
    locations: list[LocationConfig] = Field(default_factory=list)
    channels: list[ChannelConfig] = Field(default_factory=list)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    email: EmailConfig = Field(default_factory=EmailConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)

    _origin: tuple[str, SourceMap] | None = PrivateAttr(default=None)

    def __eq__(self, other: object) -> bool:
        # the same values are the same config, whichever file (and lines) they were read from
        if not isinstance(other, ErpsyncConfig):
            return NotImplemented
        return dict(self) == dict(other)

    def __hash__(self) -> int:
        return hash(self.model_dump_json())  # equal configs dump alike (secrets masked alike too)

    @property
    def filename(self) -> str:
        """The file this config was read from (``<config>`` when it was built in code)."""
        return self._origin[0] if self._origin else "<config>"

    def attach_origin(self, filename: str, source: SourceMap) -> None:
        """Remember the file and the lines this config came from, for later findings about it."""
        self._origin = (filename, source)

    def problem(self, loc: Loc, message: str, *, key: bool = False) -> Problem:
        """Return a finding about the value (``key``: the key) at ``loc``, with its line (1 when unknown)."""
        source = self._origin[1] if self._origin else SourceMap()
        return source.problem(loc, message, key=key)

    @model_validator(mode="before")
    @classmethod
    def _empty_sections_mean_defaults(cls, data: Any) -> Any:
        # "database:" with every key commented out parses as None
        if isinstance(data, dict):
            known = cls.model_fields
            return {key: value for key, value in data.items() if value is not None or key not in known}
        return data
