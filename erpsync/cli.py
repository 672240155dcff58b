"""The ``erpsync`` command line.

Exit codes (``erpsync.exits``, the README's "Exit codes"): 0 success, 1 the job failed, 2 a usage
or configuration error, 3 partial (some records quarantined), 4 nothing to do.

A command that fails prints one or two lines on stderr — what failed, where, and the command or
setting that fixes it (``erpsync.failures``) — never a traceback and never a secret. ``--debug``
(or ``ERPSYNC_DEBUG=1``) prints the traceback too. With JSON logs asked for by name
(``--log-format json``), those lines are one JSON event, like every other line on stderr.
"""

from __future__ import annotations

import os
import sys
import traceback
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Annotated

import structlog
import typer

from core.errors import ConfigError
from core.redact import redact_text
from erpsync.console import make_console
from erpsync.context import AppContext
from erpsync.exits import EXIT_FAILURE, EXIT_NOTHING, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE
from erpsync.failures import explain
from erpsync.logging import configure_logging, json_chosen

__all__ = ["EXIT_FAILURE", "EXIT_NOTHING", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "app", "main", "run_cli"]

DEBUG_ENV = "ERPSYNC_DEBUG"

app = typer.Typer(
    name="erpsync",
    help=(
        "Keep ERP stock, sales-channel listings and orders in step.\n\n"
        "Polls the ERP and the sales channels, reconciles stock and orders into one database, "
        "pushes sellable quantities back to the channels, routes orders to warehouses and raises "
        "shortage alerts. Start with `erpsync config validate`, then `erpsync db upgrade`."
    ),
    epilog=(
        "Exit codes: 0 success, 1 the job failed, 2 usage or config error, "
        "3 partial (records quarantined), 4 nothing to do."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)
err = make_console(stderr=True)
log = structlog.get_logger("erpsync.cli")


@dataclass
class _Run:
    """What the root callback learnt that ``run_cli`` needs when a command fails."""

    debug: bool = False
    context: AppContext | None = None


_RUN: ContextVar[_Run] = ContextVar("erpsync_cli_run")


def package_version() -> str:
    """The installed erpsync's version (from the package metadata)."""
    try:
        return metadata.version("erpsync")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"erpsync {package_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    *,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            envvar="ERPSYNC_CONFIG",
            help="Config file (default ./erpsync.yaml).",
            show_default=False,
            readable=False,  # the loader says why it cannot read it, in one line
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
    debug: Annotated[
        bool,
        typer.Option("--debug", envvar=DEBUG_ENV, help="On a failure, print the traceback too."),
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    run = _RUN.get(None)
    if run is not None:
        run.debug = debug
    known_format = log_format if log_format in ("auto", "console", "json") else None
    # first: how the failure below is printed depends on it (and nothing of an earlier run lingers)
    configure_logging(log_level or "info", known_format or "auto")  # type: ignore[arg-type]
    if log_format is not None and known_format is None:
        raise ConfigError(f"--log-format: use auto, console or json, not {log_format!r}")
    ctx.obj = AppContext(config_path=config, log_level=log_level, log_format=log_format)
    if run is not None:
        run.context = ctx.obj
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
    run = _Run(debug=_env_flag(os.environ.get(DEBUG_ENV)))
    token = _RUN.set(run)
    try:
        app(args=argv, prog_name="erpsync", standalone_mode=True)
    except SystemExit as exc:  # click's standalone mode ends every run with SystemExit
        code = exc.code
        return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_FAILURE)
    except Exception as exc:  # the one place where any failure becomes a message and an exit code
        return _report(exc, run)
    finally:
        _RUN.reset(token)
    return EXIT_OK


def _env_flag(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


def _report(exc: Exception, run: _Run) -> int:
    """Print what failed (see ``erpsync.failures``) and return the exit code."""
    failure = explain(exc, run.context.database_info() if run.context else None)
    if json_chosen():
        details = {"details": list(failure.lines[1:])} if len(failure.lines) > 1 else {}
        log.error(failure.lines[0], exit_code=failure.code, exc_info=exc if run.debug else None, **details)
        return failure.code
    if run.debug:
        trace = "".join(traceback.format_exception(exc))
        err.print(redact_text(trace), markup=False, end="")
    for line in failure.lines:
        err.print(line, markup=False)
    return failure.code


def main() -> None:
    """Console-script entry point."""
    sys.exit(run_cli(sys.argv[1:]))


if __name__ == "__main__":
    main()
