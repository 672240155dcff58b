"""The plain-text explanation a manager reads."""

from __future__ import annotations

import pytest

from routing.engine import OrderToRoute, PinRule, RoutingPolicy, route
from routing.explain import outcome, render
from tests.routing.network import NETWORK, order, stocked

SPLIT_EXPLAINED = """\
Order: channel tmall, customer C-42, ship to 广东省/广州市/天河区, postal code 510630
  line 1: TEA-001 × 5
  line 2: CUP-010 × 2

Steps:
  1. Active locations serving 广东省/广州市/天河区 (postal code 510630), in order: SHOP-TH, DS-GZ, GA-SOUTH.
  2. No single location has every line; 2 of them together ship it.

Locations:
  SHOP-TH: won
    - serves 广东省/广州市/天河区 (district level)
    - priority 100
    - lacks TEA-001: needs 5, has 2
    - ships TEA-001 × 2, CUP-010 × 2
  DS-GZ: lost
    - serves 广东省/广州市 (city level)
    - priority 50
    - lacks TEA-001: needs 5, has 0
    - lacks CUP-010: needs 2, has 0
    - has none of what is missing
  GA-SOUTH: won
    - serves 广东省 (province level)
    - priority 100
    - lacks CUP-010: needs 2, has 0
    - ships TEA-001 × 3
  DS-SZ: skipped
    - does not serve 广东省/广州市/天河区 (postal code 510630)
  FACTORY: skipped
    - does not serve 广东省/广州市/天河区 (postal code 510630)
  GA-NORTH: skipped
    - does not serve 广东省/广州市/天河区 (postal code 510630)

Outcome: split: SHOP-TH ships TEA-001 × 2, CUP-010 × 2; GA-SOUTH ships TEA-001 × 3
"""


def test_a_split_decision_reads_in_full() -> None:
    the_order = order(postal="510630", customer="C-42")
    stock = {("TEA-001", "SHOP-TH"): 2, ("CUP-010", "SHOP-TH"): 2, ("TEA-001", "GA-SOUTH"): 9}

    text = render(route(the_order, NETWORK, stock, RoutingPolicy(split_allowed=True)), the_order)

    assert text == SPLIT_EXPLAINED


@pytest.mark.parametrize(
    ("the_order", "stock", "policy", "expected"),
    [
        (order(), stocked("DS-GZ"), RoutingPolicy(), "ships from DS-GZ: TEA-001 × 5, CUP-010 × 2"),
        (
            order(),
            stocked("SHOP-TH", tea=4),
            RoutingPolicy(),
            "on hold: no_stock — the locations that may ship it lack stock (see the reasons above)",
        ),
        (
            order(region="新疆维吾尔自治区"),
            {},
            RoutingPolicy(),
            "on hold: no_location — no location serves the ship-to address, and the fallback cannot ship it",
        ),
        (
            order(customer="C-1"),
            stocked("DS-GZ"),
            RoutingPolicy(pins=(PinRule("GA-NORTH", customer="C-1", strict=True),)),
            "on hold: no_stock — the locations that may ship it lack stock (see the reasons above)",
        ),
    ],
    ids=["one location", "no stock", "no location", "strict pin"],
)
def test_outcome_line(
    the_order: OrderToRoute, stock: dict[tuple[str, str], int], policy: RoutingPolicy, expected: str
) -> None:
    decision = route(the_order, NETWORK, stock, policy)

    assert outcome(decision) == expected
    assert render(decision, the_order).endswith(f"\nOutcome: {expected}\n")


def test_an_order_without_address_or_customer_says_so() -> None:
    the_order = order(region=None)

    text = render(route(the_order, NETWORK, stocked("FACTORY"), RoutingPolicy()), the_order)

    assert text.startswith("Order: channel tmall, no ship-to address\n  line 1: TEA-001 × 5\n")
    assert "  1. The order has no ship-to region or postal code: only the fallback applies.\n" in text
    assert "  FACTORY: won\n    - is the fallback\n    - has every line\n" in text
