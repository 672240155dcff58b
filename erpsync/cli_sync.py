"""CLI commands that move data: ``sync`` (once, in the foreground) and ``run`` (the service).

``sync`` exits 0 when every stream ran clean, 3 when they ran but some records were quarantined,
1 when a stream failed, was held (a shrinking snapshot) or was busy elsewhere, and 2 for an
unknown connector or stream. It shows a spinner only on a terminal with console logs.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.errors import ConfigError
from core.statuses import RunStatus
from erpsync.console import make_console
from erpsync.context import AppContext, app_context
from erpsync.exits import EXIT_FAILURE, EXIT_PARTIAL
from erpsync.logging import json_lines
from erpsync.service import build_api, build_service
from erpsync.wiring import location_specs, plan_streams
from mapping.skus import SkuBinding
from store import migrate
from store.bindings import save_bindings
from store.locations import apply_locations
from sync.engine import RunResult, is_guarded_snapshot, run_stream

out = make_console()


def register(app: typer.Typer) -> None:
    app.command("sync")(sync_command)
    app.command("run")(run_command)


def prepare_store(ctx: AppContext) -> None:
    """Refuse to work on an outdated schema; bring the location table in line with the config."""
    todo = migrate.pending(ctx.engine)
    if todo:
        raise ConfigError(
            f"the database schema is not up to date (pending {', '.join(todo)}); run `erpsync db upgrade`"
        )
    apply_locations(ctx.engine, location_specs(ctx.config))
    bindings = [
        SkuBinding(c.name, b.external_sku, b.sku, b.uom_factor)
        for c in ctx.config.connectors
        for b in c.sku_bindings
    ]
    if bindings:
        with ctx.engine.begin() as conn:
            save_bindings(conn, bindings)


def sync_command(
    ctx: typer.Context,
    connector: Annotated[str, typer.Argument(help="Connector name from the config file.")],
    stream_arg: Annotated[
        str | None, typer.Argument(metavar="[STREAM]", help="Only this stream.", show_default=False)
    ] = None,
    *,
    stream: Annotated[str | None, typer.Option("--stream", "-s", help="Only this stream.")] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Ignore the saved cursor and read everything.")
    ] = False,
    accept_shrink: Annotated[
        bool,
        typer.Option(
            "--accept-shrink",
            help="Read the stock snapshot in full and apply it even if it zeroes more than max_shrink "
            "of its source's rows (releases a held snapshot).",
        ),
    ] = False,
) -> None:
    """Run a connector's streams once, in the foreground, and print what changed."""
    app_ctx = app_context(ctx)
    if stream_arg and stream and stream_arg != stream:
        raise ConfigError(f"two different streams given: {stream_arg!r} and --stream {stream!r}")
    stream = stream_arg or stream
    planned = plan_streams(app_ctx.config, connector=connector, stream=stream)
    if accept_shrink and not any(is_guarded_snapshot(item.job) for item in planned):
        raise ConfigError(
            f"--accept-shrink: {connector}{'/' + stream if stream else ''} has no snapshot stream to accept"
        )
    prepare_store(app_ctx)
    results: list[tuple[str, RunResult]] = []
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=make_console(stderr=True),
        disable=not sys.stderr.isatty() or json_lines(),  # JSON logs: every line on stderr is JSON
        transient=True,
    ) as progress:
        for item in planned:
            task = progress.add_task(f"{connector}/{item.job.stream}", total=None)

            def show(r: RunResult, task: Any = task, name: str = item.job.stream) -> None:
                progress.update(
                    task, description=f"{connector}/{name}: {r.pages} pages, {r.records_in} records"
                )

            # accepting reads the snapshot from scratch: only a complete read can be applied
            accept = accept_shrink and is_guarded_snapshot(item.job)
            result = run_stream(
                app_ctx.engine, item.job, full=full or accept, on_page=show, accept_shrink=accept
            )
            results.append((item.job.stream, result))
    table = Table("stream", "outcome", "pages", "records", "changed", "quarantined", "cursor")
    for name, r in results:
        table.add_row(
            name,
            r.status,
            str(r.pages),
            str(r.records_in),
            str(r.changed),
            str(r.quarantined),
            r.cursor or "-",
        )
    out.print(table)
    for name, r in results:
        if r.status == RunStatus.HELD:
            out.print(f"{connector}/{name} held: {r.error}", markup=False)
    quarantined = sum(r.quarantined for _, r in results)
    if quarantined:
        out.print(f"{quarantined} record(s) quarantined: see `erpsync quarantine list`", markup=False)
    if any(r.status != RunStatus.OK for _, r in results):
        raise typer.Exit(EXIT_FAILURE)
    if quarantined:
        raise typer.Exit(EXIT_PARTIAL)


def run_command(
    ctx: typer.Context,
    duration: Annotated[
        float | None,
        typer.Option("--for", help="Stop by itself after this many seconds.", show_default=False),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", help="Streams run in parallel at most.")] = 4,
    api: Annotated[bool, typer.Option("--api/--no-api", help="Serve the HTTP API on api.listen.")] = True,
) -> None:
    """Run the service: every scheduled stream on its schedule, until SIGTERM/SIGINT."""
    app_ctx = app_context(ctx)
    service = build_service(app_ctx.engine, app_ctx.config, max_workers=workers)
    prepare_store(app_ctx)
    if not service.jobs and not service.tasks:
        raise ConfigError(
            "no stream has a schedule (`every:` or `cron:`) and no channel to push to; nothing to run"
        )
    done = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        done.set()

    server = build_api(app_ctx.engine, app_ctx.config, service) if api else None
    if server is not None:
        server.start()  # first: a port in use ends the command before any stream has started
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        service.start()
        try:
            done.wait(duration)
        finally:
            service.stop()
    finally:
        if server is not None:
            server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
