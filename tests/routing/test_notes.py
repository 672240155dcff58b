"""The reasons and steps a decision carries: what a person reads to understand it."""

from __future__ import annotations

from dataclasses import replace

from routing.engine import Note, PinRule, Place, RoutingPolicy, route
from tests.routing.network import NETWORK, TIANHE, order, stocked


def notes_by_location(decision_notes: tuple[Note, ...]) -> dict[str, Note]:
    return {note.location: note for note in decision_notes}


def test_winner_losers_and_skipped_places_say_why() -> None:
    decision = route(
        order(), NETWORK, stocked("SHOP-TH", "DS-GZ") | stocked("GA-SOUTH", tea=2), RoutingPolicy()
    )

    assert decision.notes == (
        Note(
            "SHOP-TH",
            "won",
            ("serves 广东省/广州市/天河区 (district level)", "priority 100", "has every line"),
        ),
        Note(
            "DS-GZ",
            "lost",
            (
                "serves 广东省/广州市 (city level)",
                "priority 50",
                "a more specific location ships it (SHOP-TH)",
            ),
        ),
        Note(
            "GA-SOUTH",
            "lost",
            ("serves 广东省 (province level)", "priority 100", "a more specific location ships it (SHOP-TH)"),
        ),
        Note("DS-SZ", "skipped", (f"does not serve {TIANHE}",)),
        Note("FACTORY", "skipped", (f"does not serve {TIANHE}",)),
        Note("GA-NORTH", "skipped", (f"does not serve {TIANHE}",)),
    )
    assert decision.steps == (
        f"Active locations serving {TIANHE}, in order: SHOP-TH, DS-GZ, GA-SOUTH.",
        "SHOP-TH is the first with every line and ships the order.",
    )


def test_lacking_stock_names_the_sku_and_both_quantities() -> None:
    decision = route(order(), NETWORK, stocked("SHOP-TH", tea=2, cup=0) | stocked("DS-GZ"), RoutingPolicy())

    shop = notes_by_location(decision.notes)["SHOP-TH"]
    assert shop.verdict == "lost"
    assert shop.reasons[2:] == ("lacks TEA-001: needs 5, has 2", "lacks CUP-010: needs 2, has 0")


def test_negative_availability_reads_as_none() -> None:
    stock = stocked("DS-GZ") | {("TEA-001", "SHOP-TH"): -3, ("CUP-010", "SHOP-TH"): 2}

    decision = route(order(), NETWORK, stock, RoutingPolicy())

    assert notes_by_location(decision.notes)["SHOP-TH"].reasons[2:] == ("lacks TEA-001: needs 5, has 0",)


def test_tie_breakers_are_named() -> None:
    places = (
        Place("FACTORY", "warehouse", None, ()),
        Place("DS-A", "distributor", "FACTORY", ("广东省/广州市",), priority=50),
        Place("DS-B", "distributor", "FACTORY", ("广东省/广州市",), priority=50),
        Place("DS-C", "distributor", "FACTORY", ("广东省/广州市",), priority=60),
    )

    notes = notes_by_location(route(order(), places, stocked("DS-A", "DS-B", "DS-C"), RoutingPolicy()).notes)

    assert notes["DS-B"].reasons[-1] == "same priority; DS-A comes first by code and ships it"
    assert notes["DS-C"].reasons[-1] == "a location with a lower priority number ships it (DS-A)"


def test_postal_and_inactive_places_are_described() -> None:
    places = (
        *NETWORK[:5],
        replace(NETWORK[5], active=False),
        Place("DS-510", "distributor", "GA-SOUTH", ("广东省", "postal:510"), priority=100),
    )

    notes = notes_by_location(route(order(postal="510630"), places, stocked("DS-510"), RoutingPolicy()).notes)

    assert notes["DS-510"].reasons == (
        "serves postal:510 (postal code prefix)",
        "priority 100",
        "has every line",
    )
    assert notes["SHOP-TH"] == Note(
        "SHOP-TH", "skipped", (f"serves {TIANHE} (district level)", "is inactive")
    )


def test_a_pin_that_cannot_ship_is_explained_then_the_rules_go_on() -> None:
    policy = RoutingPolicy(pins=(PinRule("SHOP-TH", customer="C-1001"),))

    decision = route(order(customer="C-1001"), NETWORK, stocked("SHOP-TH", tea=1) | stocked("DS-GZ"), policy)

    assert notes_by_location(decision.notes)["SHOP-TH"].reasons == (
        "pinned for customer C-1001",
        "lacks TEA-001: needs 5, has 1",
        f"serves {TIANHE} (district level)",
        "priority 100",
        "lacks TEA-001: needs 5, has 1",
    )
    assert decision.steps[:2] == (
        "The pin for customer C-1001 sends the order to SHOP-TH.",
        "SHOP-TH cannot ship it all; the pin is not strict, so the rules go on.",
    )


def test_a_strict_pin_to_an_inactive_place_holds_without_location() -> None:
    places = (*NETWORK[:1], replace(NETWORK[1], active=False), *NETWORK[2:])
    policy = RoutingPolicy(pins=(PinRule("GA-NORTH", channel="tmall", strict=True),))

    decision = route(order(), places, stocked("GA-NORTH", "SHOP-TH"), policy)

    assert (decision.parts, decision.hold_reason) == ((), "no_location")
    assert decision.notes == (Note("GA-NORTH", "lost", ("pinned for channel tmall (strict)", "is inactive")),)


def test_a_fallback_already_tried_is_not_tried_twice() -> None:
    places = (replace(NETWORK[0], regions=("广东省",)), *NETWORK[1:])

    decision = route(order(), places, stocked("FACTORY", tea=1), RoutingPolicy())

    assert decision.hold_reason == "no_stock"
    assert notes_by_location(decision.notes)["FACTORY"].reasons[-2:] == (
        "is the fallback",
        "was already tried",
    )
    assert "The fallback FACTORY cannot ship it all." in decision.steps


def test_many_places_not_serving_the_address_are_counted_not_listed() -> None:
    far = tuple(Place(f"DS-{n:02}", "distributor", "FACTORY", ("北京市",)) for n in range(25))

    decision = route(order(), (*NETWORK, *far), stocked("SHOP-TH"), RoutingPolicy())

    assert [note.location for note in decision.notes] == ["SHOP-TH", "DS-GZ", "GA-SOUTH"]
    assert decision.steps[-1] == "28 other locations do not serve the address or are inactive."


def test_split_parts_say_what_each_location_ships() -> None:
    stock = {("TEA-001", "SHOP-TH"): 2, ("CUP-010", "SHOP-TH"): 2, ("TEA-001", "GA-SOUTH"): 9}

    decision = route(order(), NETWORK, stock, RoutingPolicy(split_allowed=True))

    notes = notes_by_location(decision.notes)
    assert notes["SHOP-TH"].reasons[-1] == "ships TEA-001 × 2, CUP-010 × 2"
    assert notes["DS-GZ"].reasons[-1] == "has none of what is missing"
    assert notes["GA-SOUTH"].reasons[-1] == "ships TEA-001 × 3"
    assert decision.steps[-1] == "No single location has every line; 2 of them together ship it."


def test_a_split_beyond_max_parts_says_how_many_it_would_need() -> None:
    stock = {("TEA-001", "SHOP-TH"): 2, ("TEA-001", "DS-GZ"): 3, ("CUP-010", "GA-SOUTH"): 2}

    decision = route(order(), NETWORK, stock, RoutingPolicy(split_allowed=True))

    assert decision.steps[1] == "No single location has every line; a split would need 3 locations (max 2)."
    assert decision.steps[-1] == "On hold: no location serving the address, nor the fallback, can ship it."
