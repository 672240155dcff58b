"""Redaction of secrets in text, URLs, mappings and structlog events."""

from __future__ import annotations

from typing import Any

import structlog
from structlog.testing import LogCapture

from core.redact import (
    MASK,
    is_sensitive_key,
    redact_event,
    redact_mapping,
    redact_text,
    redact_url,
    register_secret,
)


def test_registered_secret_is_masked_inside_a_longer_string() -> None:
    register_secret("pa55-w0rd-xyzzy")
    assert (
        redact_text("login failed for pa55-w0rd-xyzzy@erp (retrying)")
        == "login failed for ***@erp (retrying)"
    )


def test_registered_secret_is_masked_url_encoded_too() -> None:
    register_secret("a b/c+d=secret")
    assert "secret" not in redact_text("GET /x?q=a%20b%2Fc%2Bd%3Dsecret")
    assert "secret" not in redact_text("GET /x?q=a+b%2Fc%2Bd%3Dsecret")


def test_short_values_are_not_registered() -> None:
    register_secret("abc")
    assert redact_text("abc abc") == "abc abc"


def test_url_sensitive_query_params_are_masked() -> None:
    url = "https://api.example/router?app_key=123&access_token=tok-1&sign=ABCDEF&page=2&design=blue"
    assert redact_url(url) == (
        "https://api.example/router?app_key=123&access_token=***&sign=***&page=2&design=blue"
    )


def test_url_userinfo_password_is_masked() -> None:
    assert redact_url("https://user:hunter22@erp.example/x") == "https://user:***@erp.example/x"


def test_sensitive_key_names() -> None:
    for key in [
        "Authorization",
        "access_token",
        "refresh_token",
        "password",
        "passwd",
        "client_secret",
        "app_secret",
        "sign",
        "SIGNATURE",
        "api_key",
        "apikey",
        "session",
        "Cookie",
        "Set-Cookie",
        "X-Shopify-Access-Token",
        "X-Api-Signature",
        "X-KD-Signature",
        "X-Kd-Appdata",
        "x-api-key",
    ]:
        assert is_sensitive_key(key), key
    for name in ["design", "assignee", "signup_date", "sku", "keyword", "page", "id", 3]:
        assert not is_sensitive_key(name), name


def test_form_json_and_header_texts() -> None:
    assert redact_text("grant_type=password&password=pw1&username=bob") == (
        "grant_type=password&password=***&username=bob"
    )
    assert (
        redact_text('{"access_token": "t-1", "expires_in": 7200}')
        == '{"access_token": "***", "expires_in": 7200}'
    )
    assert redact_text("{'client_secret': 's-1', 'design': 'd'}") == "{'client_secret': '***', 'design': 'd'}"
    assert redact_text("Authorization: Basic dXNlcjpwYXNz\nAccept: */*") == "Authorization: ***\nAccept: */*"
    assert redact_text("sent Bearer eyJhbGciOi.J9.x to erp") == "sent Bearer *** to erp"


def test_mapping_is_masked_recursively() -> None:
    payload: dict[str, Any] = {
        "design": "blue",
        "headers": {"X-Shopify-Access-Token": "shpat-1", "Accept": "json"},
        "items": [{"sign": "F00", "url": "https://x.example/?token=t-2"}],
        "count": 3,
    }
    assert redact_mapping(payload) == {
        "design": "blue",
        "headers": {"X-Shopify-Access-Token": MASK, "Accept": "json"},
        "items": [{"sign": MASK, "url": "https://x.example/?token=***"}],
        "count": 3,
    }
    assert payload["headers"]["X-Shopify-Access-Token"] == "shpat-1"  # the input is left alone


def test_structlog_processor_masks_every_value() -> None:
    register_secret("log-secret-777")
    capture = LogCapture()
    logger = structlog.wrap_logger(None, processors=[redact_event, capture])
    logger.info(
        "calling log-secret-777",
        url="https://erp.example/x?access_token=abc",
        password="pw",
        design="kept",
        nested={"session": "s", "n": 1},
    )
    [event] = capture.entries
    assert event["event"] == "calling ***"
    assert event["url"] == "https://erp.example/x?access_token=***"
    assert event["password"] == MASK
    assert event["design"] == "kept"
    assert event["nested"] == {"session": MASK, "n": 1}


def test_the_bare_credential_of_a_schemed_value_is_masked_too() -> None:
    import base64

    register_secret("Bearer bare-tok-4Hq9zL2w")
    register_secret("Basic " + base64.b64encode(b"erp-user:basic-pw-7Rt5").decode())
    said = "401: token bare-tok-4Hq9zL2w is not valid; user erp-user:basic-pw-7Rt5, password basic-pw-7Rt5"
    assert redact_text(said) == f"401: token {MASK} is not valid; user {MASK}, password {MASK}"
    register_secret("Bearer short")  # a second word this short would mask ordinary words
    assert redact_text("a short note") == "a short note"
