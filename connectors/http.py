"""The HTTP session every HTTP connector uses: retries, rate limit, error mapping, redaction.

:class:`HttpClient` wraps one ``requests.Session`` per connector instance:

* timeouts ``(connect, read)`` on every request, default headers, an optional ``requests`` auth
  object (signing protocols sign each prepared request in it);
* an optional :class:`~connectors.ratelimit.RateLimiter` (the account's request budget) taken
  before every attempt, and paused for as long as a 429's ``Retry-After`` asks;
* retries (tenacity) on connection errors, timeouts, 429 and 5xx: exponential backoff with
  jitter (0.5 s doubling, capped at 30 s), or exactly the server's ``Retry-After`` (seconds or an
  HTTP date) when it sends one;
* errors from :mod:`core.errors`, each naming the connector, messages with redacted URLs only:

  ========================  ==================================================================
  401, 403                  ``AuthError`` at once (one call, no retry)
  other 4xx                 ``PermanentError`` with the status and a short, redacted body excerpt
  429, 5xx, network         retried; ``RetriableError`` (with ``retry_after``) once attempts run out
  ========================  ==================================================================

Each request is logged at debug level (method, redacted URL, status, elapsed ms, attempt), never
headers or bodies.

>>> client = HttpClient("erp", "https://erp.example/api", auth=BearerAuth("t0ken-value"))
>>> client.url("orders")
'https://erp.example/api/orders'
"""

from __future__ import annotations

import base64
import itertools
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
import structlog
import tenacity
from requests.auth import AuthBase, HTTPBasicAuth

from connectors.ratelimit import RateLimiter
from core.errors import AuthError, PermanentError, RetriableError
from core.excerpt import shorten
from core.http import USER_AGENT, body_excerpt, new_session, parse_retry_after
from core.redact import redact_text, redact_url, register_secret

log = structlog.get_logger(__name__)

# Failures of the connection itself, including a body cut off mid-transfer: worth another try.
_NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
EXCERPT_CHARS = 200  # of a network error's text in an error message


class BearerAuth(AuthBase):
    """Sends ``Authorization: <scheme> <token>``; the token is registered for redaction."""

    def __init__(self, token: str, scheme: str = "Bearer") -> None:
        register_secret(token)
        self._value = f"{scheme} {token}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._value
        return request


class BasicAuth(HTTPBasicAuth):
    """HTTP Basic authentication; the password and the encoded header value are redacted."""

    def __init__(self, username: str, password: str) -> None:
        super().__init__(username, password)
        register_secret(password)
        register_secret(base64.b64encode(f"{username}:{password}".encode()).decode())


class HeaderAuth(AuthBase):
    """Sends a credential in a header of its own (``X-Api-Key: …``); the value is redacted."""

    def __init__(self, name: str, value: str) -> None:
        register_secret(value)
        self.name = name
        self._value = value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[self.name] = self._value
        return request


class QueryParamAuth(AuthBase):
    """Adds a credential as a query parameter (``?api_key=…``); the value is redacted."""

    def __init__(self, name: str, value: str) -> None:
        register_secret(value)
        self.name = name
        self._value = value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.prepare_url(request.url, {self.name: self._value})
        return request


class _RetryAfterOrBackoff(tenacity.wait.wait_base):
    """Wait what the server asked for (``Retry-After``), else exponential backoff with jitter."""

    def __init__(self, backoff: tenacity.wait.wait_base) -> None:
        self.backoff = backoff

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(error, RetriableError) and error.retry_after is not None:
            return error.retry_after
        return self.backoff(retry_state)


class HttpClient:
    """One connector's HTTP session; see the module docstring for retries and errors."""

    def __init__(
        self,
        connector: str,
        base_url: str = "",
        *,
        timeout: tuple[float, float] = (5.0, 30.0),
        headers: Mapping[str, str] | None = None,
        auth: AuthBase | None = None,
        limiter: RateLimiter | None = None,
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        max_retry_after: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        session: requests.Session | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.connector = connector
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.limiter = limiter
        self.max_attempts = max_attempts
        self.max_retry_after = max_retry_after
        self._wait = _RetryAfterOrBackoff(
            tenacity.wait_exponential(multiplier=backoff_base, max=backoff_cap)
            + tenacity.wait_random(0, backoff_base)
        )
        self._sleep = sleep
        self._clock = clock
        self.session = session or new_session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.headers.update(headers or {})
        if auth is not None:
            self.session.auth = auth

    def url(self, path_or_url: str) -> str:
        """The absolute URL for a path under ``base_url``, or ``path_or_url`` if already absolute.

        An absolute URL on another host than ``base_url`` is refused (``PermanentError``) so a
        ``Link`` header cannot lead the session's credentials elsewhere.
        """
        if "://" not in path_or_url:
            if not self.base_url:
                raise PermanentError(
                    f"relative path {path_or_url!r} needs a base_url", connector=self.connector
                )
            return f"{self.base_url}/{path_or_url.lstrip('/')}" if path_or_url else self.base_url
        if self.base_url and urlsplit(path_or_url).netloc != urlsplit(self.base_url).netloc:
            raise PermanentError(
                f"refusing to send credentials to {redact_url(path_or_url)}: not on {self.base_url}",
                connector=self.connector,
            )
        return path_or_url

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send a request with retries; the 2xx/3xx response, or an error from ``core.errors``."""
        url = self.url(path_or_url)
        kwargs: dict[str, Any] = {"params": params, "json": json, "data": data, "headers": headers}
        retrying = tenacity.Retrying(
            sleep=self._sleep,
            stop=self._should_stop,
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(RetriableError),
            before_sleep=self._log_retry,
        )
        attempts = itertools.count(1)
        try:
            return retrying(lambda: self._send(method.upper(), url, kwargs, next(attempts)))
        except tenacity.RetryError as exhausted:
            last = exhausted.last_attempt.exception()
            assert isinstance(last, RetriableError)
            tries = exhausted.last_attempt.attempt_number
            raise RetriableError(
                f"{last.message}; gave up after {tries} attempt{'s' if tries > 1 else ''}",
                retry_after=last.retry_after,
                connector=self.connector,
            ) from None

    def get_json(
        self,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The decoded JSON body of a GET; ``PermanentError`` if the body is not JSON."""
        return self.json_of(self.request("GET", path_or_url, params=params, headers=headers))

    def post_json(
        self,
        path_or_url: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | str | bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The decoded JSON body of a POST; ``PermanentError`` if the body is not JSON."""
        response = self.request("POST", path_or_url, params=params, json=json, data=data, headers=headers)
        return self.json_of(response)

    def json_of(self, response: requests.Response) -> Any:
        """``response``'s decoded JSON body; ``PermanentError`` with a redacted excerpt if it is not JSON."""
        try:
            return response.json()
        except requests.JSONDecodeError:
            what = f"{response.request.method} {redact_url(response.url)}"
            raise PermanentError(
                f"{what} did not return JSON: {body_excerpt(response)}", connector=self.connector
            ) from None

    def close(self) -> None:
        """Close the session's pooled connections."""
        self.session.close()

    def _send(self, method: str, url: str, kwargs: dict[str, Any], attempt: int) -> requests.Response:
        if self.limiter is not None:
            self.limiter.acquire()
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except _NETWORK_ERRORS as exc:
            log.debug(
                "http.error", connector=self.connector, method=method, url=redact_url(url), attempt=attempt
            )
            detail = shorten(redact_text(str(exc)), EXCERPT_CHARS)
            raise RetriableError(
                f"{method} {redact_url(url)} failed: {type(exc).__name__}: {detail}", connector=self.connector
            ) from None
        log.debug(
            "http.response",
            connector=self.connector,
            method=method,
            url=redact_url(response.url),
            status=response.status_code,
            elapsed_ms=round(response.elapsed.total_seconds() * 1000, 1),
            attempt=attempt,
        )
        self._raise_for_status(method, response)
        return response

    def _raise_for_status(self, method: str, response: requests.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        what = f"{method} {redact_url(response.url)} returned {status} {response.reason or ''}".rstrip()
        if status in (401, 403):
            raise AuthError(f"{what}: {body_excerpt(response)}", connector=self.connector)
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self._clock())
            if retry_after and self.limiter is not None:
                self.limiter.penalize(retry_after)
            raise RetriableError(what, retry_after=retry_after, connector=self.connector)
        raise PermanentError(f"{what}: {body_excerpt(response)}", connector=self.connector)

    def _should_stop(self, retry_state: tenacity.RetryCallState) -> bool:
        if retry_state.attempt_number >= self.max_attempts:
            return True
        # A server asking for minutes of quiet is better served by the scheduler than a blocked worker.
        error = retry_state.outcome.exception() if retry_state.outcome else None
        return isinstance(error, RetriableError) and (error.retry_after or 0.0) > self.max_retry_after

    def _log_retry(self, retry_state: tenacity.RetryCallState) -> None:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        log.info(
            "http.retry",
            connector=self.connector,
            attempt=retry_state.attempt_number,
            wait_s=round(retry_state.next_action.sleep, 3) if retry_state.next_action else None,
            error=str(error),
        )
