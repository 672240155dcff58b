"""Secret redaction: masks credentials before text reaches a log line or an exception message.

Two things are masked, each replaced by ``***``:

* values registered with :func:`register_secret` (a connector registers its tokens, passwords
  and keys when it is built), wherever they appear in a text, also URL-encoded; for a value like
  ``Bearer abc…`` the bare credential ``abc…`` too, as an upstream error may quote it alone;
* values of sensitive keys: ``access_token=…`` in a query string or form body, ``"password":
  "…"`` in a JSON excerpt or dict repr, ``Authorization: …`` in a header dump, ``Bearer …``
  credentials, ``user:password@`` in a URL, and mapping values whose key is sensitive (see
  :func:`is_sensitive_key`).

:func:`redact_event` is a structlog processor applying all of this to every event value; put it
after ``format_exc_info`` and before the renderer so tracebacks are masked too.

>>> register_secret("s3cr3t-value")
>>> redact_text("calling with s3cr3t-value inside")
'calling with *** inside'
>>> redact_url("https://shop.example/api?access_token=abc&sign=F00&page=2")
'https://shop.example/api?access_token=***&sign=***&page=2'
>>> redact_mapping({"password": "hunter2", "design": "blue"})
{'password': '***', 'design': 'blue'}
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

from structlog.typing import EventDict, WrappedLogger

MASK = "***"
MIN_SECRET_LENGTH = 4
#: a credential taken out of ``<scheme> <credential>`` must be this long to be masked on its own,
#: so that the second word of a short passphrase does not mask an ordinary word everywhere
MIN_BARE_CREDENTIAL = 8

# Short or generic names match only exactly ("sign" must not catch "design").
_EXACT_KEYS = frozenset({"auth", "sign", "sig", "pwd", "pass", "jwt", "x_kd_appdata"})
# Longer names are unambiguous enough to match anywhere inside a key ("x-api-signature").
_KEY_FRAGMENTS = (
    "token",
    "password",
    "passwd",
    "secret",
    "signature",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "cookie",
    "authorization",
    "session",
    "credential",
)

_secrets: set[str] = set()
_secrets_lock = threading.Lock()

# key=value in query strings and form bodies
_QUERY_PAIR = re.compile(r"(?P<key>[\w.\-\[\]%]+)=(?P<value>[^&\s;,\"'#<>]*)")
# "key": "value" in JSON and 'key': 'value' in Python reprs
_QUOTED_PAIR = re.compile(
    r"""(?P<q>["'])(?P<key>[^"'\\]{1,64})(?P=q)\s*:\s*(?P<vq>["'])(?P<value>(?:\\.|(?!(?P=vq))[^\\])*)(?P=vq)"""
)
# key: value in header dumps ("Authorization: Basic dXNl...")
_HEADER_PAIR = re.compile(r"(?P<key>\b[A-Za-z][\w\-]*):[ \t]*(?P<value>[^\s,;&\"'}][^\r\n,;&\"'}]*)")
_BEARER = re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=\-]+", re.IGNORECASE)
# "Bearer abc…": an auth scheme (one word), then a single credential
_SCHEMED_CREDENTIAL = re.compile(r"(?P<scheme>[A-Za-z][\w\-]{1,30})[ \t]+(?P<credential>[^\s,]+)")
_URL_USERINFO = re.compile(r"(?P<prefix>[a-z][a-z0-9+.\-]*://[^/\s:@]+):[^/\s@]+@", re.IGNORECASE)


def is_sensitive_key(key: object) -> bool:
    """Whether a dict key, header or parameter name holds a credential (case-insensitive)."""
    if not isinstance(key, str):
        return False
    name = unquote_plus(key).strip().lower().replace("-", "_")
    return name in _EXACT_KEYS or any(fragment in name for fragment in _KEY_FRAGMENTS)


def register_secret(value: str) -> None:
    """Remember ``value`` so every later :func:`redact_text` masks it; values under 4 chars are ignored.

    A credential with its scheme (``Bearer abc…``, ``Token abc…``, ``Basic dXNl…``: a header's
    value) registers the credential alone as well, since a server may quote it back without the
    scheme; for ``Basic`` also the decoded ``user:password`` and the password.
    """
    if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
        return
    forms = {value, quote(value, safe=""), quote_plus(value)}
    with _secrets_lock:
        _secrets.update(form for form in forms if len(form) >= MIN_SECRET_LENGTH)
    for part in _credential_parts(value):
        register_secret(part)


def _credential_parts(value: str) -> list[str]:
    """The bare credential of ``<scheme> <credential>`` (and what a Basic one decodes to)."""
    match = _SCHEMED_CREDENTIAL.fullmatch(value.strip())
    if match is None:
        return []
    credential = match.group("credential")
    parts = [credential] if len(credential) >= MIN_BARE_CREDENTIAL else []
    if match.group("scheme").lower() == "basic":
        try:
            decoded = base64.b64decode(credential, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return parts
        parts += [decoded, decoded.partition(":")[2]]
    return parts


def _mask_registered(text: str) -> str:
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _mask_pair(match: re.Match[str]) -> str:
    if not is_sensitive_key(match.group("key")):
        return match.group(0)
    text = match.string
    return text[match.start() : match.start("value")] + MASK + text[match.end("value") : match.end()]


def redact_text(text: str) -> str:
    """``text`` with registered secrets, sensitive ``key=value`` pairs and credentials masked."""
    if not text:
        return text
    text = _mask_registered(text)
    for pattern in (_QUERY_PAIR, _QUOTED_PAIR, _HEADER_PAIR):
        text = pattern.sub(_mask_pair, text)
    text = _BEARER.sub(f"Bearer {MASK}", text)
    return _URL_USERINFO.sub(lambda m: f"{m.group('prefix')}:{MASK}@", text)


def redact_url(url: str | bytes | None) -> str:
    """``url`` with sensitive query parameters, the userinfo password and registered secrets masked."""
    if url is None:
        return ""
    if isinstance(url, bytes):
        url = url.decode("utf-8", "replace")
    return redact_text(url)


def redact_mapping(obj: Any) -> Any:
    """A copy of ``obj`` with values of sensitive keys masked, recursing into dicts, lists and tuples."""
    if isinstance(obj, Mapping):
        return {key: MASK if is_sensitive_key(key) else redact_mapping(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(redact_mapping(item) for item in obj)
    if isinstance(obj, str):
        return redact_text(obj)
    return obj


def redact_event(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: the event with every value redacted and sensitive keys masked."""
    for key, value in event_dict.items():
        event_dict[key] = MASK if is_sensitive_key(key) else redact_mapping(value)
    return event_dict
