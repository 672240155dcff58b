"""The router's rules as a table: one named scenario per rule, each with its expected parts or hold."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

import pytest

from core.errors import ConfigError, RecordError
from routing.engine import OrderToRoute, Part, PinRule, Place, RoutingPolicy, route
from tests.routing.network import NETWORK, full, line, order, ships, stocked

SPLIT = RoutingPolicy(split_allowed=True)
TWINS = (  # two city-level places and the root, for tie-breakers
    Place("FACTORY", "warehouse", None, (), priority=300),
    Place("DS-B", "distributor", "FACTORY", ("广东省/广州市",), priority=50),
    Place("DS-A", "distributor", "FACTORY", ("广东省/广州市",), priority=50),
)


@dataclass(frozen=True)
class Scenario:
    name: str
    order: OrderToRoute
    stock: dict[tuple[str, str], int]
    parts: tuple[Part, ...] = ()
    hold: str | None = None
    policy: RoutingPolicy = field(default_factory=RoutingPolicy)
    places: tuple[Place, ...] = NETWORK
    notes: dict[str, str] = field(default_factory=dict)  # location -> expected verdict


SCENARIOS = [
    Scenario(
        "channel pin ships from the pinned place",
        order(channel="b2b-portal"),
        stocked("FACTORY", "SHOP-TH"),
        parts=(full("FACTORY"),),
        policy=RoutingPolicy(pins=(PinRule("FACTORY", channel="b2b-portal"),)),
        notes={"FACTORY": "won"},
    ),
    Scenario(
        "customer pin ships from a place outside the region",
        order(customer="C-1001"),
        stocked("GA-NORTH", "SHOP-TH"),
        parts=(full("GA-NORTH"),),
        policy=RoutingPolicy(pins=(PinRule("GA-NORTH", customer="C-1001"),)),
    ),
    Scenario(
        "first matching pin in policy order wins",
        order(channel="b2b-portal", customer="C-1001"),
        stocked("GA-NORTH", "FACTORY"),
        parts=(full("FACTORY"),),
        policy=RoutingPolicy(
            pins=(PinRule("FACTORY", channel="b2b-portal"), PinRule("GA-NORTH", customer="C-1001"))
        ),
    ),
    Scenario(
        "a pin naming neither channel nor customer matches nothing",
        order(customer="C-1001"),
        stocked("GA-NORTH", "SHOP-TH"),
        parts=(full("SHOP-TH"),),
        policy=RoutingPolicy(pins=(PinRule("GA-NORTH"),)),
    ),
    Scenario(
        "strict pin without stock holds the order",
        order(customer="C-1001"),
        stocked("SHOP-TH", "FACTORY") | {("TEA-001", "GA-NORTH"): 4, ("CUP-010", "GA-NORTH"): 2},
        hold="no_stock",
        policy=RoutingPolicy(pins=(PinRule("GA-NORTH", customer="C-1001", strict=True),)),
        notes={"GA-NORTH": "lost"},
    ),
    Scenario(
        "non-strict pin without stock falls back to the region rules",
        order(customer="C-1001"),
        stocked("SHOP-TH"),
        parts=(full("SHOP-TH"),),
        policy=RoutingPolicy(pins=(PinRule("GA-NORTH", customer="C-1001"),)),
        notes={"GA-NORTH": "lost", "SHOP-TH": "won"},
    ),
    Scenario(
        "district beats city beats province",
        order(),
        stocked("SHOP-TH", "DS-GZ", "GA-SOUTH"),
        parts=(full("SHOP-TH"),),
        notes={"SHOP-TH": "won", "DS-GZ": "lost", "GA-SOUTH": "lost", "DS-SZ": "skipped"},
    ),
    Scenario(
        "city beats province",
        order(region="广东省/广州市/越秀区"),
        stocked("SHOP-TH", "DS-GZ", "GA-SOUTH"),
        parts=(full("DS-GZ"),),
        notes={"DS-GZ": "won", "GA-SOUTH": "lost", "SHOP-TH": "skipped"},
    ),
    Scenario(
        "a city region does not cover a province-only address",
        order(region="广东省"),
        stocked("DS-GZ", "GA-SOUTH"),
        parts=(full("GA-SOUTH"),),
        notes={"GA-SOUTH": "won", "DS-GZ": "skipped"},
    ),
    Scenario(
        "a partial name never covers: 广东 is not 广东省",
        order(),
        stocked("DS-X"),
        hold="no_location",
        places=(NETWORK[0], Place("DS-X", "distributor", "FACTORY", ("广东",), priority=1)),
        notes={"DS-X": "skipped", "FACTORY": "lost"},
    ),
    Scenario(
        "postal prefix beats any named region",
        order(postal="510630"),
        stocked("SHOP-TH", "DS-510"),
        parts=(full("DS-510"),),
        places=(*NETWORK, Place("DS-510", "distributor", "GA-SOUTH", ("postal:510",), priority=200)),
    ),
    Scenario(
        "longer postal prefix beats a shorter one",
        order(region=None, postal="510630"),
        stocked("DS-510", "DS-5106"),
        parts=(full("DS-5106"),),
        places=(
            *NETWORK,
            Place("DS-510", "distributor", "GA-SOUTH", ("postal:510",), priority=1),
            Place("DS-5106", "distributor", "GA-SOUTH", ("postal:5106",), priority=99),
        ),
    ),
    Scenario(
        "priority breaks a tie of equally specific places",
        order(),
        stocked("DS-A", "DS-B"),
        parts=(full("DS-B"),),
        places=(TWINS[0], replace(TWINS[1], priority=20), TWINS[2]),
    ),
    Scenario(
        "code breaks a tie of equal priority",
        order(),
        stocked("DS-A", "DS-B"),
        parts=(full("DS-A"),),
        places=TWINS,
        notes={"DS-A": "won", "DS-B": "lost"},
    ),
    Scenario(
        "stock decides between equally specific places",
        order(),
        stocked("DS-B") | stocked("DS-A", tea=4),
        parts=(full("DS-B"),),
        places=TWINS,
        notes={"DS-A": "lost", "DS-B": "won"},
    ),
    Scenario(
        "two lines of one SKU need their sum",
        order(line(1, "TEA-001", 3), line(2, "TEA-001", 4)),
        {("TEA-001", "SHOP-TH"): 5, ("TEA-001", "DS-GZ"): 7},
        parts=(ships("DS-GZ", (1, "TEA-001", 3), (2, "TEA-001", 4)),),
    ),
    Scenario(
        "split allowed: two parts with the exact quantities per line",
        order(),
        {("TEA-001", "SHOP-TH"): 2, ("CUP-010", "SHOP-TH"): 2, ("TEA-001", "GA-SOUTH"): 9},
        parts=(ships("SHOP-TH", (1, "TEA-001", 2), (2, "CUP-010", 2)), ships("GA-SOUTH", (1, "TEA-001", 3))),
        policy=SPLIT,
        notes={"SHOP-TH": "won", "DS-GZ": "lost", "GA-SOUTH": "won"},
    ),
    Scenario(
        "split not allowed: nobody has every line",
        order(),
        {("TEA-001", "SHOP-TH"): 2, ("CUP-010", "SHOP-TH"): 2, ("TEA-001", "GA-SOUTH"): 9},
        hold="no_stock",
    ),
    Scenario(
        "split needing more than max_parts is not made",
        order(),
        {("TEA-001", "SHOP-TH"): 2, ("TEA-001", "DS-GZ"): 3, ("CUP-010", "GA-SOUTH"): 2},
        hold="no_stock",
        policy=SPLIT,
        notes={"SHOP-TH": "lost", "DS-GZ": "lost", "GA-SOUTH": "lost", "FACTORY": "lost"},
    ),
    Scenario(
        "split within a larger max_parts",
        order(),
        {("TEA-001", "SHOP-TH"): 2, ("TEA-001", "DS-GZ"): 3, ("CUP-010", "GA-SOUTH"): 2},
        parts=(
            ships("SHOP-TH", (1, "TEA-001", 2)),
            ships("DS-GZ", (1, "TEA-001", 3)),
            ships("GA-SOUTH", (2, "CUP-010", 2)),
        ),
        policy=RoutingPolicy(split_allowed=True, max_parts=3),
    ),
    Scenario(
        "the fallback ships whole, never completing a split",
        order(),
        stocked("FACTORY") | {("TEA-001", "SHOP-TH"): 2, ("TEA-001", "DS-GZ"): 3},
        parts=(full("FACTORY"),),
        policy=SPLIT,
        notes={"FACTORY": "won", "SHOP-TH": "lost"},
    ),
    Scenario(
        "fallback to the root warehouse",
        order(),
        stocked("FACTORY") | stocked("SHOP-TH", tea=1),
        parts=(full("FACTORY"),),
        notes={"SHOP-TH": "lost", "FACTORY": "won"},
    ),
    Scenario(
        "root fallback: the lowest priority, then code, of active parentless warehouses",
        order(region="西藏自治区"),
        stocked("WH-A", "WH-B", "WH-C", "WH-OFF", "SHOP"),
        parts=(full("WH-B"),),
        places=(
            Place("WH-C", "warehouse", None, (), priority=100),
            Place("WH-B", "warehouse", None, (), priority=100),
            Place("WH-A", "warehouse", None, (), priority=200),
            Place("WH-OFF", "warehouse", None, (), priority=1, active=False),
            Place("SHOP", "retail", None, (), priority=1),
        ),
    ),
    Scenario(
        "explicit fallback",
        order(),
        stocked("FACTORY", "GA-NORTH"),
        parts=(full("GA-NORTH"),),
        policy=RoutingPolicy(fallback="GA-NORTH"),
        notes={"GA-NORTH": "won", "FACTORY": "skipped"},
    ),
    Scenario(
        "no place serves the region: no_location",
        order(region="新疆维吾尔自治区/乌鲁木齐市"),
        stocked("GA-SOUTH"),
        hold="no_location",
        notes={"FACTORY": "lost", "GA-SOUTH": "skipped"},
    ),
    Scenario(
        "no place serves the region, the root warehouse ships",
        order(region="新疆维吾尔自治区/乌鲁木齐市"),
        stocked("FACTORY"),
        parts=(full("FACTORY"),),
    ),
    Scenario(
        "places serve the region but none has stock: no_stock",
        order(),
        stocked("SHOP-TH", "DS-GZ", "GA-SOUTH", "FACTORY", tea=4),
        hold="no_stock",
        notes={"SHOP-TH": "lost", "DS-GZ": "lost", "GA-SOUTH": "lost", "FACTORY": "lost"},
    ),
    Scenario(
        "inactive place ignored",
        order(),
        stocked("SHOP-TH", "DS-GZ"),
        parts=(full("DS-GZ"),),
        places=(*NETWORK[:5], replace(NETWORK[5], active=False)),
        notes={"SHOP-TH": "skipped", "DS-GZ": "won"},
    ),
    Scenario(
        "no address: only pins and the fallback apply",
        order(region=None),
        stocked("SHOP-TH", "GA-SOUTH", "FACTORY"),
        parts=(full("FACTORY"),),
        notes={"FACTORY": "won", "SHOP-TH": "skipped"},
    ),
    Scenario(
        "no address and the fallback lacks stock: no_location",
        order(region=None),
        stocked("SHOP-TH"),
        hold="no_location",
    ),
]


@pytest.mark.parametrize("case", [pytest.param(s, id=s.name) for s in SCENARIOS])
def test_routing_rules(case: Scenario) -> None:
    decision = route(case.order, case.places, case.stock, case.policy)

    assert decision.parts == case.parts
    assert decision.hold_reason == case.hold
    verdicts = {note.location: note.verdict for note in decision.notes}
    for location, verdict in case.notes.items():
        assert verdicts.get(location) == verdict, location
    assert len(verdicts) == len(decision.notes), "one note per location"


@pytest.mark.parametrize("case", [pytest.param(s, id=s.name) for s in SCENARIOS])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_inputs_in_any_order_give_the_same_decision(case: Scenario, seed: int) -> None:
    shuffler = random.Random(seed)
    places = list(case.places)
    shuffler.shuffle(places)
    items = list(case.stock.items())
    shuffler.shuffle(items)
    lines = list(case.order.lines)
    shuffler.shuffle(lines)
    shuffled = replace(case.order, lines=tuple(lines))

    expected = route(case.order, case.places, case.stock, case.policy)

    assert route(shuffled, places, dict(items), case.policy) == expected


@pytest.mark.parametrize(
    ("policy", "places", "problem"),
    [
        (RoutingPolicy(pins=(PinRule("NOWHERE", channel="tmall"),)), NETWORK, "'NOWHERE' is not a known"),
        (RoutingPolicy(fallback="NOWHERE"), NETWORK, "'NOWHERE' is not a known location"),
        (RoutingPolicy(max_parts=0), NETWORK, "max_parts is 0"),
        (RoutingPolicy(), (*NETWORK, NETWORK[3]), "two locations share the code 'DS-GZ'"),
    ],
    ids=["unknown pin location", "unknown fallback", "max_parts below 1", "repeated code"],
)
def test_policy_and_places_are_checked(
    policy: RoutingPolicy, places: tuple[Place, ...], problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        route(order(), places, {}, policy)

    assert any(problem in text for text in caught.value.problems)


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (OrderToRoute("tmall", None, "广东省", None, ()), "no_lines"),
        (order(line(1, "TEA-001", 0)), "invalid_qty"),
        (order(line(1, "TEA-001", 1), line(1, "CUP-010", 1)), "duplicate_line"),
    ],
    ids=["no lines", "zero quantity", "repeated line id"],
)
def test_bad_orders_are_refused(bad: OrderToRoute, code: str) -> None:
    with pytest.raises(RecordError) as caught:
        route(bad, NETWORK, stocked("FACTORY"), RoutingPolicy())

    assert caught.value.code == code
