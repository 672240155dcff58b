"""Fixtures for the config tests: load YAML text as erpsync.yaml with fake connector kinds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from config import ErpsyncConfig, load_config_text
from core.errors import ConfigError
from tests.config.fakes import shop_lookup

Load = Callable[..., ErpsyncConfig]


@pytest.fixture
def load() -> Load:
    """Load YAML text as erpsync.yaml with an empty environment and the "shop" kind only."""

    def _load(text: str, env: dict[str, str] | None = None, **kwargs: Any) -> ErpsyncConfig:
        kwargs.setdefault("connector_lookup", shop_lookup)
        return load_config_text(text, "erpsync.yaml", env or {}, **kwargs)

    return _load


@pytest.fixture
def problems(load: Load) -> Callable[..., list[str]]:
    """The problems reported for YAML text (the test fails if the text is valid)."""

    def _problems(text: str, env: dict[str, str] | None = None, **kwargs: Any) -> list[str]:
        with pytest.raises(ConfigError) as caught:
            load(text, env, **kwargs)
        return caught.value.problems

    return _problems
