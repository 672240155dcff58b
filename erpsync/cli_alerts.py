"""``erpsync alerts``: shortage and operational alerts, for the people who act on them.

An alert id that names no alert is a usage error (exit 2); acknowledging an alert that is no
longer open changes nothing (exit 4).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import Connection

from alerts import queries, texts
from alerts.evaluate import evaluate
from alerts.lifecycle import acknowledge, mute
from config import parse_duration
from core.clock import utcnow
from core.errors import ConfigError
from erpsync.console import make_console
from erpsync.context import app_context
from erpsync.exits import EXIT_NOTHING
from erpsync.wiring import alert_settings

out = make_console()
alerts_app = typer.Typer(help="Shortage and operational alerts.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")


@alerts_app.command("list")
def alerts_list(
    ctx: typer.Context,
    state: Annotated[str, typer.Option(help="open, acknowledged, resolved or all.")] = "open",
    kind: Annotated[
        list[str] | None,
        typer.Option(help="Only alerts of this kind (shortage, drift, unmapped_sku...); repeatable."),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.", min=1)] = 100,
) -> None:
    """Alerts with their severity, what they are about and what to do (in alerts.language)."""
    app_ctx = app_context(ctx)
    lang = app_ctx.config.alerts.language
    with app_ctx.engine.connect() as conn:
        page = queries.list_alerts(conn, state=None if state == "all" else state, kinds=kind, limit=limit)
    table = Table("id", "kind", "severity", "state", "about", "reason", "what to do", "opened")
    for r in page:
        table.add_row(
            str(r.id),
            r.kind,
            r.severity,
            r.state,
            _about(r),
            texts.reason(r.kind, r.severity, r.details, lang),
            texts.what_to_do(r.details, lang),
            f"{r.opened_at:%Y-%m-%d %H:%M}",
        )
    out.print(table if page else "no alerts")
    if page.more:
        out.print(f"showing {len(page):,} of {page.total:,} alerts — pass --limit to see more", markup=False)


@alerts_app.command("show")
def alerts_show(ctx: typer.Context, alert_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """One alert and the messages sent (or waiting) about it."""
    app_ctx = app_context(ctx)
    lang = app_ctx.config.alerts.language
    with app_ctx.engine.connect() as conn:
        row = queries.get_alert(conn, alert_id)
        if row is None:
            raise ConfigError(f"no alert {alert_id}; see `erpsync alerts list --state all`")
        sent = queries.alert_messages(conn, alert_id)
    out.print(f"alert {row.id}: {row.kind} {row.severity}, {row.state}", markup=False)
    for label, value in _facts(row, lang):
        out.print(f"  {label}: {value}", markup=False)
    for m in sent:
        when = (
            f"sent {m.delivered_at:%Y-%m-%d %H:%M}"
            if m.delivered_at
            else f"waiting ({m.last_error or 'queued'})"
        )
        out.print(f"\n→ {m.route} [{m.event}] {when}", markup=False)
        out.print(f"{m.title}\n{m.text}", markup=False)


def _about(row: queries.AlertRow) -> str:
    """What an alert is about: the SKU at its location, else the subject its details name."""
    return f"{row.sku} @ {row.location}" if row.sku else str(row.details.get("subject", ""))


def _facts(row: queries.AlertRow, lang: str) -> list[tuple[str, object]]:
    """The alert's details as a person reads them: what, why, what to do, then the numbers."""
    d = row.details
    facts: list[tuple[str, object]] = [
        ("about", _about(row)),
        ("reason", texts.reason(row.kind, row.severity, d, lang)),
    ]
    todo = texts.what_to_do(d, lang)
    if todo:
        facts.append(("what to do", todo))
    shown = {"subject", "reason", "suggestion"}
    facts += [
        (key.replace("_", " "), value) for key, value in d.items() if key not in shown and value is not None
    ]
    facts.append(("opened", f"{row.opened_at:%Y-%m-%d %H:%M} UTC"))
    return facts


@alerts_app.command("ack")
def alerts_ack(
    ctx: typer.Context,
    alert_id: Annotated[int, typer.Argument(metavar="ID")],
    by: Annotated[str, typer.Option(help="Who takes it on.")] = "cli",
) -> None:
    """Take an alert on: it stops escalating (it still resolves by itself)."""
    with app_context(ctx).engine.begin() as conn:
        state = _known_alert(conn, alert_id)
        done = acknowledge(conn, alert_id, by, utcnow())
    if not done:
        out.print(f"alert {alert_id}: {state} already, nothing to acknowledge")
        raise typer.Exit(EXIT_NOTHING)
    out.print(f"alert {alert_id}: acknowledged")


@alerts_app.command("mute")
def alerts_mute(
    ctx: typer.Context,
    alert_id: Annotated[int, typer.Argument(metavar="ID")],
    duration: Annotated[str, typer.Option("--for", help="How long, e.g. 4h or 2d.")] = "1d",
) -> None:
    """No messages about an alert for a while."""
    try:
        span: timedelta = parse_duration(duration)
    except ValueError as exc:
        raise ConfigError(f"--for: {exc}") from None
    now = utcnow()
    with app_context(ctx).engine.begin() as conn:
        _known_alert(conn, alert_id)
        mute(conn, alert_id, now + span, now)
    out.print(f"alert {alert_id}: muted until {now + span:%Y-%m-%d %H:%M} UTC")


def _known_alert(conn: Connection, alert_id: int) -> str:
    """The alert's state; ``ConfigError`` (exit 2) when there is no such alert."""
    state = queries.alert_state(conn, alert_id)
    if state is None:
        raise ConfigError(f"no alert {alert_id}; see `erpsync alerts list --state all`")
    return state


@alerts_app.command("check")
def alerts_check(ctx: typer.Context) -> None:
    """Evaluate every SKU at every location against the shortage rules now."""
    app_ctx = app_context(ctx)
    s = evaluate(app_ctx.engine, alert_settings(app_ctx.config))
    out.print(f"opened {s.opened}, worse {s.worse}, resolved {s.resolved}")
