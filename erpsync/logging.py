"""Logging setup: structlog to stderr, console lines on a TTY, JSON lines otherwise.

Every event passes the redaction processor (``core.redact.redact_event``) last before
rendering, so a secret value, an ``Authorization`` header or a ``sign``/``token`` parameter never
reaches a log line whatever the caller put in the event.

The stdlib loggers of the libraries (uvicorn, alembic, apscheduler, urllib3) and Python's
warnings go through the same processors and renderer, so with JSON chosen every line on stderr
is one JSON object. :func:`json_chosen` tells whether JSON was asked for by name
(``--log-format json`` or ``logging.format: json``): the CLI then writes its error lines as JSON
events too, and shows no progress spinner.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

from core.redact import redact_event

LogFormat = Literal["auto", "console", "json"]


#: loggers a library may have given handlers of its own (uvicorn does, when started with a log_config)
_LIBRARY_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic", "apscheduler")


class _Chosen:
    """The rendering the last :func:`configure_logging` call chose."""

    json = False  # lines are JSON (asked for, or "auto" off a terminal)
    json_by_name = False  # "json" was asked for by name


def json_chosen() -> bool:
    """True when JSON log lines were asked for by name (not only by "auto" off a terminal)."""
    return _Chosen.json_by_name


def json_lines() -> bool:
    """True when log lines are JSON, however that was decided."""
    return _Chosen.json


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time (it may be replaced after set-up)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "info", fmt: LogFormat = "auto") -> None:
    """Configure structlog (and the stdlib loggers of our libraries) for this process."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    _Chosen.json, _Chosen.json_by_name = not use_console, fmt == "json"
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if use_console
        else structlog.processors.JSONRenderer(ensure_ascii=False)
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_event,
    ]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    # Libraries that log through the stdlib (apscheduler, urllib3, alembic) go through the same
    # redaction and rendering.
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.WARNING))
    for name in _LIBRARY_LOGGERS:  # no handler of their own: every line goes through ours
        library = logging.getLogger(name)
        library.handlers[:] = []
        library.propagate = True
    logging.captureWarnings(True)  # a library's warning is a log line too, not bare text
