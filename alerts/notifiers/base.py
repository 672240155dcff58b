"""What every alert notifier shares: the notification, its destination, the errors, the HTTP call.

A :class:`Notification` is one alert message as the ``alert.notify`` outbox payload carries it:
``title``, plain ``text``, optional ``markdown`` and ``html``, ``severity`` (``info``,
``warning``, ``critical``), ``language`` (``en``, ``zh-CN``), who to @mention (phone numbers or
user ids; ``@all`` for everyone) and an optional ``link``. A :class:`Destination` says where it
goes: ``email`` (``to``), ``dingtalk`` (``url`` with the access token, ``secret`` ``SEC…``),
``wecom`` (``url`` with the key), ``feishu`` (``url``, optional ``secret``), ``slack``
(``url``) or a generic ``webhook`` (``url``, ``secret``).

A :class:`Notifier` sends one notification to one destination with an idempotency key and
returns nothing, or raises (the tree is in :mod:`core.errors`):

- ``RetriableError``: network errors, timeouts, 408, 429, 5xx and the vendors' throttle codes,
  with ``retry_after`` in seconds when the vendor says or documents how long to wait;
- ``PermanentError``: anything a retry will not fix: a bad signature, keyword or IP allow-list,
  an unknown robot, any other 4xx. The error names the destination and the vendor's code.

Error texts, like log lines, never hold a secret, a token from a URL or the message body:
destinations register their secrets with :mod:`core.redact` and URLs are shown redacted.
The HTTP pieces they share with the other senders (``Retry-After``, body excerpts, the statuses
that mean "later") are in :mod:`core.http`.

>>> note = Notification.from_payload({"title": "缺货预警 — CUP-500", "text": "On hand 3, safety 10"})
>>> Destination("wecom", "ops-wecom", url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K")
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, get_args
from urllib.parse import parse_qsl, urlsplit

import requests

from core.errors import PermanentError, RetriableError
from core.excerpt import shorten
from core.http import (
    EXCERPT_CHARS,
    TIMEOUT,
    USER_AGENT,
    answered,
    body_excerpt,
    is_transient,
    new_session,
    retry_after,
)
from core.redact import redact_text, redact_url, register_secret

Kind = Literal["email", "dingtalk", "wecom", "feishu", "slack", "webhook"]
Severity = Literal["info", "warning", "critical"]
Language = Literal["en", "zh-CN"]

ELLIPSIS = "…"
MIN_URL_TOKEN = 16  # robot tokens and hook ids are 32+ characters
EVERYONE = frozenset({"@all", "all"})
SEVERITY_LABELS: Mapping[str, Mapping[str, str]] = {
    "en": {"info": "Info", "warning": "Warning", "critical": "Critical"},
    "zh-CN": {"info": "提示", "warning": "预警", "critical": "严重"},
}
DETAILS_LABELS: Mapping[str, str] = {"en": "Details", "zh-CN": "查看详情"}

_NEEDS: Mapping[str, tuple[str, ...]] = {
    "email": ("to",),
    "dingtalk": ("url", "secret"),
    "wecom": ("url",),
    "feishu": ("url",),
    "slack": ("url",),
    "webhook": ("url", "secret"),
}
_PHONE = re.compile(r"\+?[0-9][0-9 \-]{5,19}")
JSON_UTF8 = {"Content-Type": "application/json; charset=utf-8"}


@dataclass(frozen=True)
class Notification:
    """One alert message, in every form a channel may want (see module doc)."""

    title: str
    text: str
    markdown: str | None = None
    html: str | None = None
    severity: Severity = "warning"
    language: Language = "en"
    mention: tuple[str, ...] = ()
    link: str | None = None

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise ValueError("an alert notification needs a title")
        if self.severity not in get_args(Severity):
            raise ValueError(f"severity {self.severity!r} is not one of {', '.join(get_args(Severity))}")
        if self.language not in get_args(Language):
            raise ValueError(f"language {self.language!r} is not one of {', '.join(get_args(Language))}")
        if self.link is not None and urlsplit(self.link).scheme not in ("http", "https"):
            raise ValueError("an alert link must be an http(s) URL")
        object.__setattr__(self, "mention", tuple(self.mention))

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Notification:
        """The notification an outbox payload holds; ``ValueError`` naming the field that is wrong."""
        for name in ("title", "text"):
            if not isinstance(payload.get(name), str):
                raise ValueError(f"alert payload field {name!r} must be a string")
        for name in ("markdown", "html", "link", "severity", "language"):
            if not isinstance(payload.get(name), str | None):
                raise ValueError(f"alert payload field {name!r} must be a string or null")
        mention = payload.get("mention") or ()
        if isinstance(mention, str) or not all(isinstance(m, str) for m in mention):
            raise ValueError("alert payload field 'mention' must be a list of strings")
        return cls(
            title=payload["title"],
            text=payload["text"],
            markdown=payload.get("markdown") or None,
            html=payload.get("html") or None,
            severity=payload.get("severity") or "warning",
            language=payload.get("language") or "en",
            mention=tuple(mention),
            link=payload.get("link") or None,
        )

    def to_payload(self) -> dict[str, Any]:
        """The notification as a JSON-ready dict (``mention`` as a list), as the outbox stores it."""
        return {**asdict(self), "mention": list(self.mention)}


@dataclass(frozen=True)
class Destination:
    """Where notifications go; ``ValueError`` when a field the kind needs is missing or malformed."""

    kind: Kind
    name: str
    url: str | None = field(default=None, repr=False)  # holds the robot's token
    secret: str | None = field(default=None, repr=False)
    to: Sequence[str] = ()

    def __post_init__(self) -> None:
        if self.kind not in _NEEDS:
            raise ValueError(f"alert destination {self.name!r}: unknown kind {self.kind!r}")
        object.__setattr__(self, "to", (self.to,) if isinstance(self.to, str) else tuple(self.to))
        if missing := [name for name in _NEEDS[self.kind] if not getattr(self, name)]:
            raise ValueError(f"{self.kind} destination {self.name!r} needs {', '.join(missing)}")
        if self.url is not None and urlsplit(self.url).scheme not in ("http", "https"):
            raise ValueError(f"{self.kind} destination {self.name!r}: the url must start with https://")
        if self.kind == "dingtalk" and not str(self.secret).startswith("SEC"):
            raise ValueError(
                f"dingtalk destination {self.name!r}: the secret is the 加签 value starting with SEC"
            )

    def describe(self) -> str:
        """``<kind> destination '<name>' (<url, redacted>)``: safe in logs and error texts."""
        shown = redact_url(self.url) if self.url else ", ".join(self.to)
        return f"{self.kind} destination {self.name!r} ({shown})"


class Notifier(Protocol):
    """Sends one notification to one destination (see module doc for the errors it raises)."""

    def send(self, notification: Notification, idempotency_key: str) -> None:
        """Nothing once the destination has the notification; ``RetriableError``/``PermanentError`` else."""
        ...


@dataclass(frozen=True)
class Mentions:
    """Who a notification @mentions, sorted the way the chat APIs want them."""

    phones: tuple[str, ...] = ()
    user_ids: tuple[str, ...] = ()
    everyone: bool = False


def split_mentions(mention: Sequence[str]) -> Mentions:
    """The mentions split into phone numbers, user ids and "everyone" (``@all``), each once."""
    items = list(dict.fromkeys(m.strip() for m in mention if m.strip()))
    people = [m for m in items if m.lower() not in EVERYONE]
    return Mentions(
        phones=tuple(m for m in people if _PHONE.fullmatch(m)),
        user_ids=tuple(m for m in people if not _PHONE.fullmatch(m)),
        everyone=len(people) < len(items),
    )


def protect(*secrets: str | None) -> None:
    """Register credentials so that :mod:`core.redact` masks them in every log line and error."""
    for secret in secrets:
        if secret:
            register_secret(secret)


def protect_url_token(token: str | None) -> None:
    """Register a credential carried in a URL (query value, path segment) if it is long enough to be one.

    Short values are left alone: a path segment such as ``hook`` registered by mistake would be
    masked in every log line of the process.
    """
    if token and len(token) >= MIN_URL_TOKEN:
        register_secret(token)


def query_value(url: str, name: str) -> str | None:
    """The value of query parameter ``name`` in ``url`` (None when absent)."""
    return dict(parse_qsl(urlsplit(url).query)).get(name)


def last_path_segment(url: str) -> str:
    """The last segment of ``url``'s path (the secret part of Feishu and Slack hook URLs)."""
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


def truncate_utf8(text: str, max_bytes: int) -> str:
    """``text`` if it fits in ``max_bytes`` UTF-8 bytes, else cut on a character boundary and ended with …."""
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    room = max(max_bytes - len(ELLIPSIS.encode()), 0)
    # "ignore" drops only the partial character the cut may leave at the end.
    return data[:room].decode("utf-8", "ignore") + ELLIPSIS


def fit_utf8(body: str, max_bytes: int, *, tail: str = "") -> str:
    """``body + tail`` within ``max_bytes`` UTF-8 bytes, cutting ``body`` first so ``tail`` survives."""
    room = max_bytes - len(tail.encode())
    if room < len(ELLIPSIS.encode()):
        return truncate_utf8(body + tail, max_bytes)
    return truncate_utf8(body, room) + tail


def truncate_chars(text: str, max_chars: int) -> str:
    """``text`` if it has at most ``max_chars`` characters, else cut and ended with …."""
    return text if len(text) <= max_chars else text[: max_chars - len(ELLIPSIS)] + ELLIPSIS


def join_lines(*parts: str | None) -> str:
    """The non-empty parts, one per line."""
    return "\n".join(part for part in parts if part)


def encode_json(payload: Mapping[str, Any]) -> bytes:
    """``payload`` as compact UTF-8 JSON (Chinese text stays readable, not ``\\u`` escaped)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


@contextmanager
def answer_or_retry(where: str) -> Iterator[None]:
    """Turns a request that got no answer (timeout, network error) into ``RetriableError``."""
    try:
        yield
    except requests.Timeout:
        raise RetriableError(f"{where} did not answer within {TIMEOUT[1]:.0f}s") from None
    except requests.RequestException as exc:
        # "from None": the cause's text holds the URL with its token.
        raise RetriableError(f"POST to {where} failed: {type(exc).__name__}") from None


def post_json(
    session: requests.Session, url: str, body: bytes, *, where: str, headers: Mapping[str, str]
) -> requests.Response:
    """The answer to one JSON ``POST`` (no redirects followed); ``RetriableError`` when none came."""
    sent = {**JSON_UTF8, "User-Agent": USER_AGENT, **headers}
    with answer_or_retry(where):
        return session.post(url, data=body, headers=sent, timeout=TIMEOUT, allow_redirects=False)


def raise_for_transient(response: requests.Response, where: str, now: float) -> None:
    """``RetriableError`` for 408, 429 and 5xx (after ``Retry-After`` if given); nothing otherwise."""
    if is_transient(response.status_code):
        raise RetriableError(answered(response, where), retry_after=retry_after(response, now))


def refusal(response: requests.Response, where: str, hint: str | None = None) -> PermanentError:
    """The ``PermanentError`` for a refused request: status, reason and a redacted excerpt."""
    text = body_excerpt(response)
    what = f"{answered(response, where)}: {text}" if text else answered(response, where)
    return PermanentError(what, hint=hint)


def check_status(response: requests.Response, where: str, now: float) -> None:
    """Nothing for 2xx; ``RetriableError`` for 408/429/5xx; ``PermanentError`` with an excerpt otherwise."""
    raise_for_transient(response, where, now)
    if not 200 <= response.status_code < 300:
        raise refusal(response, where)


@dataclass(frozen=True)
class VendorCodes:
    """How a chat vendor reports the fate of a message in its JSON answer."""

    code_fields: tuple[str, ...]  # the first one present holds the code; 0 means sent
    message_fields: tuple[str, ...]
    throttled: Mapping[int, float]  # code → seconds to wait before the next try
    busy: frozenset[int] = frozenset()  # passing server trouble: retry with the usual backoff
    hints: Mapping[int, str] = field(default_factory=dict)
    throttle_phrase: str | None = None  # some throttle answers are known by their text only


def _first(reply: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    return next((reply[name] for name in names if name in reply), None)


def check_vendor_reply(response: requests.Response, where: str, codes: VendorCodes, now: float) -> None:
    """Nothing if the vendor took the message; ``RetriableError``/``PermanentError`` saying why not."""
    raise_for_transient(response, where, now)
    try:
        reply = response.json()
    except ValueError:
        reply = None
    code = _first(reply, codes.code_fields) if isinstance(reply, dict) else None
    if not isinstance(code, int) or isinstance(code, bool):
        if 200 <= response.status_code < 300:  # a proxy's page, not the vendor's: try again later
            raise RetriableError(
                f"{answered(response, where)} without a result code: {body_excerpt(response)}"
            )
        raise refusal(response, where)
    text = str(_first(reply, codes.message_fields) or "")
    if code == 0 and 200 <= response.status_code < 300:
        return
    what = f"{where} refused the message: code {code} {shorten(redact_text(text), EXCERPT_CHARS)}".rstrip()
    if code in codes.throttled or (codes.throttle_phrase and codes.throttle_phrase in text.lower()):
        raise RetriableError(
            what, retry_after=codes.throttled.get(code, max(codes.throttled.values(), default=60.0))
        )
    if code in codes.busy:
        raise RetriableError(what)
    raise PermanentError(what, hint=codes.hints.get(code, "check the destination in the alerts config"))


class HttpNotifier:
    """Shared set-up of the notifiers that post to one HTTP endpoint: session, clock, masking.

    A subclass names the token its URL carries in ``url_token`` so it is masked in logs too.
    """

    def __init__(
        self,
        destination: Destination,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.destination = destination
        self.session = session or new_session()
        self._clock = clock
        protect(destination.secret)
        protect_url_token(self.url_token(str(destination.url)))
        self.where = destination.describe()

    def url_token(self, url: str) -> str | None:
        """The credential inside the destination's URL, if any."""
        return None
