"""The ``routing:`` section and each location's ``dispatch:`` settings.

Routing decides which location ships an order (see ``routing.engine`` for the order of the
rules); dispatch settings say how a location receives its dispatch instructions.

Example::

    routing:
      split: {allowed: true, max_parts: 2}   # an order may ship from two locations at most
      fallback: WH-SH                        # the manufacturer's warehouse (default: the tree's root)
      pins:
        - {channel: b2b-portal, location: DS-GZ}
        - {customer: C-1001, location: GA-SOUTH, strict: true}
    locations:
      - code: DS-GZ
        ...
        dispatch:
          method: webhook                    # webhook | csv | email
          url: https://wms.ds-gz.example/erpsync
          secret: ${DS_GZ_WEBHOOK_SECRET}
          sla: 4h
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import (
    Field,
    SecretStr,
    model_validator,
)

from config.durations import Duration
from config.durations import Section as _Section


class SplitPolicy(_Section):
    allowed: bool = False
    max_parts: int = Field(default=2, ge=1, le=10)


class Pin(_Section):
    """Orders of a channel (or of one customer) go to this location; ``strict``: nowhere else."""

    location: str
    channel: str | None = None
    customer: str | None = None
    strict: bool = False

    @model_validator(mode="after")
    def _one_match(self) -> Pin:
        if (self.channel is None) == (self.customer is None):
            raise ValueError("a pin matches exactly one of `channel` or `customer`")
        return self


class ReturnPolicy(_Section):
    """Returns from one channel are accepted; units go back to ``restock_to`` or are written off."""

    channel: str
    restock_to: str | None = None


class RoutingConfig(_Section):
    """How orders are routed to the location that ships them."""

    split: SplitPolicy = Field(default_factory=SplitPolicy)
    fallback: str | None = None
    pins: list[Pin] = Field(default_factory=list)
    #: how long a location has to acknowledge a dispatch instruction, unless it sets its own
    sla: Duration = timedelta(hours=4)
    #: channels whose returns erpsync records (opt-in); others are refused
    returns: list[ReturnPolicy] = Field(default_factory=list)
    #: create each dispatched order's sales document in this ERP connector (None: do not)
    erp_connector: str | None = None


class DispatchConfig(_Section):
    """How a location receives dispatch instructions.

    - ``webhook``: JSON ``POST`` to ``url``, signed with HMAC-SHA256 over ``timestamp + "." + body``
      with ``secret`` (headers ``X-Erpsync-Timestamp``, ``X-Erpsync-Signature``);
    - ``csv``: a CSV file written atomically into ``folder`` (for warehouses without an API);
    - ``email``: a message to ``to`` with the CSV and a printable HTML pick list.
    """

    method: Literal["webhook", "csv", "email"]
    url: str | None = None
    secret: SecretStr | None = None
    folder: str | None = None
    to: list[str] = Field(default_factory=list)
    sla: Duration | None = None
    carrier_hint: str | None = None

    @model_validator(mode="after")
    def _needs(self) -> DispatchConfig:
        missing = {
            "webhook": [k for k in ("url", "secret") if getattr(self, k) is None],
            "csv": ["folder"] if self.folder is None else [],
            "email": ["to"] if not self.to else [],
        }[self.method]
        if missing:
            raise ValueError(f"dispatch method {self.method!r} needs {', '.join(missing)}")
        return self


class EmailConfig(_Section):
    """The SMTP server erpsync sends mail through (dispatch notes, alerts)."""

    host: str = "localhost"
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str = "erpsync@localhost"
    timeout_s: float = Field(default=30, gt=0)
