"""Odoo's two RPC transports and how their failures map onto erpsync's errors.

* :class:`JsonRpc` (Odoo 16–18; deprecated in 19): ``POST /jsonrpc``, ``common.authenticate``
  once for the user id, then ``object.execute_kw`` with database, user id and API key in every
  call; failures come back as HTTP 200 with an ``error`` member, classified by ``error.data.name``
  (:func:`rpc_error`);
* :class:`Json2` (Odoo ≥ 19): ``POST /json/2/<model>/<method>`` with named arguments; the HTTP
  client sends ``Authorization: bearer <api key>`` and ``X-Odoo-Database``, and failures are real
  4xx/5xx.

Both offer ``call(model, method, ids=..., **named)`` and ``check()``; :mod:`connectors.odoo`
reads and writes through them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.http import HttpClient
from core.errors import AuthError, ConnectorError, PermanentError, RetriableError
from core.excerpt import shorten
from core.redact import redact_text

_AUTH = {"AccessDenied", "AccessError"}
_RETRIABLE = {"SerializationFailure", "TransactionRollbackError"}
# Odoo's positional parameters, sent positionally over JSON-RPC (as in Odoo's own examples).
_POSITIONAL = {"search_read": "domain", "search": "domain", "create": "vals_list"}


@dataclass(frozen=True)
class Login:
    """Who calls: the database, the user's login and its API key (registered as a secret)."""

    database: str
    username: str
    api_key: str = field(repr=False)


def rpc_error(error: Mapping[str, Any]) -> ConnectorError:
    """The erpsync error for a JSON-RPC ``error`` member, by the exception name in ``data.name``."""
    data: Mapping[str, Any] = error["data"] if isinstance(error.get("data"), Mapping) else {}
    name = str(data.get("name") or error.get("message") or "unknown error")
    detail = shorten(redact_text(str(data.get("message") or "")).strip(), 300)
    text = f"Odoo refused the call: {name}" + (f": {detail}" if detail else "")
    short = name.rsplit(".", 1)[-1]
    if short in _AUTH:
        return AuthError(text)
    if short in _RETRIABLE:
        return RetriableError(text)
    return PermanentError(text)


class JsonRpc:
    """Odoo ≤ 18 ``/jsonrpc``: the user id once, then ``execute_kw`` with it and the API key."""

    def __init__(self, http: HttpClient, login: Login) -> None:
        self.http, self.login = http, login
        self._uid: int | None = None
        self._ids = itertools.count(1)

    def call(self, model: str, method: str, *, ids: list[int] | None = None, **named: Any) -> Any:
        args: list[Any] = [] if ids is None else [ids]
        if method in _POSITIONAL:
            args.append(named.pop(_POSITIONAL[method]))
        s = self.login
        return self._rpc(
            "object", "execute_kw", [s.database, self.uid(), s.api_key, model, method, args, named]
        )

    def uid(self) -> int:
        if self._uid is None:
            s = self.login
            uid = self._rpc("common", "authenticate", [s.database, s.username, s.api_key, {}])
            if not isinstance(uid, int) or isinstance(uid, bool):
                raise AuthError(f"Odoo refused login {s.username!r} on database {s.database!r}")
            self._uid = uid
        return self._uid

    def check(self) -> None:
        self._uid = None
        self.uid()

    def _rpc(self, service: str, method: str, args: list[Any]) -> Any:
        params = {"service": service, "method": method, "args": args}
        body = {"jsonrpc": "2.0", "method": "call", "id": next(self._ids), "params": params}
        reply = self.http.post_json("jsonrpc", json=body)
        if not isinstance(reply, dict) or not ("result" in reply or "error" in reply):
            raise PermanentError(f"{service}.{method} did not answer a JSON-RPC 2.0 reply")
        if reply.get("error") is not None:
            raise rpc_error(reply["error"])
        return reply["result"]


class Json2:
    """Odoo ≥ 19 ``/json/2/<model>/<method>``: named arguments, the record ids as ``ids``."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def call(self, model: str, method: str, *, ids: list[int] | None = None, **named: Any) -> Any:
        body = named if ids is None else {"ids": ids, **named}
        return self.http.post_json(f"json/2/{model}/{method}", json=body)

    def check(self) -> None:
        self.call("res.users", "context_get")
