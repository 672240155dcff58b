"""Helpers for the Kingdee tests: fixture replies, a connector on a fake server, request bodies.

Replies are the JSON files next to this module (see README.md for the documents they follow),
served in order per service URL; a test asserts how many calls it made.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import responses

from connectors.kingdee import KingdeeConnector, KingdeeSettings

BASE = "https://erp.example.com/k3cloud/"
QUERY = f"{BASE}Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.ExecuteBillQuery.common.kdsvc"
SAVE = f"{BASE}Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.Save.common.kdsvc"
LOGIN = f"{BASE}Kingdee.BOS.WebApi.ServicesStub.AuthService.LoginBySign.common.kdsvc"
APP_ID = "100001_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcY"
APP_SECRET = "appsecret0000000000000000000000a"
FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def serve(url: str, *names: str) -> None:
    """Answer the next POSTs to ``url`` with these fixtures, in order."""
    for name in names:
        responses.post(url, json=fixture(name))


def connector(**settings: Any) -> KingdeeConnector:
    raw = {
        "url": BASE,
        "acct_id": "65a0000000000a",
        "username": "apiuser",
        "app_id": APP_ID,
        "app_secret": APP_SECRET,
        "org_number": "100",
        "page_size": 3,
        "max_attempts": 1,
    } | settings
    return KingdeeConnector("kingdee", KingdeeSettings.model_validate(raw))


def body(index: int) -> Any:
    """The JSON body of recorded call ``index``."""
    raw = responses.calls[index].request.body
    return json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))


def query_data(index: int) -> dict[str, Any]:
    """The ``data`` of recorded ExecuteBillQuery call ``index``."""
    sent = body(index)
    assert list(sent) == ["data"], "ExecuteBillQuery bodies are {'data': {...}}"
    return dict(sent["data"])
