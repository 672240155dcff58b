"""The ``erpsync`` command line.

Exit codes: 0 success, 1 a failure while working (a remote system, the database), 2 a usage or
configuration error (fix the command or the config file). Errors are printed on stderr, one
finding per line, never with a secret in them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from erpsync.console import make_console
from erpsync.context import AppContext
from erpsync.logging import configure_logging
from mapping.errors import ConfigError, ErpsyncError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_PARTIAL, EXIT_NOTHING = 0, 1, 2, 3, 4

app = typer.Typer(
    name="erpsync",
    help=(
        "Keep ERP stock, sales-channel listings and orders in step.\n\n"
        "Polls the ERP and the sales channels, reconciles stock and orders into one database, "
        "pushes sellable quantities back to the channels, routes orders to warehouses and raises "
        "shortage alerts. Start with `erpsync config validate`, then `erpsync db upgrade`."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)
err = make_console(stderr=True)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            envvar="ERPSYNC_CONFIG",
            help="Config file (default ./erpsync.yaml).",
            show_default=False,
        ),
    ] = None,
    log_format: Annotated[
        str | None,
        typer.Option(
            "--log-format",
            help="auto (console on a terminal, else JSON lines), console or json. Default: logging.format.",
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[
        str | None,
        typer.Option(
            "--log-level",
            help="debug, info, warning or error. Default: the config's logging.level.",
            show_default=False,
        ),
    ] = None,
) -> None:
    if log_format not in (None, "auto", "console", "json"):
        raise ConfigError(f"--log-format: use auto, console or json, not {log_format!r}")
    configure_logging(log_level or "info", log_format or "auto")  # type: ignore[arg-type]
    ctx.obj = AppContext(config_path=config, log_level=log_level, log_format=log_format)
    ctx.call_on_close(ctx.obj.close)


def _register_commands() -> None:
    from erpsync import cli_admin, cli_alerts, cli_data, cli_orders, cli_outbox, cli_stock, cli_sync

    cli_admin.register(app)
    cli_sync.register(app)
    cli_data.register(app)
    cli_stock.register(app)
    cli_orders.register(app)
    cli_outbox.register(app)
    cli_alerts.register(app)


_register_commands()


def run_cli(argv: list[str]) -> int:
    """Run the CLI with ``argv`` and return the exit code (errors already printed)."""
    try:
        app(args=argv, prog_name="erpsync", standalone_mode=True)
    except SystemExit as exc:  # click's standalone mode ends every run with SystemExit
        code = exc.code
        return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_FAILURE)
    except ConfigError as exc:
        for problem in exc.problems:
            err.print(problem, markup=False)
        if len(exc.problems) > 1 or exc.problems[0] != exc.message:
            err.print(exc.message, markup=False)
        return EXIT_USAGE
    except ErpsyncError as exc:
        err.print(f"error: {exc}", markup=False)
        return EXIT_FAILURE
    return EXIT_OK


def main() -> None:
    """Console-script entry point."""
    sys.exit(run_cli(sys.argv[1:]))


if __name__ == "__main__":
    main()
