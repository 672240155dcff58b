"""The ``alerts:`` section: shortage rules, who hears about what, and where messages go.

Example::

    alerts:
      language: zh-CN                     # or en: the language of the default message texts
      destinations:
        - {name: south-dingtalk, kind: dingtalk, url: "https://oapi.dingtalk.com/robot/send?access_token=${DT_TOKEN}",
           secret: "${DT_SECRET}"}
        - {name: head-office, kind: email, to: [supply@factory.example]}
      rules:                              # the first rule matching a SKU at a location applies
        - {match: {sku: TEA-001}, warning: 50, critical: 10, lead_time_days: 7, cover_days: 30}
        - {match: {level: distributor}, warning: 10, critical: 3}
        - {warning: 20, critical: 5}      # everything else
      routes:                             # every route that matches an alert receives it
        - {destinations: [south-dingtalk], regions: [广东省], min_severity: warning}
        - {destinations: [head-office], min_severity: critical}
      quiet_hours: {start: "22:00", end: "07:00", timezone: Asia/Shanghai}   # critical still goes out
      escalate_after: 2h                  # a critical alert nobody acknowledged is sent again, escalated
      hysteresis: 0.2                     # resolve only once stock is 20 % above the threshold
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import (
    Field,
    SecretStr,
    model_validator,
)

from config.durations import Duration
from config.durations import Section as _Section
from mapping.records import KEY

Severity = Literal["info", "warning", "critical"]
_CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


class Destination(_Section):
    """Where alert messages go: e-mail, a chat robot (DingTalk, WeCom, Feishu/Lark, Slack) or a webhook."""

    name: str = Field(min_length=1)
    kind: Literal["email", "dingtalk", "wecom", "feishu", "slack", "webhook"]
    url: SecretStr | None = None  # chat robot URLs carry their access token
    secret: SecretStr | None = None
    to: list[str] = Field(default_factory=list)
    mention: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _needs(self) -> Destination:
        if self.kind == "email" and not self.to:
            raise ValueError("an email destination needs `to`")
        if self.kind != "email" and self.url is None:
            raise ValueError(f"a {self.kind} destination needs `url`")
        if self.kind == "webhook" and self.secret is None:
            raise ValueError("a webhook destination needs `secret` (its requests are signed)")
        return self


class RuleMatch(_Section):
    sku: Annotated[str, KEY] | None = None
    category: str | None = None
    location: Annotated[str, KEY] | None = None
    level: Literal["warehouse", "agent", "distributor", "retail"] | None = None


class ShortageRule(_Section):
    """Thresholds for the SKUs and locations it matches (all keys of ``match`` must hold).

    ``warning``/``critical``: sellable units at or below which the alert opens; ``reorder_point``
    is another name for ``warning``; ``cover_days``: also warn when stock covers fewer days of
    sales than this (velocity-based, see ``alerts.velocity``); ``lead_time_days``: the supplier's
    lead time, added to the days a reorder must cover.
    """

    match: RuleMatch = Field(default_factory=RuleMatch)
    warning: int | None = Field(default=None, ge=0)
    critical: int | None = Field(default=None, ge=0)
    reorder_point: int | None = Field(default=None, ge=0)
    cover_days: float | None = Field(default=None, gt=0)
    lead_time_days: float = Field(default=7, ge=0)
    target_days: float = Field(default=30, gt=0)


class Route(_Section):
    """Alerts matching every given key go to ``destinations``."""

    destinations: list[str] = Field(min_length=1)
    regions: list[str] = Field(default_factory=list)
    levels: list[Literal["warehouse", "agent", "distributor", "retail"]] = Field(default_factory=list)
    locations: list[str] = Field(default_factory=list)
    kinds: list[str] = Field(default_factory=list)
    min_severity: Severity = "warning"
    digest: bool = False


class QuietHours(_Section):
    start: str
    end: str
    timezone: str = "Asia/Shanghai"

    @model_validator(mode="after")
    def _clock(self) -> QuietHours:
        for value in (self.start, self.end):
            if not _CLOCK.fullmatch(value):
                raise ValueError(f"{value!r} is not a time of day like 22:00")
        return self


class Operational(_Section):
    failing_runs: int = Field(default=3, ge=1)


class AlertsConfig(_Section):
    """Shortage rules, alert routes, destinations and timing."""

    language: Literal["en", "zh-CN"] = "en"
    destinations: list[Destination] = Field(default_factory=list)
    rules: list[ShortageRule] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    quiet_hours: QuietHours | None = None
    escalate_after: Duration = timedelta(hours=2)
    hysteresis: float = Field(default=0.2, ge=0, le=5)
    velocity_window_days: int = Field(default=28, ge=1, le=365)
    velocity_half_life_days: float = Field(default=7, gt=0)
    digest_at: str | None = None  # HH:MM, local time of the quiet-hours zone (default Asia/Shanghai)
    operational: Operational = Field(default_factory=Operational)
    templates: str | None = None  # a folder with templates overriding the default texts

    @model_validator(mode="after")
    def _digest_time(self) -> AlertsConfig:
        if self.digest_at is not None and not _CLOCK.fullmatch(self.digest_at):
            raise ValueError(f"digest_at {self.digest_at!r} is not a time of day like 08:00")
        return self
