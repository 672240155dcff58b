"""erpsync's configuration: one YAML file, validated with every problem reported at once.

``load_config(path=None, env=None)`` reads ``path`` (else ``$ERPSYNC_CONFIG``, else
``./erpsync.yaml``), substitutes ``${VAR}`` / ``${VAR:-fallback}`` from the environment, lets
``$ERPSYNC_DATABASE_URL`` override ``database.url``, validates everything (connector settings
against their kind included) and registers the secrets for redaction. ``render_config`` prints
the effective config with secrets masked. See ``config.model`` for the keys of the file and
``config/examples/`` for commented examples.

Errors: ``core.errors.ConfigError``; ``err.problems`` lists every finding as
``FILE:LINE PATH: message``.

Example::

    from config import load_config, render_config

    cfg = load_config("erpsync.yaml")
    cfg.database.url.get_secret_value()
    print(render_config(cfg))
"""

from config.alerts import AlertsConfig, Destination, Route, ShortageRule
from config.channels import ChannelConfig, ChannelLock, RuleOverride, SellableRule
from config.durations import format_duration, parse_duration
from config.loader import (
    CONFIG_ENV,
    DATABASE_URL_ENV,
    DEFAULT_CONFIG_FILE,
    ConnectorLookup,
    invalid_config,
    load_config,
    load_config_text,
    resolve_config_path,
)
from config.model import (
    DEFAULT_DATABASE_URL,
    ApiConfig,
    ApiToken,
    ConnectorConfig,
    DatabaseConfig,
    ErpsyncConfig,
    LocationConfig,
    LoggingConfig,
    SecurityConfig,
    StreamConfig,
)
from config.render import SECRET_MASK, render_config
from config.routing import DispatchConfig, EmailConfig, Pin, RoutingConfig, SplitPolicy
from config.source import Loc, Problem

__all__ = [
    "CONFIG_ENV",
    "DATABASE_URL_ENV",
    "DEFAULT_CONFIG_FILE",
    "DEFAULT_DATABASE_URL",
    "SECRET_MASK",
    "AlertsConfig",
    "ApiConfig",
    "ApiToken",
    "ChannelConfig",
    "ChannelLock",
    "ConnectorConfig",
    "ConnectorLookup",
    "DatabaseConfig",
    "Destination",
    "DispatchConfig",
    "EmailConfig",
    "ErpsyncConfig",
    "Loc",
    "LocationConfig",
    "LoggingConfig",
    "Pin",
    "Problem",
    "Route",
    "RoutingConfig",
    "RuleOverride",
    "SecurityConfig",
    "SellableRule",
    "ShortageRule",
    "SplitPolicy",
    "StreamConfig",
    "format_duration",
    "invalid_config",
    "load_config",
    "load_config_text",
    "parse_duration",
    "render_config",
    "resolve_config_path",
]
