"""The HTTP pieces every sender shares: Retry-After, transient statuses, body excerpts (no network)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from core.http import (
    USER_AGENT,
    answered,
    body_excerpt,
    is_transient,
    new_session,
    parse_retry_after,
    retry_after,
)
from core.redact import register_secret


def response(status: int, body: str = "", headers: dict[str, str] | None = None) -> requests.Response:
    made = requests.Response()
    made.status_code, made.reason = status, "Whatever"
    made._content = body.encode()
    made.encoding = "utf-8"
    made.headers.update(headers or {})
    return made


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("5", 5.0),
        (" 0 ", 0.0),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=datetime(2030, 1, 1, tzinfo=UTC).timestamp()) == expected


def test_a_response_asks_for_at_most_the_cap() -> None:
    assert retry_after(response(429, headers={"Retry-After": "5"}), now=0.0) == 5.0
    assert retry_after(response(429, headers={"Retry-After": "86400"}), now=0.0) == 15 * 60.0
    assert retry_after(response(503), now=0.0) is None


@pytest.mark.parametrize(
    ("status", "transient"), [(200, False), (404, False), (408, True), (429, True), (502, True)]
)
def test_transient_statuses(status: int, transient: bool) -> None:
    assert is_transient(status) is transient


def test_an_excerpt_is_one_redacted_line_cut_at_a_word() -> None:
    register_secret("excerpt-secret-value")
    body = "error:\n  token excerpt-secret-value refused " + "because " * 60
    text = body_excerpt(response(400, body))
    assert "\n" not in text
    assert "excerpt-secret-value" not in text
    assert text.startswith("error: token *** refused because")
    assert text.endswith("because…")
    assert len(text) <= 200
    assert (
        answered(response(400), "POST https://x.example/h")
        == "POST https://x.example/h answered 400 Whatever"
    )


def test_a_new_session_names_erpsync() -> None:
    assert new_session().headers["User-Agent"] == USER_AGENT == "erpsync"
