"""Connector kinds for the config tests, with small settings models the tests know."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from pydantic import ConfigDict, Field, SecretStr

from connectors.base import Connector, ConnectorSettings, Page, Stream
from core.errors import ConfigError


class ShopSettings(ConnectorSettings):
    shop_domain: str
    token: SecretStr
    page_size: int = 50
    api_version: str = Field(default="2024-01", alias="api-version")


class FakeShop(Connector):
    kind = "shop"
    Settings = ShopSettings

    @property
    def streams(self) -> Mapping[str, Stream]:
        return {"orders": Stream("orders", ("id",), "updated_at")}

    def fetch(self, stream: str, cursor: str | None) -> Iterator[Page]:
        yield Page([])

    def check(self) -> None:
        return None


class AnySettings(ConnectorSettings):
    """Accepts any settings: for files whose connector kinds are not under test."""

    model_config = ConfigDict(extra="allow", frozen=True)


class FakeAnything(FakeShop):
    kind = "anything"
    Settings = AnySettings  # type: ignore[assignment]


def shop_lookup(kind: str) -> type[Connector]:
    """Knows only the kind "shop", like the registry with one plugin installed."""
    if kind == "shop":
        return FakeShop
    raise ConfigError(f"unknown connector kind {kind!r}; known kinds: shop")


def permissive_lookup(kind: str) -> type[Connector]:
    """Every kind exists and accepts any settings."""
    return FakeAnything
