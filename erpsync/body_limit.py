"""A cap on the size of HTTP request bodies: larger ones are answered 413 before they are read.

``BodyLimit`` is ASGI middleware. A request announcing a ``Content-Length`` above the limit is
refused at once, without reading a byte of it; a body sent without a length (chunked) is counted
while the app reads it and refused as soon as it passes the limit. Either way the client gets
``413`` with ``{"detail": "request body larger than N bytes"}`` and nothing is changed.

>>> app.add_middleware(BodyLimit, limit=1024 * 1024)
"""

from __future__ import annotations

from fastapi import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_LIMIT = 1024 * 1024


class BodyLimit:
    """Refuses request bodies over ``limit`` bytes with 413 (see module doc)."""

    def __init__(self, app: ASGIApp, limit: int = DEFAULT_LIMIT) -> None:
        self.app, self.limit = app, limit

    def _refusal(self) -> str:
        return f"request body larger than {self.limit} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            status = 413 if length.isdigit() else 400
            detail = self._refusal() if status == 413 else "malformed Content-Length header"
            await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # raised inside the endpoint, so the app answers it like any HTTPException
                    raise HTTPException(413, self._refusal())
            return message

        await self.app(scope, counted, send)
