"""``erpsync outbox``: every message erpsync sends, where it stands, and sending a failed one again.

Stock pushes, dispatch instructions, fulfilments, ERP sales documents and alert messages all wait
in the outbox until their receiver takes them (``store.outbox``). ``list`` and ``show`` never
print a payload: it may hold personal data (a buyer's address). ``show`` names the payload's
fields and the order or dispatch instruction it is about instead. ``retry`` puts a failed message
back (or makes a waiting one due now); the running service (``erpsync run``) delivers it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from core.errors import ConfigError
from core.statuses import MessageState
from erpsync.console import batch_report, make_console
from erpsync.context import app_context
from erpsync.exits import EXIT_NOTHING
from routing.order_messages import excerpt
from store import queries
from store.outbox_retry import REQUEUE_BATCH, requeue_failed, retry_message

out = make_console()
outbox_app = typer.Typer(
    help="Messages waiting for their receiver (pushes, dispatch, ERP documents, alerts).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(outbox_app, name="outbox")


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}" if moment else "-"


@outbox_app.command("list")
def outbox_list(
    ctx: typer.Context,
    failed: Annotated[bool, typer.Option("--failed", help="Only failed messages (dead letters).")] = False,
    topic: Annotated[str | None, typer.Option(help="Only this topic, e.g. erp.sales_order.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.", min=1)] = 50,
) -> None:
    """Messages with their state, attempts and last error (never their payloads). Times in UTC."""
    status = MessageState.FAILED if failed else None
    with app_context(ctx).engine.connect() as conn:
        rows = queries.list_messages(conn, topic=topic, status=status, limit=limit)
    table = Table("id", "topic", "partition", "key", "status", "attempts", "next attempt", "last error")
    for m in rows:
        table.add_row(
            str(m.id),
            m.topic,
            m.partition or "-",
            m.key,
            m.status,
            str(m.attempts),
            _when(m.next_attempt_at) if m.status == MessageState.PENDING else "-",
            excerpt(m.last_error) if m.last_error else "",
        )
    what = "failed messages" if failed else "messages"
    out.print(table if rows else f"no {what}" + (f" in topic {topic}" if topic else ""), markup=False)
    if rows.more:
        out.print(f"showing {len(rows):,} of {rows.total:,} {what} — pass --limit to see more", markup=False)


@outbox_app.command("show")
def outbox_show(ctx: typer.Context, message_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """One message: its state, times, full last error and what it is about — not its payload."""
    with app_context(ctx).engine.connect() as conn:
        found = queries.get_message(conn, message_id)
    if found is None:
        raise ConfigError(f"no outbox message {message_id}; see `erpsync outbox list`")
    m = found.info
    lines = [
        f"message {m.id}: {m.topic}, {m.status}",
        f"partition:     {m.partition or '-'}",
        f"key:           {m.key}",
        f"created:       {_when(m.created_at)} UTC",
        f"attempts:      {m.attempts}",
    ]
    if found.order:
        lines.append(f"order:         {found.order}")
    if found.instruction:
        lines.append(f"instruction:   {found.instruction}")
    if m.status == MessageState.PENDING:
        lines.append(f"next attempt:  {_when(m.next_attempt_at)} UTC")
    if m.claimed_by and m.claimed_until:
        lines.append(f"claimed by:    {m.claimed_by} until {_when(m.claimed_until)} UTC")
    if m.delivered_at:
        lines.append(f"delivered:     {_when(m.delivered_at)} UTC")
    if m.failed_at:
        lines.append(f"failed:        {_when(m.failed_at)} UTC")
    lines.append(f"last error:    {m.last_error or '-'}")
    fields = ", ".join(found.payload_fields) or "none"
    lines.append(f"payload:       not shown (it may hold personal data); fields: {fields}")
    if m.status != MessageState.DELIVERED:
        lines.append(f"to send it again: erpsync outbox retry {m.id}")
    for line in lines:
        out.print(line, markup=False)


@outbox_app.command("retry")
def outbox_retry(
    ctx: typer.Context,
    message_id: Annotated[
        int | None, typer.Argument(metavar="[ID]", help="The message to send again.")
    ] = None,
    *,
    all_failed: Annotated[
        bool, typer.Option("--all-failed", help="Every failed message, oldest first.")
    ] = False,
    topic: Annotated[str | None, typer.Option(help="With --all-failed: only this topic.")] = None,
    limit: Annotated[
        int, typer.Option(help="With --all-failed: at most this many per call.", min=1)
    ] = REQUEUE_BATCH,
    every: Annotated[
        bool, typer.Option("--all", help="With --all-failed: go on until none is left.")
    ] = False,
) -> None:
    """Send a failed message again (or a waiting one now); the running service delivers it.

    Exit 2 for an unknown id, 4 when there is nothing to retry.
    """
    if (message_id is None) == (not all_failed):
        raise ConfigError("give one message ID, or --all-failed")
    if message_id is not None and (topic or every):
        raise ConfigError("--topic and --all go with --all-failed, not with an ID")
    engine = app_context(ctx).engine
    if message_id is not None:
        _retry_one(ctx, message_id)
        return
    with engine.connect() as conn:
        total = queries.count_messages(conn, topic=topic, status=MessageState.FAILED)
    if total == 0:
        out.print("no failed messages" + (f" in topic {topic}" if topic else ""), markup=False)
        raise typer.Exit(EXIT_NOTHING)
    done = requeue_failed(engine, topic=topic, limit=None if every else limit)
    out.print(batch_report("requeued", done, total, "failed message(s)"), markup=False)


def _retry_one(ctx: typer.Context, message_id: int) -> None:
    with app_context(ctx).engine.begin() as conn:
        outcome = retry_message(conn, message_id)
    if outcome is None:
        raise ConfigError(f"no outbox message {message_id}; see `erpsync outbox list --failed`")
    text = {
        "requeued": "requeued; the service sends it on its next pass",
        "due_now": "was waiting for its next attempt; it is due now",
        "delivered": "was delivered already: nothing to retry",
        "claimed": "is being delivered right now: nothing to retry",
    }[outcome]
    out.print(f"message {message_id} {text}", markup=False)
    if outcome in ("delivered", "claimed"):
        raise typer.Exit(EXIT_NOTHING)
