"""CLI commands for IT staff: quarantined records and the SKU/field mappings.

``quarantine retry`` and ``discard`` refuse an id that names no quarantined record (exit 2),
work on the open records among the ids given, and exit 4 when none of them is open any more;
``retry`` exits 3 when some records are still refused.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from connectors.base import Page
from core.errors import ConfigError
from core.excerpt import shorten
from erpsync.cli_sync import prepare_store
from erpsync.console import make_console
from erpsync.context import app_context
from erpsync.exits import EXIT_NOTHING, EXIT_PARTIAL
from erpsync.wiring import build_connector, field_map, plan_streams, stream_kind
from mapping.pipeline import Mapper, record_key
from mapping.preview import load_sample, preview
from mapping.skus import read_bindings_csv
from store.bindings import save_bindings
from sync import quarantine, queries
from sync.engine import run_stream
from sync.queries import QuarantinedRecord

out = make_console()
quarantine_app = typer.Typer(help="Records that could not be used, with the reason.", no_args_is_help=True)
mapping_app = typer.Typer(help="Field mappings and SKU bindings.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(quarantine_app, name="quarantine")
    app.add_typer(mapping_app, name="mapping")


@quarantine_app.command("list")
def quarantine_list(
    ctx: typer.Context,
    *,
    connector: Annotated[str | None, typer.Option(help="Only this connector.")] = None,
    stream: Annotated[str | None, typer.Option(help="Only this stream.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only this reason code, e.g. unmapped_sku.")] = None,
    status: Annotated[str, typer.Option(help="open, resolved, discarded or all.")] = "open",
    limit: Annotated[int, typer.Option(help="At most this many, newest first.", min=1)] = 200,
) -> None:
    """List quarantined records, newest first."""
    with app_context(ctx).engine.connect() as conn:
        rows = queries.list_quarantine(
            conn,
            connector=connector,
            stream=stream,
            reason=reason,
            status=None if status == "all" else status,
            limit=limit,
        )
    table = Table("id", "connector", "stream", "record", "code", "reason", "seen", "last seen", "status")
    for q in rows:
        reason = shorten(q.reason, 70)
        table.add_row(
            str(q.id),
            q.connector,
            q.stream,
            q.record_key,
            q.reason_code,
            reason,
            str(q.seen_count),
            q.last_seen.strftime("%Y-%m-%d %H:%M"),
            q.status,
        )
    out.print(table if rows else "nothing in quarantine")
    if rows.more:
        out.print(f"showing {len(rows):,} of {rows.total:,} records — pass --limit to see more", markup=False)


@quarantine_app.command("show")
def quarantine_show(ctx: typer.Context, record_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Show one quarantined record: the reason and the payload as received."""
    with app_context(ctx).engine.connect() as conn:
        rows = queries.get_quarantined(conn, [record_id])
    if not rows:
        raise ConfigError(f"no quarantined record with id {record_id}; see `erpsync quarantine list`")
    q = rows[0]
    out.print(
        f"{q.connector}/{q.stream} record {q.record_key} — {q.status}, seen {q.seen_count}×", markup=False
    )
    out.print(f"reason ({q.reason_code}): {q.reason}", markup=False)
    out.print(json.dumps(q.payload, ensure_ascii=False, indent=2), markup=False)


def _open_records(rows: list[QuarantinedRecord], ids: list[int]) -> list[QuarantinedRecord]:
    """The open ones among ``rows``; ``ConfigError`` for an id with no row, exit 4 if none is open."""
    missing = sorted(set(ids) - {q.id for q in rows})
    if missing:
        names = ", ".join(map(str, missing))
        raise ConfigError(f"no quarantined record {names}; see `erpsync quarantine list --status all`")
    closed = [q for q in rows if q.status != "open"]
    for q in closed:
        out.print(f"record {q.id} is {q.status} already: left alone", markup=False)
    if len(closed) == len(rows):
        out.print("nothing to do: none of these records is open")
        raise typer.Exit(EXIT_NOTHING)
    return [q for q in rows if q.status == "open"]


@quarantine_app.command("retry")
def quarantine_retry(ctx: typer.Context, ids: Annotated[list[int], typer.Argument(metavar="ID...")]) -> None:
    """Map and land quarantined records again (after fixing a binding or the mapping)."""
    app_ctx = app_context(ctx)
    with app_ctx.engine.connect() as conn:
        rows = _open_records(queries.get_quarantined(conn, ids), ids)
    prepare_store(app_ctx)
    groups: dict[tuple[str, str], list[dict[str, object]]] = {}
    for q in rows:
        groups.setdefault((q.connector, q.stream), []).append(q.payload)
    refused = 0
    for (connector, stream), payloads in groups.items():
        job = plan_streams(app_ctx.config, connector=connector, stream=stream)[0].job
        result = run_stream(app_ctx.engine, job, pages=[Page(records=payloads)])
        landed = len(payloads) - result.quarantined
        refused += result.quarantined
        out.print(f"{connector}/{stream}: {landed} landed, {result.quarantined} still refused")
    if refused:
        raise typer.Exit(EXIT_PARTIAL)


@quarantine_app.command("discard")
def quarantine_discard(
    ctx: typer.Context, ids: Annotated[list[int], typer.Argument(metavar="ID...")]
) -> None:
    """Mark quarantined records as needing no action."""
    with app_context(ctx).engine.begin() as conn:
        rows = _open_records(queries.get_quarantined(conn, ids), ids)
        count = quarantine.discard(conn, [q.id for q in rows])
    out.print(f"discarded {count} record(s)")


@mapping_app.command("preview")
def mapping_preview(
    ctx: typer.Context,
    connector: Annotated[str, typer.Argument(help="Connector name from the config file.")],
    stream: Annotated[str, typer.Argument(help="A stream of the connector (e.g. stock, orders).")],
    sample: Annotated[
        Path, typer.Option("--sample", help="JSON file with raw records as the system sends them.")
    ],
    record_path: Annotated[str | None, typer.Option(help="JMESPath to the records inside the file.")] = None,
) -> None:
    """Show the canonical records a sample payload maps to, or why each one fails. Writes nothing."""
    cfg = app_context(ctx).config
    conf = next((c for c in cfg.connectors if c.name == connector), None)
    if conf is None:
        raise ConfigError(f"no connector named {connector!r} in the config")
    instance = build_connector(conf)
    mapper = Mapper(stream_kind(instance, conf, stream).record, field_map(instance, conf, stream))
    raws = load_sample(sample, record_path)
    key_of = partial(record_key, primary_key=instance.stream(stream).primary_key)
    rows = preview(raws, mapper, key_of)
    if conf.skus == "bound":
        out.print(
            "note: SKU bindings are applied when syncing; this preview shows external SKUs", markup=False
        )
    table = Table("record", "ok", "canonical record / reason")
    for row in rows:
        text = json.dumps(row.record, ensure_ascii=False, default=str) if row.ok else row.reason or ""
        table.add_row(row.key, "yes" if row.ok else "NO", text)
    out.print(table)
    bad = sum(not r.ok for r in rows)
    out.print(f"{len(rows) - bad} ok, {bad} failing")
    if bad:
        raise typer.Exit(EXIT_PARTIAL)  # these records would be quarantined


@mapping_app.command("import-skus")
def mapping_import_skus(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV with columns system,external_sku,sku,uom_factor.")],
    system: Annotated[str | None, typer.Option(help="System (connector name) for rows without one.")] = None,
) -> None:
    """Load SKU bindings from a CSV file (all rows are checked first; nothing is saved if any is bad)."""
    try:
        bindings = read_bindings_csv(file, default_system=system)
    except ValueError as exc:
        raise ConfigError(f"{file}: bad SKU bindings", problems=str(exc).splitlines()) from None
    app_ctx = app_context(ctx)
    with app_ctx.engine.begin() as conn:
        count = save_bindings(conn, bindings)
    out.print(f"imported {count} SKU binding(s) from {file}")
