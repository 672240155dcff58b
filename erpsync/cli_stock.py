"""``erpsync stock``: explain, plan, report, drift and push — stock as managers and IT see it.

``stock drift`` exits 1 when a channel shows something else than was pushed; ``stock push`` exits 1
when some changes could not be delivered (failed, or waiting for a retry), and delivers only stock
pushes: messages of other topics are left to the service.
"""

from __future__ import annotations

import io
import json
from typing import Annotated

import typer
from rich.table import Table

from core.csvsafe import csv_writer
from core.errors import ConfigError
from delivery.worker import OutboxWorker
from erpsync.console import make_console
from erpsync.context import AppContext, app_context, key_param
from erpsync.exits import EXIT_FAILURE
from erpsync.wiring import channel_policies, stock_channels
from store.queries import stock_levels
from sync.drift import DriftReport, check_drift
from sync.outbound import TOPIC, channel_blockers, plan, plan_and_enqueue
from sync.queries import PushState, push_state
from sync.sellable import ChannelPolicy, compute, load_inputs, others_locked
from sync.stock_push import PushHandler

out = make_console()
stock_app = typer.Typer(help="Stock levels, what each channel is shown and why.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(stock_app, name="stock")


def _policies(app_ctx: AppContext, channel: str | None) -> tuple[list[ChannelPolicy], list[ChannelPolicy]]:
    policies = channel_policies(app_ctx.config)
    chosen = [p for p in policies if channel is None or p.channel == channel]
    if channel is not None and not chosen:
        known = ", ".join(p.channel for p in policies) or "none configured"
        raise ConfigError(f"no channel named {channel!r} under `channels:` (known: {known})")
    return policies, chosen


def _push_text(state: PushState, sellable: int) -> str:
    """Why the channel shows what it shows: last push, and a queued change still waiting."""
    unit = f" {state.channel_sku}" + (f" (packs of {state.factor})" if state.factor != 1 else "")
    if not state.listed:
        return f"never pushed; the next plan queues {sellable // state.factor}{unit}"
    text = (
        f"last pushed {state.last_pushed_qty}{unit} at {state.pushed_at:%Y-%m-%d %H:%M:%S}"
        if state.pushed_at
        else "not pushed yet"
    )
    waiting = state.waiting
    if waiting is not None:
        text += f"; {waiting.qty} queued, not delivered yet (attempt {waiting.attempts}"
        text += f", last error: {waiting.last_error})" if waiting.last_error else ")"
    elif state.planned_qty != sellable:
        text += f"; changed to {sellable} since the last plan: the next plan queues it"
    else:
        text += "; not pushed again: unchanged since"
    return text


@stock_app.command("explain")
def stock_explain(
    ctx: typer.Context,
    sku: Annotated[str, typer.Argument(help="Our SKU.", callback=key_param)],
    channel: Annotated[str | None, typer.Option("--channel", "-c", help="Only this channel.")] = None,
) -> None:
    """How each channel's number for SKU was derived, step by step, and where its push stands."""
    app_ctx = app_context(ctx)
    policies, chosen = _policies(app_ctx, channel)
    locations = {code for p in chosen for code in p.sources}
    with app_ctx.engine.connect() as conn:
        inputs = load_inputs(conn, [sku], locations)[sku]
    out.print(f"SKU {sku}" + (f" (category {inputs.category})" if inputs.category else ""), markup=False)
    for policy in chosen:
        result = compute(policy, sku, inputs, others_locked(policies, policy.channel, sku))
        table = Table(
            "step",
            "qty",
            "detail",
            title=f"channel {policy.channel}: sellable {result.qty}",
            title_justify="left",
        )
        for step in result.steps:
            table.add_row(step.label, str(step.value), step.note)
        out.print(table)
        for why in channel_blockers(app_ctx.engine, policy).values():
            out.print(f"  not pushed: {why}", markup=False)
        with app_ctx.engine.connect() as conn:
            state = push_state(conn, policy.channel, sku)
        out.print(f"  push: {_push_text(state, result.qty)}", markup=False)


@stock_app.command("plan")
def stock_plan(
    ctx: typer.Context,
    channel: Annotated[str | None, typer.Option("--channel", "-c", help="Only this channel.")] = None,
) -> None:
    """What the next push would send (nothing is sent): try a rule change before go-live."""
    app_ctx = app_context(ctx)
    policies, chosen = _policies(app_ctx, channel)
    table = Table("channel", "sku", "now queued", "would push", "rule")
    count, blocked = 0, 0
    unbound: dict[str, list[str]] = {}
    for policy in chosen:
        waiting = channel_blockers(app_ctx.engine, policy)
        blocked += bool(waiting)
        for why in waiting.values():
            out.print(f"channel {policy.channel}: nothing is pushed — {why}", markup=False)
        skipped = unbound.setdefault(policy.channel, [])
        for p in plan(app_ctx.engine, policies, policy.channel, unbound=skipped):
            table.add_row(
                p.channel,
                p.sku,
                "-" if p.previous is None else str(p.previous),
                str(p.sellable.qty),
                p.sellable.rule_name,
            )
            count += 1
    everything = "" if blocked else ": every channel already has its current quantity queued or sent"
    out.print(table if count else f"nothing to push{everything}")
    if count:
        out.print(f"{count} change(s) would be pushed")
    for name, skus in unbound.items():
        if skus:
            shown = ", ".join(skus[:10]) + (", …" if len(skus) > 10 else "")
            out.print(
                f"{name}: {len(skus)} SKU(s) skipped, no SKU binding for this channel (skus: bound): {shown}",
                markup=False,
            )


@stock_app.command("report")
def stock_report(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    sku: Annotated[str | None, typer.Option(help="Only this SKU.", callback=key_param)] = None,
    location: Annotated[str | None, typer.Option(help="Only this location code.", callback=key_param)] = None,
) -> None:
    """Stock levels by SKU and location: on hand, reserved, safety stock, available, in the SKU's unit."""
    if fmt not in ("table", "csv", "json"):
        raise ConfigError(f"--format: use table, csv or json, not {fmt!r}")
    header = [
        "sku",
        "unit",
        "location",
        "on_hand",
        "reserved",
        "safety_stock",
        "available",
        "source",
        "updated_at",
    ]
    with app_context(ctx).engine.connect() as conn:
        levels = stock_levels(conn, sku=sku or None, location=location or None, limit=None)
    rows = [
        [
            r.sku,
            r.unit or "",
            r.location,
            r.on_hand,
            r.reserved,
            r.safety_stock,
            r.available,
            r.source or "",
            r.updated_at.isoformat(),
        ]
        for r in levels
    ]
    if fmt == "json":
        out.print(
            json.dumps([dict(zip(header, r, strict=True)) for r in rows], ensure_ascii=False, indent=2),
            markup=False,
        )
    elif fmt == "csv":
        buf = io.StringIO()
        csv_writer(buf).writerows([header, *rows])
        out.file.write(buf.getvalue())  # as is: rich would expand the tabs a cell may hold
    else:
        table = Table(*header)
        for r in rows:
            table.add_row(*(str(v) for v in r))
        out.print(table)


@stock_app.command("drift")
def stock_drift(
    ctx: typer.Context,
    channel: Annotated[str | None, typer.Option("--channel", "-c", help="Only this channel.")] = None,
    tolerance: Annotated[int, typer.Option(help="Report only differences larger than this.")] = 0,
    correct: Annotated[
        bool, typer.Option("--correct", help="Queue pushes of the current quantity where they differ.")
    ] = False,
) -> None:
    """Read what each channel shows and compare it with what was last pushed there (exit 1 on drift)."""
    app_ctx = app_context(ctx)
    policies, chosen = _policies(app_ctx, channel)
    connectors = stock_channels(app_ctx.config)
    table = Table("channel", "sku", "channel sku", "last pushed", "shows", "difference")
    report = DriftReport()
    for policy in chosen:
        report += check_drift(
            app_ctx.engine, policies, connectors[policy.channel], tolerance=tolerance, correct=correct
        )
    for d in report.drifts:
        table.add_row(
            d.channel,
            d.sku,
            d.channel_sku,
            str(d.expected),
            "-" if d.actual is None else str(d.actual),
            f"{d.difference:+d}",
        )
    out.print(table if report.drifts else "no drift: every channel shows what erpsync last pushed there")
    out.print(
        f"compared {report.compared} SKU(s) with the quantity last pushed (in the channel's units); "
        f"skipped {report.in_flight} with a push still queued or in flight, "
        f"{report.never_pushed} never pushed"
        + (f" and {report.unbound} without a SKU binding (skus: bound)" if report.unbound else "")
    )
    if report.drifts:
        out.print(f"{len(report.drifts)} difference(s)" + ("; corrections queued" if correct else ""))
        raise typer.Exit(EXIT_FAILURE)


@stock_app.command("push")
def stock_push(
    ctx: typer.Context,
    channel: Annotated[str | None, typer.Option("--channel", "-c", help="Only this channel.")] = None,
) -> None:
    """Plan, queue and deliver stock changes now, in the foreground."""
    app_ctx = app_context(ctx)
    policies, chosen = _policies(app_ctx, channel)
    queued = sum(plan_and_enqueue(app_ctx.engine, policies, p.channel) for p in chosen)
    bound = {p.channel for p in policies if p.bound}
    worker = OutboxWorker(
        app_ctx.engine,
        {TOPIC: PushHandler(app_ctx.engine, stock_channels(app_ctx.config), bound=bound)},
        per_partition={TOPIC: 250},
    )
    stats = step = worker.run_once()
    while step.delivered:  # a channel's later messages become claimable once earlier ones are delivered
        step = worker.run_once()
        stats += step
    out.print(
        f"queued {queued}; delivered {stats.delivered}, to retry {stats.retried}, failed {stats.failed}"
    )
    if stats.retried or stats.failed:
        raise typer.Exit(EXIT_FAILURE)


__all__ = ["register"]
