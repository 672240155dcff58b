"""Kingdee authentication: the SDK 8.x signed headers (doc test vector), session login, settings.

The vector is the one in ``shared/docs/channel-protocols.md`` §1 "Authentication A —
signed headers on every request" (computed by ``kingdee-cdp-webapi-sdk`` 8.2.0's
``BuildHeader`` with time frozen at 1700000000). Session login follows §1 "Authentication B";
its parameter order ``[acctId, userName, appId, timestamp, sign, lcid]``, the sign (SHA-256 hex
of the sorted, concatenated values) and the reply fields ``LoginResultType`` / ``KDSVCSessionId``
were confirmed in the public client ``Xueyu334/kingdee-k3cloud-open-api``
(``WebApiHttpHelper.buildLoginBySignParams``/``generateSign``, ``LoginResult.java``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import responses
from pydantic import ValidationError

from config import load_config
from connectors.kingdee import KingdeeSettings
from connectors.kingdee_api import KingdeeAuth, client_secret, login_sign
from core.errors import AuthError
from tests.connectors.kingdee.fake import APP_ID, APP_SECRET, BASE, LOGIN, QUERY, body, connector, serve

PATH = "/k3cloud/Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.ExecuteBillQuery.common.kdsvc"
VECTOR = {
    "X-Api-ClientID": "100001",
    "X-Api-Auth-Version": "2.0",
    "x-api-timestamp": "1700000000",
    "x-api-nonce": "1700000000",
    "x-api-signheaders": "x-api-timestamp,x-api-nonce",
    "X-Api-Signature": "ZDQ4NTViM2EzY2VjYjI1OTY2MmZjZjVhNjE0OTZiNDA3MmY4M2VjYzNlZDQ1YTNkMmY1NDdlNzQxYzI4OWMzYw==",  # noqa: E501
    "X-Kd-Appkey": APP_ID,
    "X-Kd-Appdata": "NjVhMDAwMDAwMDAwMGEsYXBpdXNlciwyMDUyLDEwMA==",
    "X-Kd-Signature": "NjI1YzBlMGZjYmUyNTY3ZDIxMjc5ZmVhZjJhNjZiM2YzMDNiM2YzMDAzZGViN2M5MDMyM2UzMGU5NTcxYTQxZA==",  # noqa: E501
}


def test_signed_headers_reproduce_the_documented_vector() -> None:
    auth = KingdeeAuth(APP_ID, APP_SECRET, "65a0000000000a,apiuser,2052,100")
    auth.clock = lambda: 1700000000

    assert auth.secret == "MTI2MGM1Pj9qPDk/OT04KHMiKnd0IXMr"
    assert auth.headers(PATH) == VECTOR


@responses.activate
def test_every_request_is_signed_for_its_own_url_path() -> None:
    kd = connector()
    kd.auth.clock = lambda: 1700000000.9
    serve(QUERY, "products_page2")

    list(kd.fetch("products", None))

    sent = responses.calls[0].request.headers
    assert {name: sent[name] for name in VECTOR} == VECTOR
    assert "kdservice-sessionid" not in sent


def test_client_secret_needs_the_32_character_suffix_and_honours_another_xor_key() -> None:
    assert client_secret("100001") == ""
    assert client_secret(APP_ID, xor_key="0" * 32) != client_secret(APP_ID)
    kd = connector(xor_key="1" * 32)
    assert kd.auth.secret == client_secret(APP_ID, "1" * 32)


@responses.activate
def test_session_login_then_calls_carry_the_session_id() -> None:
    serve(LOGIN, "login_ok")
    serve(QUERY, "products_page2")

    list(connector(auth="session").fetch("products", None))

    acct, user, app_id, ts, sign, lcid = body(0)["parameters"]
    assert (acct, user, app_id, lcid) == ("65a0000000000a", "apiuser", APP_ID, 2052)
    joined = "".join(sorted(["65a0000000000a", "apiuser", APP_ID, APP_SECRET, str(ts)]))
    assert (
        sign
        == hashlib.sha256(joined.encode()).hexdigest()
        == login_sign(acct, user, app_id, APP_SECRET, str(ts))
    )
    query = responses.calls[1].request.headers
    assert query["kdservice-sessionid"] == "kdsvc-session-0001"
    assert "X-Api-Signature" not in query


@responses.activate
def test_session_expiry_logs_in_again_once_and_repeats_the_call() -> None:
    serve(LOGIN, "login_ok", "login_again")
    serve(QUERY, "error_msgcode1", "products_page2")

    pages = list(connector(auth="session").fetch("products", None))

    assert pages[0].records[0]["FNumber"] == "MAT003"
    assert [call.request.url for call in responses.calls] == [LOGIN, QUERY, LOGIN, QUERY]
    assert responses.calls[3].request.headers["kdservice-sessionid"] == "kdsvc-session-0002"


@responses.activate
def test_session_refused_twice_is_an_auth_error() -> None:
    serve(LOGIN, "login_ok", "login_again")
    serve(QUERY, "error_msgcode1", "error_msgcode1")

    with pytest.raises(AuthError, match="MsgCode 1") as caught:
        list(connector(auth="session").fetch("stock", None))

    assert "会话信息已丢失" in str(caught.value)
    assert len(responses.calls) == 4


@responses.activate
def test_signed_msgcode_1_is_an_auth_error_without_a_login() -> None:
    serve(QUERY, "error_msgcode1")

    with pytest.raises(AuthError):
        list(connector().fetch("stock", None))

    assert len(responses.calls) == 1


@responses.activate
def test_a_refused_login_is_an_auth_error_naming_kingdees_message() -> None:
    serve(LOGIN, "login_refused")

    with pytest.raises(AuthError, match="sign does not match") as caught:
        connector(auth="session").check()

    assert caught.value.stream == "check"
    assert APP_SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"app_id": "100001"}, "app_id must be '<client id>_<32-character key>'"),
        ({"app_id": "100001_short"}, "app_id must be '<client id>_<32-character key>'"),
        ({"url": "https://erp.example.com/"}, "ending in /K3Cloud/ (any case)"),
        ({"url": "https://erp.example.com/k3cloudx/"}, "ending in /K3Cloud/ (any case)"),
        ({"acct_id": 6.5e10}, "put it in quotes"),
        ({"acct_id": True}, "valid string"),
        ({"page_size": 5000}, "less than or equal to 2000"),
        ({"create_sales": True}, "create_sales needs customer_number"),
        ({"ref_field": "FNote = '' or 1=1 --"}, "ref_field"),
    ],
)
def test_settings_errors_say_what_is_wrong(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        connector(**settings)
    assert message in str(caught.value)


def test_session_auth_takes_any_app_id_and_the_url_gets_its_slash() -> None:
    kd = connector(auth="session", app_id="100001", url="https://erp.example.com/k3cloud")
    assert str(kd.config.url) == "https://erp.example.com/k3cloud/"


@responses.activate
def test_the_k3cloud_base_is_accepted_in_the_casing_installations_use() -> None:
    base = "https://erp.example.com/K3Cloud/"
    kd = connector(url=base.rstrip("/"))
    kd.auth.clock = lambda: 1700000000
    responses.post(f"{base}{QUERY.removeprefix(BASE)}", json=[])

    list(kd.fetch("products", None))

    assert str(kd.config.url) == base
    sent = responses.calls[0].request.headers
    # the signature covers the path as the server was addressed, /K3Cloud/ and not /k3cloud/
    signed = KingdeeAuth(APP_ID, APP_SECRET, "65a0000000000a,apiuser,2052,100")
    signed.clock = lambda: 1700000000
    assert (
        sent["X-Api-Signature"] == signed.headers(PATH.replace("/k3cloud/", "/K3Cloud/"))["X-Api-Signature"]
    )
    assert sent["X-Api-Signature"] != signed.headers(PATH)["X-Api-Signature"]


def test_a_numeric_acct_id_is_taken_as_the_text_the_api_needs() -> None:
    settings = KingdeeSettings.model_validate(
        {
            "url": BASE,
            "acct_id": 20240101,
            "username": "u",
            "app_id": "1",
            "app_secret": "s",
            "auth": "session",
        }
    )
    assert settings.acct_id == "20240101"


def test_a_config_file_with_k3cloud_and_an_unquoted_acct_id_loads(tmp_path: Path) -> None:
    config = tmp_path / "erpsync.yaml"
    config.write_text(
        "connectors:\n"
        "  - name: kd\n"
        "    kind: kingdee\n"
        "    settings:\n"
        "      url: https://erp.example.com/K3Cloud/\n"
        "      acct_id: 20240101\n"
        "      username: apiuser\n"
        f"      app_id: {APP_ID}\n"
        "      app_secret: ${KD_SECRET}\n",
        encoding="utf-8",
    )

    cfg = load_config(config, env={"KD_SECRET": APP_SECRET})

    settings = cfg.connectors[0].parsed_settings
    assert isinstance(settings, KingdeeSettings)
    assert settings.acct_id == "20240101"
    assert str(settings.url) == "https://erp.example.com/K3Cloud/"
