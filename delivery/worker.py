"""The outbox worker: delivers enqueued messages to their receivers, in order, until they arrive.

Business code writes a message with ``store.outbox.enqueue`` in the transaction of the change
it announces. :class:`OutboxWorker` claims due messages in a short transaction, passes each run
of consecutive messages of one partition of one topic to the topic's :data:`Handler` with no
transaction open, and records what happened: a receiver that is down delays a message, never
drops it. ``run_once`` works through every topic it has a handler for, ``run_topic``
through one, ``drain`` repeats either until nothing is due (the service hands each topic with
messages due to a drain of its own).

Handlers: ``handler(messages) -> outcomes``, one ``Delivered``, ``Retry`` or ``Failed`` per
message, in order (:mod:`delivery.outcomes`). A handler should stop sending at the first message it
cannot deliver: once a message gets ``Retry``, the later ones of the batch are released
unchanged, so nothing overtakes it. ``Failed`` makes a message a dead letter (listed by
``store.queries.list_messages``, put back by ``erpsync outbox retry``) and lets its partition
move on.

Errors a handler raises, for the whole batch:

- ``RetriableError``: every message is retried, after ``retry_after`` if the error gives one;
- ``AuthError``: retried with backoff (the credentials may be fixed meanwhile), logged as an error;
- ``PermanentError``: the first message fails, the others are released for an immediate retry;
- any other exception: retried like ``RetriableError`` and logged with its traceback.

Retries wait ``2s * 2**(attempt-1)``, at most 15 minutes, ±20% jitter (:class:`Backoff`); with
``max_attempts`` set, a message that used them all fails instead.

Delivery is at least once. A message reaches its receiver twice only if the process stops after
the handler returned and before ``mark_delivered`` committed (or the claim expired while the
handler was still working): the claim then expires and the message is sent again, with the same
``message.key``. Handlers send that key as the idempotency key (``Idempotency-Key`` header,
request id, ``Message-ID``…) so that the receiver keeps one copy.

Messages of a topic without a handler stay pending. The worker that should handle every topic
(the service's, made with ``report_unhandled=True``) logs an error about them every five minutes;
a worker for some topics only, such as the one ``erpsync stock push`` runs, says nothing about the
others: they are not its business. Log lines carry ids, keys, topics and errors, never payloads.

>>> def push_stock(messages: list[Message]) -> list[Outcome]:
...     outcomes: list[Outcome] = []
...     for message in messages:
...         try:
...             shop.put_stock(message.payload, idempotency_key=message.key)
...         except RetriableError as err:
...             outcomes.append(Retry(str(err), err.retry_after))
...             break
...         outcomes.append(Delivered())
...     return outcomes + [Retry("not sent")] * (len(messages) - len(outcomes))
>>> worker = OutboxWorker(engine, {"channel.stock": push_stock}, per_partition={"channel.stock": 20})
>>> worker.drain(stop=stop_event)  # until nothing is due
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from core.clock import utcnow
from core.errors import AuthError, PermanentError, RetriableError
from core.redact import redact_text
from delivery.outcomes import Delivered, Failed, Handler, Outcome, Retry
from store import outbox as store
from store.outbox import Message
from store.owners import new_owner_id

log = structlog.get_logger("erpsync.outbox")


@dataclass(frozen=True)
class Backoff:
    """Seconds to wait before the n-th retry: ``base * factor**(n-1)``, capped, then jittered."""

    base: float = 2.0
    factor: float = 2.0
    cap: float = 15 * 60.0
    jitter: float = 0.2

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The wait before retry number ``attempt`` (1 for the first retry)."""
        raw = min(self.cap, self.base * self.factor ** min(max(attempt - 1, 0), 64))
        return raw * rng.uniform(1 - self.jitter, 1 + self.jitter)


@dataclass(frozen=True)
class RunStats:
    """Messages delivered, scheduled for a retry and failed in one run."""

    delivered: int = 0
    retried: int = 0
    failed: int = 0

    def __add__(self, other: RunStats) -> RunStats:
        return RunStats(
            self.delivered + other.delivered, self.retried + other.retried, self.failed + other.failed
        )

    @property
    def total(self) -> int:
        return self.delivered + self.retried + self.failed


class OutboxWorker:
    """Claims due messages of the topics it has handlers for and delivers them (see module doc)."""

    def __init__(
        self,
        engine: Engine,
        handlers: Mapping[str, Handler],
        *,
        worker_id: str | None = None,
        batch: int = 100,
        per_partition: Mapping[str, int] | None = None,
        ttl: timedelta = timedelta(minutes=2),
        backoff: Backoff = Backoff(),
        max_attempts: int | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        report_unhandled: bool = False,
        unhandled_every: timedelta = timedelta(minutes=5),
    ) -> None:
        self.engine = engine
        self.handlers = dict(handlers)
        self.worker_id = worker_id or new_owner_id()
        self.batch = batch
        self.per_partition = dict(per_partition or {})
        self.ttl = ttl
        self.backoff = backoff
        self.max_attempts = max_attempts
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)
        self._report_unhandled_topics = report_unhandled
        self._unhandled_every = unhandled_every
        self._next_unhandled_check: datetime | None = None
        self._unhandled_lock = threading.Lock()

    def run_once(self, now: datetime | None = None) -> RunStats:
        """What happened to the messages due at ``now`` (default: the clock), all handled by now."""
        now = now or self._clock()
        self._report_unhandled(now)
        stats = RunStats()
        for topic, handler in self.handlers.items():
            stats += self._run_topic(topic, handler, now)
        return stats

    def run_topic(self, topic: str, now: datetime | None = None) -> RunStats:
        """Like :meth:`run_once` for the messages of ``topic`` only (one batch).

        A topic without a handler is left alone (and reported, with ``report_unhandled``).
        """
        now = now or self._clock()
        handler = self.handlers.get(topic)
        if handler is None:
            self._report_unhandled(now)
            return RunStats()
        return self._run_topic(topic, handler, now)

    def _run_topic(self, topic: str, handler: Handler, now: datetime) -> RunStats:
        messages = store.claim(
            self.engine,
            topic,
            self.worker_id,
            now=now,
            ttl=self.ttl,
            batch=self.batch,
            per_partition=self.per_partition.get(topic, 1),
        )
        # Leave a quarter of the claim for the last batch: past it, another worker may start.
        return self._deliver(topic, handler, messages, deadline=now + self.ttl * 0.75)

    def drain(self, topic: str | None = None, stop: threading.Event | None = None) -> RunStats:
        """What happened to the due messages of ``topic`` (every topic when None), delivered until
        a pass finds nothing more or ``stop`` is set (the batch in hand is finished).

        A store that does not answer ends the drain with a warning: the messages stay where they
        are, for the next drain.
        """
        stats = RunStats()
        while stop is None or not stop.is_set():
            try:
                step = self.run_once() if topic is None else self.run_topic(topic)
            except OperationalError as exc:
                log.warning("outbox store unavailable", error=redact_text(str(exc.orig)))
                break
            stats += step
            if step.total == 0:
                break
        return stats

    def _report_unhandled(self, now: datetime) -> None:
        if not self._report_unhandled_topics:
            return
        with self._unhandled_lock:  # topics may be delivered on threads of their own
            if self._next_unhandled_check is not None and now < self._next_unhandled_check:
                return
            self._next_unhandled_check = now + self._unhandled_every
        with self.engine.connect() as conn:
            pending = store.backlog(conn)
        for topic, count in sorted(pending.items()):
            if topic not in self.handlers:
                log.error(
                    "outbox topic has no handler; its messages wait",
                    topic=topic,
                    pending=count,
                    hint="configure a receiver for this topic or requeue the messages elsewhere",
                )

    def _deliver(self, topic: str, handler: Handler, messages: list[Message], deadline: datetime) -> RunStats:
        stats = RunStats()
        groups = [list(group) for _, group in groupby(messages, key=lambda m: m.partition)]
        for index, group in enumerate(groups):
            if self._clock() >= deadline:
                rest = [m.id for g in groups[index:] for m in g]
                log.warning("outbox claim running out; releasing the rest", topic=topic, released=len(rest))
                store.release(self.engine, rest, self.worker_id)
                break
            stats += self._deliver_group(topic, handler, group)
        return stats

    def _deliver_group(self, topic: str, handler: Handler, group: list[Message]) -> RunStats:
        try:
            outcomes = list(handler(list(group)))
        except Exception as exc:
            # Whatever went wrong in the receiver's code delays the messages, it never drops them.
            return self._on_error(topic, group, exc)
        if len(outcomes) != len(group):
            error = f"handler returned {len(outcomes)} outcomes for {len(group)} messages"
            log.error("outbox handler broke its contract", **_where(topic, group), error=error)
            return self._retry_all(group, error, None)
        return self._settle(topic, group, outcomes)

    def _on_error(self, topic: str, group: list[Message], exc: Exception) -> RunStats:
        error = redact_text(str(exc) or type(exc).__name__)
        where = _where(topic, group)
        if isinstance(exc, PermanentError):
            log.warning("outbox message refused", **where, error=error)
            failed = self._fail(group[0], error)
            store.release(self.engine, [m.id for m in group[1:]], self.worker_id)
            return RunStats(failed=failed)
        if isinstance(exc, AuthError):
            log.error("outbox receiver refused the credentials", **where, error=error, hint=exc.hint)
        elif isinstance(exc, RetriableError):
            log.warning("outbox receiver unavailable", **where, error=error)
        else:
            error = f"{type(exc).__name__}: {error}"
            log.error("outbox handler raised", **where, error=error, exc_info=exc)
        after = exc.retry_after if isinstance(exc, RetriableError) else None
        return self._retry_all(group, error, after)

    def _settle(self, topic: str, group: list[Message], outcomes: list[Outcome]) -> RunStats:
        delivered: list[int] = []
        failures: list[tuple[Message, str]] = []
        retry: tuple[Message, Retry] | None = None
        for message, outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, Delivered):
                delivered.append(message.id)
            elif isinstance(outcome, Failed):
                failures.append((message, redact_text(outcome.error)))
            else:
                retry = (message, outcome)
                break
        done = len(delivered) + len(failures) + (retry is not None)
        store.mark_delivered(self.engine, delivered, self.worker_id, now=self._clock())
        if delivered:
            log.debug("outbox delivered", **_where(topic, group), delivered=len(delivered))
        stats = RunStats(delivered=len(delivered))
        for message, error in failures:
            log.warning("outbox message refused", **_where(topic, [message]), error=error)
            stats += RunStats(failed=self._fail(message, error))
        if retry is not None:
            message, outcome = retry
            error = redact_text(outcome.error)
            log.warning("outbox delivery will be retried", **_where(topic, [message]), error=error)
            stats += self._retry(message, error, self._next_attempt(message, outcome.after))
        store.release(self.engine, [m.id for m in group[done:]], self.worker_id)
        return stats

    def _next_attempt(self, message: Message, after: float | None) -> datetime:
        delay = after if after is not None else self.backoff.delay(message.attempts + 1, self._rng)
        return self._clock() + timedelta(seconds=max(delay, 0.0))

    def _retry_all(self, group: list[Message], error: str, after: float | None) -> RunStats:
        next_at = self._next_attempt(group[0], after)
        stats = RunStats()
        for message in group:
            stats += self._retry(message, error, next_at)
        return stats

    def _retry(self, message: Message, error: str, next_at: datetime) -> RunStats:
        if self.max_attempts is not None and message.attempts + 1 >= self.max_attempts:
            error = f"gave up after {message.attempts + 1} attempts: {error}"
            log.error(
                "outbox message failed for good",
                **_where(message.topic, [message]),
                error=error,
            )
            return RunStats(failed=self._fail(message, error))
        ok = store.mark_retry(self.engine, message.id, self.worker_id, error, next_at)
        return RunStats(retried=int(ok))

    def _fail(self, message: Message, error: str) -> int:
        return int(store.mark_failed(self.engine, message.id, self.worker_id, error, now=self._clock()))


def _where(topic: str, group: list[Message]) -> dict[str, Any]:
    """Log fields naming a batch (never its payloads)."""
    return {
        "topic": topic,
        "partition": group[0].partition,
        "id": group[0].id,
        "key": group[0].key,
        "count": len(group),
    }
