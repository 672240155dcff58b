"""Serve an ASGI app (the ``erpsync.api`` app) with uvicorn on a background thread.

``ApiServer(app, "127.0.0.1:8787")``: ``start()`` returns once the socket listens (port ``0``
picks a free one; ``url`` then tells which), ``stop()`` asks uvicorn to finish the requests in
flight and joins the thread. ``start()`` raises ``ConfigError`` when ``listen`` is not
``host:port`` or the socket cannot be bound there, with the system's reason (``address already in
use``, ``permission denied`` for a port below 1024, an unknown address): the socket is bound here,
before uvicorn gets it, so that the reason is ours to tell. uvicorn logs warnings and errors only,
through the process's logging set-up (``erpsync.logging``, JSON when asked), and no access log.

>>> server = ApiServer(create_app(engine, tokens), "127.0.0.1:0")
>>> server.start()
>>> requests.get(f"{server.url}/healthz").status_code
200
>>> server.stop()
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp

from core.errors import ConfigError

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


def parse_listen(listen: str) -> tuple[str, int]:
    """``(host, port)`` of a ``host:port`` string (``[::1]:8787`` for IPv6); ``ConfigError`` if malformed."""
    host, _, port = listen.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"api listen address {listen!r} is not host:port, e.g. 127.0.0.1:8787")
    return host, int(port)


class ApiServer:
    """uvicorn serving ``app`` on ``listen`` from a daemon thread; ``start()`` then ``stop()``."""

    def __init__(self, app: ASGIApp, listen: str) -> None:
        self.app = app
        self.host, self.port = parse_listen(listen)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` the server listens on (the real port once started with port 0)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._bound_port()}"

    def start(self) -> None:
        """Start serving; returns when the socket listens. ``ConfigError`` if it cannot."""
        if self._thread is not None:
            return
        sock = self._bind()
        # log_config=None: uvicorn's loggers keep the process's handlers (JSON lines when asked)
        config = uvicorn.Config(
            self.app, host=self.host, port=self.port, log_level="warning", access_log=False, log_config=None
        )
        server = uvicorn.Server(config)
        # uvicorn exits the process when it cannot start: keep that inside the thread.
        thread = threading.Thread(target=_run, args=(server, sock), name="erpsync-api", daemon=True)
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not server.started:
            server.should_exit = True
            thread.join(STOP_TIMEOUT)
            sock.close()
            raise ConfigError(f"the api could not start on {self.host}:{self.port}; see the log lines above")
        self._server, self._thread = server, thread

    def _bind(self) -> socket.socket:
        """A socket listening on host:port; ``ConfigError`` with the system's reason if it cannot."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            return socket.create_server((self.host, self.port), family=family)
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            hint = "change api.listen in the config, or pass --no-api"
            if isinstance(exc, PermissionError):
                hint = "a port below 1024 needs privileges: " + hint
            elif exc.errno == errno.EADDRINUSE:
                hint = "another program (or another copy of erpsync) listens there: stop it, or " + hint
            raise ConfigError(
                f"the api cannot listen on {self.host}:{self.port}: {reason.lower()}", hint=hint
            ) from None

    def stop(self) -> None:
        """Stop serving and wait for the thread (at most ``STOP_TIMEOUT`` seconds)."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT)
        self._server = self._thread = None

    def _bound_port(self) -> int:
        if self.port or self._server is None:
            return self.port
        for listener in self._server.servers:
            for sock in listener.sockets:
                return int(sock.getsockname()[1])
        return self.port


def _run(server: uvicorn.Server, sock: socket.socket) -> None:
    with contextlib.suppress(SystemExit):  # uvicorn could not start; start() reports it
        server.run(sockets=[sock])


__all__ = ["ApiServer", "parse_listen"]
