"""The states things go through, typed: orders, dispatch instructions, outbox messages, alerts, sync runs.

Each is a ``StrEnum``: a member *is* its string (``OrderStatus.ON_HOLD == "on_hold"``), so the
database keeps plain short strings (a new state is not a schema change), rows read back compare
equal to members, and JSON, log lines and tables show the value. Code that writes or compares a
state names the member, never a bare string, so a typo is a mypy or import error, not a row no
query finds.

Which state may follow which is the business of the package that owns the thing (the order
lifecycle in ``store.orders``, an instruction's in ``routing.dispatch``); the groups below are the
ones several packages ask about.

>>> OrderStatus("on_hold") is OrderStatus.ON_HOLD
True
>>> SEVERITY_RANK[AlertSeverity.CRITICAL] > SEVERITY_RANK["warning"]
True
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class OrderStatus(StrEnum):
    """Where an order is in its lifecycle (``store.orders`` has the transitions)."""

    RECEIVED = "received"
    VALIDATED = "validated"
    ALLOCATED = "allocated"
    DISPATCHED = "dispatched"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    ON_HOLD = "on_hold"
    CANCELLED = "cancelled"
    RETURNED = "returned"
    PARTIALLY_RETURNED = "partially_returned"


class DispatchStatus(StrEnum):
    """Where a dispatch instruction is, from queued for its location to shipped or recalled."""

    QUEUED = "queued"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    RECALL_REQUESTED = "recall_requested"
    RECALL_SENT = "recall_sent"
    RECALLED = "recalled"


#: sent (or about to be) and not acknowledged yet: the warehouse may not have seen it
DISPATCH_UNACKNOWLEDGED = (DispatchStatus.QUEUED, DispatchStatus.SENT)
#: nothing has shipped yet: a cancelled order's instruction in one of these is recalled
DISPATCH_RECALLABLE = (*DISPATCH_UNACKNOWLEDGED, DispatchStatus.ACKNOWLEDGED)
#: a recall is on its way to the warehouse and not yet acknowledged
DISPATCH_RECALLING = (DispatchStatus.RECALL_REQUESTED, DispatchStatus.RECALL_SENT)
#: the warehouse still has something to ship: a re-send can help, a parcel may be reported
DISPATCH_TO_SHIP = (*DISPATCH_RECALLABLE, DispatchStatus.PARTIALLY_SHIPPED)


class MessageState(StrEnum):
    """Where an outbox message is (read from its ``delivered_at`` and ``failed_at``)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class AlertState(StrEnum):
    """An alert is open until resolved; acknowledging it stops the reminders."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertSeverity(StrEnum):
    """How bad an alert is, mildest first (``SEVERITY_RANK`` orders them)."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
    OUT_OF_STOCK = "out_of_stock"


#: severity -> rank, mildest 0: "at least warning", "worse than before" compare ranks
SEVERITY_RANK: Mapping[str, int] = {severity: rank for rank, severity in enumerate(AlertSeverity)}


class RunStatus(StrEnum):
    """How a sync run of one (connector, stream) ended, or that it is still running."""

    RUNNING = "running"
    OK = "ok"
    HELD = "held"  # a snapshot that would zero too much waits for a person
    FAILED = "failed"
    STOPPED = "stopped"  # asked to stop between pages
    BUSY = "busy"  # another worker holds the stream's lease: nothing was done
    INTERRUPTED = "interrupted"  # its worker died; a later run took the lease over
