"""``erpsync orders`` and ``erpsync dispatch``: where orders stand, why they went where they went.

An order or instruction named on the command line that does not exist, or that cannot take the
step asked (re-sending a shipped instruction), is a usage error: exit 2 with one line.
``orders process`` exits 4 when there was nothing to process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import Connection, or_, select

from erpsync.console import make_console
from erpsync.context import app_context, key_param
from erpsync.exits import EXIT_NOTHING
from erpsync.wiring import order_settings
from mapping.errors import ConfigError
from routing import dispatch, shipments
from routing.engine import route
from routing.explain import render
from routing.process import available_for, load_places, order_to_route, process_orders, release_hold
from store.models import DispatchInstruction, Location, OrderLine, SalesOrder, Shipment

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


def find_order(conn: Connection, ref: str) -> Any:
    """An order by ``channel/external_id``, external id, or internal id; ``ConfigError`` if unknown."""
    ref = ref.strip()  # the key rule of mapping.records: "A1 " is "A1"
    channel, _, ext = ref.rpartition("/")
    channel, ext = channel.strip(), ext.strip()
    query = select(SalesOrder.__table__)
    if channel:
        query = query.where(SalesOrder.channel == channel, SalesOrder.external_id == ext)
    else:
        query = query.where(
            or_(SalesOrder.external_id == ref, SalesOrder.id == (int(ref) if ref.isdigit() else -1))
        )
    rows = conn.execute(query).all()
    if len(rows) != 1:
        what = "no order" if not rows else "several orders"
        raise ConfigError(f"{what} matching {ref!r}; write it as CHANNEL/EXTERNAL_ID")
    return rows[0]


@orders_app.command("list")
def orders_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only this status, e.g. on_hold.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
) -> None:
    """Orders with their status and, when on hold, the reason."""
    query = (
        select(
            SalesOrder.channel,
            SalesOrder.external_id,
            SalesOrder.status,
            SalesOrder.ship_region,
            SalesOrder.hold_reason,
            SalesOrder.change_note,
        )
        .order_by(SalesOrder.id.desc())
        .limit(limit)
    )
    if status:
        query = query.where(SalesOrder.status == status)
    with app_context(ctx).engine.connect() as conn:
        rows = conn.execute(query).all()
    table = Table("order", "status", "ship to", "note")
    for r in rows:
        table.add_row(
            f"{r.channel}/{r.external_id}",
            r.status,
            r.ship_region or "-",
            r.hold_reason or r.change_note or "",
        )
    out.print(table if rows else "no orders")


@orders_app.command("explain")
def orders_explain(
    ctx: typer.Context, order: Annotated[str, typer.Argument(help="CHANNEL/EXTERNAL_ID.")]
) -> None:
    """Each candidate location and why it won or lost, with the stock free right now."""
    app_ctx = app_context(ctx)
    with app_ctx.engine.connect() as conn:
        row = find_order(conn, order)
        lines = conn.execute(
            select(OrderLine.__table__).where(OrderLine.order_id == row.id).order_by(OrderLine.line_no)
        ).all()
        to_route = order_to_route(row, lines)
        decision = route(
            to_route,
            load_places(conn),
            available_for(conn, {ln.sku for ln in lines}),
            order_settings(app_ctx.config).policy,
        )
        sent = conn.execute(
            select(DispatchInstruction.number, Location.code, DispatchInstruction.status)
            .join(Location, Location.id == DispatchInstruction.location_id)
            .where(DispatchInstruction.order_id == row.id)
        ).all()
    out.print(
        f"Order {row.channel}/{row.external_id}: {row.status}"
        + (f" ({row.hold_reason})" if row.hold_reason else ""),
        markup=False,
    )
    for s in sent:
        out.print(f"  dispatched as {s.number} to {s.code} ({s.status})", markup=False)
    if sent:
        out.print("Routing it again now, with the stock free at this moment, would give:", markup=False)
    out.print(render(decision, to_route), markup=False)


@orders_app.command("release")
def orders_release(
    ctx: typer.Context, order: Annotated[str, typer.Argument(help="CHANNEL/EXTERNAL_ID.")]
) -> None:
    """Send an order on hold back to validation and routing (after fixing what held it)."""
    app_ctx = app_context(ctx)
    with app_ctx.engine.connect() as conn:
        row = find_order(conn, order)
    release_hold(app_ctx.engine, row.id)
    out.print(f"{row.channel}/{row.external_id}: released; it is routed again on the next pass")


@orders_app.command("process")
def orders_process(ctx: typer.Context) -> None:
    """Validate, route, allocate and dispatch received orders now."""
    from erpsync.cli_sync import prepare_store

    app_ctx = app_context(ctx)
    prepare_store(app_ctx)
    stats = process_orders(app_ctx.engine, order_settings(app_ctx.config))
    out.print(
        f"dispatched {stats.dispatched}, on hold {stats.held}, to route again {stats.retried}"
        + (f" ({stats.revalidated} held order(s) validated again)" if stats.revalidated else "")
    )
    if not (stats.dispatched or stats.held or stats.retried or stats.revalidated):
        raise typer.Exit(EXIT_NOTHING)


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
) -> None:
    """Dispatch instructions, newest first."""
    with app_context(ctx).engine.connect() as conn:
        rows = dispatch.list_instructions(conn, status=status, location=location)
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


@dispatch_app.command("show")
def dispatch_show(
    ctx: typer.Context, number: Annotated[str, typer.Argument(help="Instruction number.")]
) -> None:
    """One instruction as its warehouse receives it, with its shipments."""
    app_ctx = app_context(ctx)
    from erpsync.wiring import unsealer

    with app_ctx.engine.connect() as conn:
        di = conn.execute(
            select(DispatchInstruction.id, DispatchInstruction.status).where(
                DispatchInstruction.number == number
            )
        ).first()
        if di is None:
            raise ConfigError(f"no dispatch instruction {number}; see `erpsync dispatch list`")
        doc = dispatch.instruction_document(conn, di.id, "dispatch", unsealer(app_ctx.config))
        parcels = conn.execute(
            select(Shipment.carrier, Shipment.tracking_no, Shipment.shipped_at).where(
                Shipment.dispatch_id == di.id
            )
        ).all()
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
