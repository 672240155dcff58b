"""CLI commands for the config file, the database schema, the connectors and the status overview."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from config import CONFIG_ENV, format_duration
from connectors.registry import known_kinds
from core.errors import ConfigError
from core.excerpt import shorten
from erpsync.console import make_console
from erpsync.context import DEFAULT_CONFIG, app_context
from erpsync.exits import EXIT_FAILURE
from store import migrate
from sync.queries import StreamStatus, stream_status

out = make_console()

config_app = typer.Typer(help="Check the config file.", no_args_is_help=True)
db_app = typer.Typer(help="Create or upgrade the central database schema.", no_args_is_help=True)
connectors_app = typer.Typer(
    help="Connector kinds installed and connectors configured.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
    app.add_typer(db_app, name="db")
    app.add_typer(connectors_app, name="connectors")
    app.command("status", help="Per stream: last run, outcome, cursor, records, quarantine, lag, lease.")(
        status
    )


@config_app.command("validate")
def config_validate(
    ctx: typer.Context,
    show: Annotated[bool, typer.Option("--show", help="Print the effective config, secrets masked.")] = False,
) -> None:
    """Check the config file as `erpsync run` does at start; every problem with its line (exit 2 if any).

    Builds every connector, compiles every field map, resolves every reference and checks the
    channels, the ERP's sales settings and the dispatch targets (erpsync/startup.py). Without a
    config file (--config, $ERPSYNC_CONFIG or ./erpsync.yaml) it fails instead of assuming defaults.
    """
    from config import render_config
    from erpsync.startup import check_startup

    app_ctx = app_context(ctx)
    if app_ctx.config_file() is None:
        raise ConfigError(
            f"no config file to validate: looked at --config (not given), ${CONFIG_ENV} (not set) and "
            f"./{DEFAULT_CONFIG} (not in {Path.cwd()}); pass --config FILE or create {DEFAULT_CONFIG}"
        )
    cfg = app_ctx.config
    parts = check_startup(cfg)
    if show:
        out.print(render_config(cfg), markup=False)
    out.print(
        f"config ok: {cfg.filename} — {len(cfg.connectors)} connector(s), {len(parts.streams)} stream(s), "
        f"{len(cfg.locations)} location(s), {len(cfg.channels)} channel(s)",
        markup=False,
    )


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply every pending migration (creates the schema; on MariaDB/MySQL the database too)."""
    engine = app_context(ctx).engine
    if migrate.ensure_database(engine):
        out.print(f"created database `{engine.url.database}` (utf8mb4, utf8mb4_bin)", markup=False)
    todo = migrate.pending(engine)
    migrate.upgrade(engine)
    if todo:
        out.print(f"upgraded to {migrate.head()} (applied {', '.join(todo)})")
    else:
        out.print(f"already at {migrate.head()}")


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Show the schema revision of the database and whether an upgrade is pending (exit 1 if so)."""
    engine = app_context(ctx).engine
    rev = migrate.current(engine)
    todo = migrate.pending(engine)
    out.print(f"database: {engine.url.render_as_string(hide_password=True)}", markup=False)
    out.print(f"revision: {rev or '(empty database)'}; code head: {migrate.head()}")
    if todo:
        out.print(f"pending: {', '.join(todo)} — run `erpsync db upgrade`", markup=False)
        raise typer.Exit(EXIT_FAILURE)


@connectors_app.command("list")
def connectors_list(ctx: typer.Context) -> None:
    """List installed connector kinds and the connectors in the config file."""
    kinds = Table("kind", "provided by", title="installed connector kinds")
    for kind, target in sorted(known_kinds().items()):
        kinds.add_row(kind, target)
    out.print(kinds)
    cfg = app_context(ctx).config
    table = Table("name", "kind", "enabled", "streams", title="configured connectors")
    for conn in cfg.connectors:
        streams = ", ".join(
            f"{name} ({format_duration(s.every) if s.every else s.cron or 'manual'})"
            for name, s in conn.streams.items()
        )
        table.add_row(conn.name, conn.kind, "yes" if conn.enabled else "no", streams or "-")
    out.print(table)


def status(ctx: typer.Context) -> None:
    app_ctx = app_context(ctx)
    cfg = app_ctx.config
    configured = [(c.name, s) for c in cfg.connectors for s in c.streams]
    rows = stream_status(app_ctx.engine, configured)
    table = Table(
        "connector", "stream", "last run", "outcome", "cursor", "in", "changed", "quarantine", "lag", "lease"
    )
    for row in rows:
        table.add_row(*_status_cells(row))
    out.print(table if rows else "no streams configured and no runs recorded yet")
    for row in rows:
        if row.lease_state is not None and row.lease_state != "held":
            out.print(
                f"{row.connector}/{row.stream}: {row.lease_text()}; the next run takes it over", markup=False
            )


def _status_cells(row: StreamStatus) -> list[str]:
    """A stream's status as the text cells of one table row."""
    lag = row.lag
    return [
        row.connector,
        row.stream,
        row.last_started.strftime("%Y-%m-%d %H:%M:%S") if row.last_started else "never",
        (row.outcome or "-") + (f": {shorten(row.error, 60)}" if row.error else ""),
        row.cursor or "-",
        str(row.records_in),
        str(row.records_changed),
        str(row.quarantined_open),
        _human(lag) if lag is not None else "-",
        row.lease_text(),
    ]


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
