"""Fake chat vendors on loopback for the notifier tests: they check requests the way the vendors do.

Each vendor is a :class:`Vendor`: ``check`` recomputes the signature from the request with the
algorithm of the vendor's documentation (written here independently of ``alerts.notifiers``)
and answers the vendor's own error when it does not hold; a valid request gets the next scripted
reply, or the vendor's success answer. :func:`serve` runs one on ``127.0.0.1`` in a thread and
records every request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from delivery.signing import MemoryNonceStore, SignatureError, verify

Reply = tuple[int, dict[str, str], bytes]
Clock = Callable[[], float]

DINGTALK_OK = {"errcode": 0, "errmsg": "ok"}
WECOM_OK = {"errcode": 0, "errmsg": "ok"}
FEISHU_OK = {"code": 0, "msg": "success", "data": {}}


def reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    """A scripted answer: ``body`` as JSON unless it is already text or bytes."""
    if isinstance(body, str):
        data, kind = body.encode(), "text/html"
    elif isinstance(body, bytes):
        data, kind = body, "text/html"
    else:
        data, kind = json.dumps(body).encode(), "application/json"
    return status, {"Content-Type": kind, **(headers or {})}, data


@dataclass
class Request:
    """One request as the receiver saw it."""

    path: str
    raw_query: str
    headers: dict[str, str]
    body: bytes

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.raw_query))

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Vendor:
    """A vendor's behaviour: its checks (None: the request is good) and its success answer."""

    check: Callable[[Request], Reply | None]
    ok: Reply


@dataclass
class Receiver:
    """A running fake vendor: its ``url``, the requests it got and the replies still scripted."""

    vendor: Vendor
    url: str = ""
    requests: list[Request] = field(default_factory=list)
    script: list[Reply] = field(default_factory=list)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: Request) -> Reply:
        with self.lock:
            self.requests.append(request)
            error = self.vendor.check(request)
            if error is not None:
                self.refused += 1
                return error
            return self.script.pop(0) if self.script else self.vendor.ok


@contextmanager
def serve(vendor: Vendor, path: str = "/hook") -> Iterator[Receiver]:
    """A :class:`Receiver` for ``vendor`` listening on 127.0.0.1 until the block ends."""
    state = Receiver(vendor)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = urlsplit(self.path)
            request = Request(parts.path, parts.query, dict(self.headers.items()), body)
            status, headers, data = state.handle(request)
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(data))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _b64_hmac(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def dingtalk_robot(token: str, secret: str, clock: Clock = time.time) -> Vendor:
    """DingTalk: token in the URL, sign = base64(HMAC-SHA256(secret, f"{ms}\\n{secret}")), ms within 1 h."""

    def check(request: Request) -> Reply | None:
        query = request.query
        if query.get("access_token") != token:
            return reply(200, {"errcode": 300001, "errmsg": "token is not exist"})
        stamp = query.get("timestamp", "")
        expected = _b64_hmac(secret.encode(), f"{stamp}\n{secret}".encode())
        fresh = stamp.isdigit() and abs(int(stamp) - clock() * 1000) <= 3600 * 1000
        if not (fresh and hmac.compare_digest(query.get("sign", ""), expected)):
            return reply(200, {"errcode": 310000, "errmsg": "sign not match"})
        if request.json().get("msgtype") not in ("text", "markdown"):
            return reply(200, {"errcode": 40035, "errmsg": "缺少参数 json"})
        return None

    return Vendor(check, reply(200, DINGTALK_OK))


def wecom_robot(key: str) -> Vendor:
    """WeCom: key in the URL, no signature; text content at most 2048 bytes, Markdown 4096."""

    def check(request: Request) -> Reply | None:
        if request.query.get("key") != key:
            return reply(200, {"errcode": 93000, "errmsg": "invalid webhook url"})
        body = request.json()
        limit = {"text": 2048, "markdown": 4096}.get(body.get("msgtype"))
        if limit is None:
            return reply(200, {"errcode": 40008, "errmsg": "invalid message type"})
        if len(body[body["msgtype"]]["content"].encode()) > limit:
            return reply(200, {"errcode": 40058, "errmsg": "content exceed max length"})
        return None

    return Vendor(check, reply(200, WECOM_OK))


def feishu_bot(secret: str | None, clock: Clock = time.time) -> Vendor:
    """Feishu: ``sign`` = base64(HMAC-SHA256(key=f"{s}\\n{secret}", msg=b"")), s in the body, within 1 h."""

    def check(request: Request) -> Reply | None:
        if len(request.body) > 20 * 1024:
            return reply(400, {"code": 9499, "msg": "Bad Request", "data": {}})
        body = request.json()
        if secret is not None:
            stamp = str(body.get("timestamp", ""))
            expected = _b64_hmac(f"{stamp}\n{secret}".encode(), b"")
            fresh = stamp.isdigit() and abs(int(stamp) - clock()) <= 3600
            if not (fresh and hmac.compare_digest(str(body.get("sign", "")), expected)):
                message = "sign match fail or timestamp is not within one hour from current time"
                return reply(200, {"code": 19021, "msg": message, "data": {}})
        if body.get("msg_type") not in ("text", "post"):
            return reply(400, {"code": 9499, "msg": "Bad Request", "data": {}})
        return None

    return Vendor(check, reply(200, FEISHU_OK))


def slack_webhook(path: str) -> Vendor:
    """Slack: the secret is the URL path; success is 200 with the body ``ok``."""

    def check(request: Request) -> Reply | None:
        if request.path != path:
            return reply(404, "no_service")
        try:
            body = request.json()
        except ValueError:
            return reply(400, "invalid_payload")
        if not isinstance(body.get("text"), str) or not isinstance(body.get("blocks"), list):
            return reply(400, "invalid_payload")
        return None

    return Vendor(check, reply(200, "ok"))


def signed_webhook(secret: str, clock: Clock = time.time) -> Vendor:
    """A receiver of erpsync's signed webhooks: checks with ``delivery.signing.verify``; 401 if wrong."""
    seen = MemoryNonceStore(clock)

    def check(request: Request) -> Reply | None:
        try:
            target = request.path + (f"?{request.raw_query}" if request.raw_query else "")
            verify(
                secret, request.headers, request.body, method="POST", target=target, now=clock(), seen=seen
            )
        except SignatureError as err:
            return reply(401, str(err))
        return None

    return Vendor(check, reply(204, b""))
