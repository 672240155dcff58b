"""Helpers for the Odoo tests: fixture replies, a connector on a fake server, request bodies.

Replies are the JSON files next to this module (see README.md for the documents they follow),
served in order on ``POST /jsonrpc``; a test asserts how many calls it made.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import responses

from connectors.odoo import OdooConnector, OdooSettings

BASE = "https://odoo.example.com"
RPC = f"{BASE}/jsonrpc"
KEY = "odoo-api-key-0123456789"
FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def serve(*names: str) -> None:
    """Answer the next ``POST /jsonrpc`` calls with these fixtures, in order."""
    for name in names:
        responses.post(RPC, json=fixture(name))


def connector(**settings: Any) -> OdooConnector:
    raw = {
        "url": BASE,
        "database": "prod",
        "username": "bot@example.com",
        "api_key": KEY,
        "page_size": 2,
        "max_attempts": 1,
    } | settings
    return OdooConnector("odoo", OdooSettings.model_validate(raw))


def body(index: int) -> Any:
    """The JSON body of recorded call ``index``."""
    raw = responses.calls[index].request.body
    return json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))


def execute_kw(index: int) -> list[Any]:
    """``[db, uid, key, model, method, args, kwargs]`` of recorded call ``index``."""
    params = body(index)["params"]
    assert (params["service"], params["method"]) == ("object", "execute_kw")
    return list(params["args"])
