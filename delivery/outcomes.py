"""What became of a message a handler tried to deliver, and the shape of a handler.

An outbox handler (:data:`Handler`) takes a run of messages of one partition and
returns one outcome per message, in order:

- :class:`Delivered`: the receiver has it;
- :class:`Retry`: not this time; the worker tries again after ``after`` seconds, or after its
  backoff when ``after`` is None. The later messages of the batch wait for it, so nothing
  overtakes it;
- :class:`Failed`: the receiver refused it for good; it becomes a dead letter (``erpsync outbox
  retry`` puts it back) and its partition moves on.

Handlers live with what they deliver: dispatch instructions in ``routing``, alert
notifications in ``alerts``, stock pushes in ``sync``. ``error`` texts are logged and stored:
they name the receiver and the reason, never a secret or a payload.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from store.outbox import Message


@dataclass(frozen=True)
class Delivered:
    """The receiver has the message."""


@dataclass(frozen=True)
class Retry:
    """Not delivered this time; try again after ``after`` seconds (None: the worker's backoff)."""

    error: str
    after: float | None = None


@dataclass(frozen=True)
class Failed:
    """The receiver refused the message for good; it becomes a dead letter."""

    error: str


Outcome: TypeAlias = Delivered | Retry | Failed
Handler: TypeAlias = Callable[[list[Message]], Sequence[Outcome]]
