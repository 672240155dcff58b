"""SKUs in the config follow the key rule of the canonical records: trimmed, no control characters."""

from __future__ import annotations

from collections.abc import Callable

from tests.config.conftest import Load

TEXT = """\
locations:
  - {code: WH1, name: Main, kind: warehouse}
connectors:
  - name: shop
    kind: shop
    settings: {shop_domain: s.example, token: t0ken-value}
    sku_bindings:
      - {external_sku: " P6 ", sku: "A1 ", uom_factor: 6}
channels:
  - name: shop
    sources: [WH1]
    overrides:
      - {sku: " A1", max: 5}
    locks:
      - {sku: "A1\\u3000", qty: 2}
"""


def test_config_skus_are_trimmed(load: Load) -> None:
    cfg = load(TEXT)
    binding = cfg.connectors[0].sku_bindings[0]
    assert (binding.external_sku, binding.sku) == ("P6", "A1")
    assert cfg.channels[0].overrides[0].sku == "A1"
    assert cfg.channels[0].locks[0].sku == "A1"


def test_a_config_sku_with_a_control_character_is_a_problem(problems: Callable[..., list[str]]) -> None:
    found = problems(TEXT.replace('sku: "A1 "', 'sku: "A\\t1"'))
    assert len(found) == 1
    assert found[0].startswith("erpsync.yaml:8 connectors[0].sku_bindings[0].sku: ")
    assert "control character U+0009" in found[0]
