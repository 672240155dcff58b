"""The outbox messages a dispatched order causes, and how far each has got.

Dispatching an order queues, besides its dispatch instructions, its sales document for the ERP
(topic ``erp.sales_order``, key :func:`erp_key`, with ``routing.erp_connector`` set) and, per
parcel, a fulfilment for the channel it came from (topic ``fulfilment.push``, key
:func:`fulfilment_key`). :func:`delivery_states` says for a page of orders, in one query, where
those messages stand — so that an order whose sales document the ERP refused is not shown as
simply "dispatched".

A state per order and kind (``erp``, ``channel``): None when there is no such message (no ERP
configured, nothing shipped yet), else a :class:`Delivery`: ``failed`` when any message failed
(its error, and the ids to retry with ``erpsync outbox retry``), else ``pending`` while any is
waiting (with the error of the last attempt, when it is being retried), else ``delivered``.

>>> states = delivery_states(conn, [OrderRef(7, "shop", "1001")], erp_connector="erp")
>>> states[7].erp.text()
'failed: creating sales orders is off'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from core.statuses import MessageState
from routing.dispatch import FULFIL_TOPIC
from routing.erp import TOPIC as ERP_TOPIC
from store.outbox import message_key
from store.queries import KeyedMessage, messages_by_key

EXCERPT_CHARS = 60


@dataclass(frozen=True)
class OrderRef:
    """An order as its messages name it."""

    id: int
    channel: str
    external_id: str


@dataclass(frozen=True)
class Delivery:
    """Where an order's messages of one kind stand (see the module doc)."""

    state: MessageState
    error: str | None = None
    #: the failed messages, for ``erpsync outbox retry ID``
    failed_ids: tuple[int, ...] = ()

    def text(self, width: int = EXCERPT_CHARS) -> str:
        """``delivered``, ``pending``, ``retrying: <error>`` or ``failed: <error>`` (cut to ``width``)."""
        if self.error is None or self.state == MessageState.DELIVERED:
            return self.state
        label = "failed" if self.state == MessageState.FAILED else "retrying"
        return f"{label}: {excerpt(self.error, width)}"


@dataclass(frozen=True)
class OrderDelivery:
    """The ERP sales document and the channel fulfilments of one order (None: no such message)."""

    erp: Delivery | None
    channel: Delivery | None


def erp_key(connector: str, channel: str, external_id: str) -> str:
    """The outbox key of an order's sales document for ERP connector ``connector``."""
    return f"{ERP_TOPIC}:{connector}:{channel}/{external_id}"


def fulfilment_key(channel: str, external_id: str, tracking_no: str) -> str:
    """The outbox key of one parcel's fulfilment for the channel the order came from."""
    return f"{_fulfilment_prefix(channel, external_id)}{tracking_no}"


def _fulfilment_prefix(channel: str, external_id: str) -> str:
    return f"{FULFIL_TOPIC}:{channel}:{external_id}:"


def excerpt(text: str, width: int = EXCERPT_CHARS) -> str:
    """``text`` on one line, cut at a word boundary to at most ``width`` characters (``…`` when cut)."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    cut = flat[: width - 1].rsplit(" ", 1)[0] or flat[: width - 1]
    return cut.rstrip(" ,;:") + "…"


def combine(messages: Iterable[KeyedMessage]) -> Delivery | None:
    """The state of several messages of one kind (see the module doc); None for none."""
    found = list(messages)
    if not found:
        return None
    failed = [m for m in found if m.status == MessageState.FAILED]
    if failed:
        return Delivery(MessageState.FAILED, failed[0].last_error, tuple(m.id for m in failed))
    pending = [m for m in found if m.status == MessageState.PENDING]
    if pending:
        retried = next((m.last_error for m in pending if m.last_error), None)
        return Delivery(MessageState.PENDING, retried)
    return Delivery(MessageState.DELIVERED)


def delivery_states(
    conn: Connection, orders: Sequence[OrderRef], *, erp_connector: str | None
) -> dict[int, OrderDelivery]:
    """Each order's ERP and channel delivery state, by order id, in one query for the whole page."""
    erp_keys = (
        {message_key(erp_key(erp_connector, o.channel, o.external_id)): o.id for o in orders}
        if erp_connector
        else {}
    )
    prefixes = {o.id: _fulfilment_prefix(o.channel, o.external_id) for o in orders}
    found = messages_by_key(conn, list(erp_keys), list(prefixes.values()))
    erp: dict[int, list[KeyedMessage]] = {}
    channel: dict[int, list[KeyedMessage]] = {}
    for m in found:
        if m.topic == ERP_TOPIC and m.key in erp_keys:
            erp.setdefault(erp_keys[m.key], []).append(m)
        elif m.topic == FULFIL_TOPIC and m.order_id in prefixes:
            channel.setdefault(m.order_id, []).append(m)
    return {o.id: OrderDelivery(combine(erp.get(o.id, ())), combine(channel.get(o.id, ()))) for o in orders}
