"""``erpsync orders`` and ``erpsync dispatch``: where orders stand, why they went where they went.

An order or instruction named on the command line that does not exist, or that cannot take the
step asked (re-sending a shipped instruction), is a usage error: exit 2 with one line.
``orders process`` exits 4 when there was nothing to process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import Connection

from core.errors import ConfigError
from core.statuses import OrderStatus
from erpsync.console import batch_report, make_console
from erpsync.context import app_context, key_param
from erpsync.exits import EXIT_NOTHING
from erpsync.wiring import order_settings
from routing import dispatch, queries, shipments
from routing.engine import route
from routing.explain import render
from routing.holds import HOLD_CODES
from routing.order_messages import OrderRef, delivery_states
from routing.process import (
    PASS_LIMIT,
    ProcessStats,
    available_for,
    load_places,
    order_to_route,
    process_orders,
)
from routing.release import reason_start, release_held, release_order

out = make_console()
orders_app = typer.Typer(help="Orders: status, holds, and why each went where it went.", no_args_is_help=True)
dispatch_app = typer.Typer(help="Dispatch instructions sent to warehouses.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(orders_app, name="orders")
    app.add_typer(dispatch_app, name="dispatch")


@contextmanager
def _as_usage_errors() -> Iterator[None]:
    """An unknown instruction number, or a step it cannot take, is the command's mistake (exit 2)."""
    try:
        yield
    except (dispatch.NotFound, dispatch.NotAllowed) as exc:
        raise ConfigError(str(exc)) from None


def find_order(conn: Connection, ref: str) -> queries.OrderHead:
    """An order by ``channel/external_id``, external id, or internal id; ``ConfigError`` if unknown."""
    rows = queries.find_orders(conn, ref)
    if len(rows) != 1:
        what = "no order" if not rows else "several orders"
        raise ConfigError(f"{what} matching {ref!r}; write it as CHANNEL/EXTERNAL_ID")
    return rows[0]


@orders_app.command("list")
def orders_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only this status, e.g. on_hold.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.", min=1)] = 50,
) -> None:
    """Orders: status, delivery of the ERP sales document and of the channel fulfilments, hold reason."""
    app_ctx = app_context(ctx)
    with app_ctx.engine.connect() as conn:
        rows = queries.list_orders(conn, status=status, limit=limit)
        refs = [OrderRef(r.id, r.channel, r.external_id) for r in rows]
        states = delivery_states(conn, refs, erp_connector=app_ctx.config.routing.erp_connector)
    table = Table("order", "status", "erp", "channel", "ship to", "note")
    for r in rows:
        state = states[r.id]
        table.add_row(
            f"{r.channel}/{r.external_id}",
            r.status,
            state.erp.text() if state.erp else "-",
            state.channel.text() if state.channel else "-",
            r.ship_region or "-",
            r.hold_reason or r.change_note or "",
        )
    out.print(table if rows else "no orders")
    if rows.more:
        out.print(f"showing {len(rows):,} of {rows.total:,} orders — pass --limit to see more", markup=False)


@orders_app.command("explain")
def orders_explain(
    ctx: typer.Context, order: Annotated[str, typer.Argument(help="CHANNEL/EXTERNAL_ID.")]
) -> None:
    """Each candidate location and why it won or lost, with the stock free right now."""
    app_ctx = app_context(ctx)
    with app_ctx.engine.connect() as conn:
        row = find_order(conn, order)
        lines = queries.order_lines(conn, row.id)
        to_route = order_to_route(row, lines)
        decision = route(
            to_route,
            load_places(conn),
            available_for(conn, {ln.sku for ln in lines}),
            order_settings(app_ctx.config).policy,
        )
        sent = queries.order_instructions(conn, row.id)
        ref = OrderRef(row.id, row.channel, row.external_id)
        state = delivery_states(conn, [ref], erp_connector=app_ctx.config.routing.erp_connector)[row.id]
    out.print(
        f"Order {row.channel}/{row.external_id}: {row.status}"
        + (f" ({row.hold_reason})" if row.hold_reason else ""),
        markup=False,
    )
    for s in sent:
        out.print(f"  dispatched as {s.number} to {s.location} ({s.status})", markup=False)
    for label, delivery in (("ERP sales document", state.erp), ("channel fulfilment", state.channel)):
        if delivery is not None:
            out.print(f"  {label}: {delivery.text(width=500)}", markup=False)
        if delivery is not None and delivery.failed_ids:
            ids = " ".join(str(i) for i in delivery.failed_ids)
            out.print(
                f"    outbox message {ids}: `erpsync outbox show ID`, then `outbox retry ID`", markup=False
            )
    if sent:
        out.print("Routing it again now, with the stock free at this moment, would give:", markup=False)
    out.print(render(decision, to_route), markup=False)


@orders_app.command("release")
def orders_release(
    ctx: typer.Context,
    order: Annotated[
        str | None, typer.Argument(metavar="[ORDER]", help="CHANNEL/EXTERNAL_ID.", show_default=False)
    ] = None,
    *,
    every: Annotated[
        bool, typer.Option("--all", help="Every order on hold (narrow with the filters).")
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why you release them: kept in the audit log.")
    ] = None,
    hold_reason: Annotated[
        str | None,
        typer.Option(help=f"With --all: only orders held for this reason ({', '.join(HOLD_CODES)})."),
    ] = None,
    channel: Annotated[str | None, typer.Option(help="With --all: only orders of this channel.")] = None,
    by: Annotated[str, typer.Option(help="Who releases them (name or system), for the audit log.")] = "cli",
) -> None:
    """Send orders on hold back to validation and routing (after fixing what held them).

    One order by CHANNEL/EXTERNAL_ID, or --all with --reason (and --hold-reason, --channel).
    Exit 4 when the order is not on hold, or no order on hold matches --all.
    """
    if (order is None) == (not every):
        raise ConfigError("give one ORDER, or --all")
    app_ctx = app_context(ctx)
    if order is not None:
        if hold_reason or channel:
            raise ConfigError("--hold-reason and --channel go with --all, not with one ORDER")
        with app_ctx.engine.connect() as conn:
            row = find_order(conn, order)
        if row.status != OrderStatus.ON_HOLD:
            out.print(f"{row.channel}/{row.external_id} is {row.status}, not on hold: nothing to release")
            raise typer.Exit(EXIT_NOTHING)
        release_order(app_ctx.engine, row.id, note=reason, actor=by)
        out.print(f"{row.channel}/{row.external_id}: released; it is routed again on the next pass")
        return
    if not reason or not reason.strip():
        raise ConfigError("--all needs --reason TEXT: why these orders may go on (kept in the audit log)")
    try:
        reason_start(hold_reason)
    except ValueError as exc:
        raise ConfigError(f"--hold-reason: {exc}") from None
    released = release_held(app_ctx.engine, note=reason, actor=by, code=hold_reason, channel=channel)
    if not released:
        out.print("no order on hold matches", markup=False)
        raise typer.Exit(EXIT_NOTHING)
    out.print(f"released {released:,} order(s); they are routed again on the next pass", markup=False)


@orders_app.command("process")
def orders_process(
    ctx: typer.Context,
    every: Annotated[bool, typer.Option("--all", help="Run passes until no received order is left.")] = False,
) -> None:
    """Validate, route, allocate and dispatch received orders now, 200 a pass (as the service does
    every 5 seconds)."""
    from erpsync.cli_sync import prepare_store

    app_ctx = app_context(ctx)
    prepare_store(app_ctx)
    settings = order_settings(app_ctx.config)
    passes: list[ProcessStats] = []
    while not passes or (every and not passes[-1].done and _progressed(passes[-1])):
        passes.append(process_orders(app_ctx.engine, settings, limit=PASS_LIMIT))
    last = passes[-1]
    out.print(
        f"dispatched {sum(p.dispatched for p in passes)}, on hold {sum(p.held for p in passes)}, "
        f"to route again {sum(p.retried for p in passes)}"
        + (f" ({n} held order(s) validated again)" if (n := sum(p.revalidated for p in passes)) else ""),
        markup=False,
    )
    if last.taken < last.waiting:
        taken = sum(p.taken for p in passes)
        out.print(batch_report("processed", taken, taken + last.waiting - last.taken, "received order(s)"))
    elif last.more_held:
        out.print("more held orders may be ready to go back to validation — run again or pass --all")
    if not any(p.dispatched or p.held or p.retried or p.revalidated for p in passes):
        raise typer.Exit(EXIT_NOTHING)


def _progressed(stats: ProcessStats) -> bool:
    """Whether a pass changed anything (a pass whose orders all lost their stock meanwhile did not)."""
    return bool(stats.dispatched or stats.held or stats.revalidated)


@orders_app.command("return")
def orders_return(
    ctx: typer.Context,
    order: Annotated[str, typer.Argument(help="CHANNEL/EXTERNAL_ID.")],
    line: Annotated[list[str], typer.Option(help="LINE_NO:QTY returned (repeat for several lines).")],
    by: Annotated[str, typer.Option(help="Who records it.")] = "cli",
) -> None:
    """Record returned units: restocked where the channel's policy says, or written off."""
    from routing.returns import record_return

    app_ctx = app_context(ctx)
    lines = _parse_lines(line)
    with app_ctx.engine.connect() as conn:
        row = find_order(conn, order)
    policies = {p.channel: p.restock_to for p in app_ctx.config.routing.returns}
    status = record_return(app_ctx.engine, row.id, lines, policies=policies, actor=by)
    out.print(f"{row.channel}/{row.external_id}: {status}")


def _parse_lines(items: list[str]) -> list[shipments.ShippedLine]:
    try:
        return [shipments.ShippedLine(int(a), int(b)) for a, b in (item.split(":", 1) for item in items)]
    except ValueError:
        raise ConfigError("--line takes LINE_NO:QTY, e.g. --line 1:2") from None


@dispatch_app.command("list")
def dispatch_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="queued, sent, acknowledged, shipped, ...")] = None,
    location: Annotated[str | None, typer.Option(help="Only this location code.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.", min=1)] = 200,
) -> None:
    """Dispatch instructions, newest first."""
    with app_context(ctx).engine.connect() as conn:
        rows = queries.list_instructions(conn, status=status, location=location, limit=limit)
    table = Table("number", "location", "order", "status", "due", "sends", "tracking")
    for r in rows:
        table.add_row(
            r.number,
            r.location,
            f"{r.channel}/{r.external_id}",
            r.status,
            f"{r.due_at:%Y-%m-%d %H:%M}" if r.due_at else "-",
            str(r.send_count),
            r.tracking_no or "-",
        )
    out.print(table if rows else "no dispatch instructions")
    if rows.more:
        out.print(
            f"showing {len(rows):,} of {rows.total:,} dispatch instructions — pass --limit to see more",
            markup=False,
        )


@dispatch_app.command("show")
def dispatch_show(
    ctx: typer.Context, number: Annotated[str, typer.Argument(help="Instruction number.")]
) -> None:
    """One instruction as its warehouse receives it, with its shipments."""
    app_ctx = app_context(ctx)
    from erpsync.wiring import unsealer

    with app_ctx.engine.connect() as conn:
        di = queries.get_instruction(conn, number)
        if di is None:
            raise ConfigError(f"no dispatch instruction {number}; see `erpsync dispatch list`")
        doc = dispatch.instruction_document(conn, di.id, "dispatch", unsealer(app_ctx.config))
        parcels = queries.instruction_parcels(conn, di.id)
    out.print(
        f"{doc['number']} for {doc['location']['code']} ({doc['location']['name']}): {di.status}",
        markup=False,
    )
    out.print(
        f"order {doc['order']['channel']}/{doc['order']['external_id']}, due {doc['due_at'] or '-'}",
        markup=False,
    )
    table = Table("line", "sku", "description", "qty", "unit")
    for ln in doc["lines"]:
        table.add_row(str(ln["line_no"]), ln["sku"], ln["description"] or "", str(ln["qty"]), ln["uom"])
    out.print(table)
    for p in parcels:
        out.print(
            f"shipped {p.shipped_at:%Y-%m-%d %H:%M} by {p.carrier}, tracking {p.tracking_no}", markup=False
        )


@dispatch_app.command("ack")
def dispatch_ack(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="Instruction number.")],
    by: Annotated[str, typer.Option(help="Who acknowledges (name or system).")] = "cli",
) -> None:
    """Acknowledge an instruction on behalf of its warehouse."""
    with _as_usage_errors():
        status = dispatch.acknowledge(app_context(ctx).engine, number, by=by)
    out.print(f"{number}: {status}")


@dispatch_app.command("resend")
def dispatch_resend(
    ctx: typer.Context, number: Annotated[str, typer.Argument(help="Instruction number.")]
) -> None:
    """Queue an instruction for delivery again (not once it is shipped or recalled: exit 2)."""
    with _as_usage_errors():
        dispatch.resend(app_context(ctx).engine, number)
    out.print(f"{number}: queued again")


@dispatch_app.command("ship")
def dispatch_ship(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="Instruction number.")],
    carrier: Annotated[str, typer.Option(help="Carrier code, e.g. SF.")],
    tracking: Annotated[str, typer.Option(help="Tracking number.", callback=key_param)],
    line: Annotated[list[str] | None, typer.Option(help="LINE_NO:QTY for a partial parcel (repeat).")] = None,
) -> None:
    """Record a parcel for an instruction (all of it, or the given lines)."""
    lines = _parse_lines(line) if line else None
    with _as_usage_errors():  # more than is left, or nothing left: the command is wrong
        status = shipments.report_shipment(
            app_context(ctx).engine, number, carrier=carrier, tracking_no=tracking, lines=lines
        )
    out.print(f"{number}: parcel {tracking} recorded; order is {status}")
