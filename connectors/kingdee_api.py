"""The K/3 Cloud WebAPI protocol: request signing, session login, reply status, FilterString literals.

Every call is ``POST {url}Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.<Op>.common.kdsvc``
(:data:`SERVICE`). :class:`KingdeeAuth` signs each request as SDK 8.x does (the headers of
「第三方系统登录授权」) when ``signed``, and sends the ``kdservice-sessionid`` header once a
``LoginBySign`` (:data:`LOGIN`, :func:`login_sign`) gave one. A failed call answers HTTP 200
with ``Result.ResponseStatus`` (:func:`reply_status`), which :func:`status_error` turns into
erpsync's error. :mod:`connectors.kingdee` is the connector built on these.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from requests.auth import AuthBase

from core.errors import AuthError, ConnectorError, PermanentError
from core.excerpt import shorten
from core.redact import redact_text, register_secret

#: the XOR key of SDK 8.x (``x-kdapi-secpwd`` replaces it)
SDK_XOR_KEY = "0054f397c6234378b09ca7d3e5debce7"
SERVICE = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.{op}.common.kdsvc"
LOGIN = "Kingdee.BOS.WebApi.ServicesStub.AuthService.LoginBySign.common.kdsvc"
APP_ID = re.compile(r"[^_]+_[A-Za-z0-9+/]{32}")


def _hmac_b64(key: str, message: str) -> str:
    digest = hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()
    return base64.b64encode(digest.encode()).decode()


def client_secret(app_id: str, xor_key: str = SDK_XOR_KEY) -> str:
    """The ``X-Api-Signature`` key: the AppId's 32-char suffix decoded, XORed with the key, base64."""
    if not APP_ID.fullmatch(app_id):
        return ""
    key, raw = xor_key.encode(), base64.b64decode(app_id.partition("_")[2])
    return base64.b64encode(bytes(b ^ key[i % len(key)] for i, b in enumerate(raw))).decode()


def login_sign(acct_id: str, username: str, app_id: str, app_secret: str, timestamp: str) -> str:
    """``LoginBySign``'s sign: lowercase hex SHA-256 of the five values sorted and joined."""
    joined = "".join(sorted([acct_id, username, app_id, app_secret, timestamp]))
    return hashlib.sha256(joined.encode()).hexdigest()


class KingdeeAuth(AuthBase):
    """Signs each request as SDK 8.x does when ``signed``; sends the session id once there is one."""

    def __init__(self, app_id: str, app_secret: str, appdata: str, xor_key: str = SDK_XOR_KEY) -> None:
        self.app_id, self.app_secret, self.appdata = app_id, app_secret, appdata
        self.signed = True
        self.secret = client_secret(app_id, xor_key)
        self.clock: Callable[[], float] = time.time
        self.session_id: str | None = None
        for value in (app_secret, self.secret):
            register_secret(value)

    def headers(self, path: str) -> dict[str, str]:
        """The signing headers for a POST to ``path`` (the URL path, ``/k3cloud/…kdsvc``) now."""
        ts = str(int(self.clock()))
        signed = f"POST\n{quote(path, safe='')}\n\nx-api-nonce:{ts}\nx-api-timestamp:{ts}\n"
        return {
            "X-Api-ClientID": self.app_id.partition("_")[0],
            "X-Api-Auth-Version": "2.0",
            "x-api-timestamp": ts,
            "x-api-nonce": ts,
            "x-api-signheaders": "x-api-timestamp,x-api-nonce",
            "X-Api-Signature": _hmac_b64(self.secret, signed),
            "X-Kd-Appkey": self.app_id,
            "X-Kd-Appdata": base64.b64encode(self.appdata.encode()).decode(),
            "X-Kd-Signature": _hmac_b64(self.app_secret, self.app_id + self.appdata),
        }

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.signed:
            request.headers.update(self.headers(urlsplit(request.url or "").path))
        if self.session_id:
            request.headers["kdservice-sessionid"] = self.session_id
        return request


def kd_literal(value: str) -> str:
    """``value`` as a quoted FilterString literal (quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def kd_datetime(cursor: str) -> str:
    """A saved cursor as a FilterString datetime literal (ISO 8601, milliseconds at most)."""
    try:
        moment = datetime.fromisoformat(cursor.strip())
    except ValueError:
        raise PermanentError(f"cursor {cursor!r} is not a date-time; reset the stream's cursor") from None
    text = moment.replace(tzinfo=None).isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    return kd_literal(text)


def reply_status(reply: Any) -> Mapping[str, Any] | None:
    """The ``ResponseStatus`` of a failed call (also inside ``[[…]]``), None for a success."""
    while isinstance(reply, list) and reply and isinstance(reply[0], list | dict):
        reply = reply[0]
    result = reply.get("Result") if isinstance(reply, dict) else None
    status = result.get("ResponseStatus") if isinstance(result, dict) else None
    return status if isinstance(status, dict) and status.get("IsSuccess") is False else None


def status_error(op: str, status: Mapping[str, Any]) -> ConnectorError:
    """The erpsync error for a failed ``ResponseStatus``: MsgCode 1 is Auth, the rest Permanent."""
    code = status.get("MsgCode")
    errors: list[Any] = status["Errors"] if isinstance(status.get("Errors"), list) else []
    said = "; ".join(
        (f"{e['FieldName']}: " if e.get("FieldName") else "") + str(e.get("Message") or "")
        for e in errors
        if isinstance(e, dict)
    )
    text = f"Kingdee {op} failed (MsgCode {code}): {shorten(redact_text(said), 300) or 'no message'}"
    return AuthError(text) if code == 1 else PermanentError(text)
