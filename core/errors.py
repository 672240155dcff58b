"""The error tree every part of erpsync raises and branches on.

::

    ErpsyncError
    ├── ConfigError            the config file or a CLI argument is wrong (exit code 2)
    ├── ConnectorError         talking to an external system failed
    │   ├── RetriableError     network error, timeout, 429, 5xx, lock busy: try again later
    │   ├── AuthError          credentials refused: retrying will not help, fix the config
    │   └── PermanentError     any other refusal (4xx, unknown field): fix the request or data
    ├── RecordError            one record is bad: quarantine it and go on with the page
    └── LeaseLost              another worker owns the stream now: stop without committing

Every error carries the connector, stream and external id where it has them and says what
to do; ``str(err)`` is safe to log (no secrets, no payloads).
"""

from __future__ import annotations


class ErpsyncError(Exception):
    """Base of every error erpsync raises on purpose."""

    hint: str = ""

    def __init__(
        self,
        message: str,
        *,
        connector: str | None = None,
        stream: str | None = None,
        external_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.connector = connector
        self.stream = stream
        self.external_id = external_id
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        where = [
            f"{label}={value}"
            for label, value in (
                ("connector", self.connector),
                ("stream", self.stream),
                ("record", self.external_id),
            )
            if value
        ]
        text = self.message
        if where:
            text = f"{text} [{' '.join(where)}]"
        if self.hint:
            text = f"{text} — {self.hint}"
        return text


class ConfigError(ErpsyncError):
    """The configuration is invalid; ``problems`` lists every finding, one line each."""

    def __init__(self, message: str, problems: list[str] | None = None, **kwargs: str | None) -> None:
        super().__init__(message, **kwargs)
        self.problems = problems or [message]


class ConnectorError(ErpsyncError):
    """Talking to an external system failed."""


class RetriableError(ConnectorError):
    """A passing failure (network, timeout, 429, 5xx, lock busy): the same call may succeed later."""

    hint = "erpsync retries by itself; if it persists, check the remote system's status"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: str | None) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class AuthError(ConnectorError):
    """The remote system refused the credentials."""

    hint = "check the connector's credentials in the config file"


class PermanentError(ConnectorError):
    """The remote system refused the request for a reason retrying will not fix."""


class RecordError(ErpsyncError):
    """One record cannot be used; ``code`` is a short machine name such as ``unmapped_sku``."""

    def __init__(
        self, message: str, *, code: str = "invalid", field: str | None = None, **kwargs: str | None
    ) -> None:
        super().__init__(message, **kwargs)
        self.code = code
        self.field = field


class LeaseLost(ErpsyncError):
    """This worker no longer holds the stream's lease; its work must not be committed."""
