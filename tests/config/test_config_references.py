"""Checks across entries: location tree, unique codes and names, api token locations."""

from __future__ import annotations

from config.references import check_references

TREE = """\
locations:
  - {code: FACTORY, name: Factory, kind: warehouse}
  - {code: AG-N, name: North agent, kind: agent, parent: FACTORY, regions: [north]}
  - {code: DIST-1, name: Distributor, kind: distributor, parent: AG-N, priority: 10}
  - {code: SHOP.1, name: Shop, kind: retail, parent: DIST-1, safety_stock: 3}
"""


def test_a_location_tree_loads(load) -> None:
    locations = load(TREE).locations
    assert [(loc.code, loc.parent) for loc in locations] == [
        ("FACTORY", None),
        ("AG-N", "FACTORY"),
        ("DIST-1", "AG-N"),
        ("SHOP.1", "DIST-1"),
    ]
    assert locations[1].regions == ["north"]
    assert locations[0].regions == []
    assert (locations[2].priority, locations[0].priority) == (10, 100)
    assert (locations[3].safety_stock, locations[0].safety_stock) == (3, 0)


def test_a_cycle_is_reported_once_at_its_first_location(problems) -> None:
    text = """\
locations:
  - {code: A, name: A, kind: warehouse, parent: C}
  - {code: ROOT, name: Root, kind: warehouse}
  - {code: B, name: B, kind: agent, parent: A}
  - {code: C, name: C, kind: agent, parent: B}
  - {code: D, name: D, kind: retail, parent: C}
"""
    assert problems(text) == [
        "erpsync.yaml:2 locations[0].parent: location parents form a cycle: A -> C -> B -> A"
    ]


def test_own_parent_and_unknown_parent(problems) -> None:
    text = TREE + (
        "  - {code: X, name: X, kind: retail, parent: X}\n"
        "  - {code: Y, name: Y, kind: retail, parent: SHOP-1}\n"
    )
    assert problems(text) == [
        "erpsync.yaml:6 locations[4].parent: a location cannot be its own parent",
        "erpsync.yaml:7 locations[5].parent: parent 'SHOP-1' is not the code of any location in this file",
    ]


def test_location_values(problems) -> None:
    text = """\
locations:
  - code: "has space"
    name: Shop
    kind: shop
    safety_stock: -1
  - code: SHOP
    name: ""
    kind: retail
"""
    assert problems(text) == [
        "erpsync.yaml:2 locations[0].code: "
        "a location code is 1-64 characters: letters, digits, '_', '.' or '-'",
        "erpsync.yaml:4 locations[0].kind: input should be 'warehouse', 'agent', 'distributor' or 'retail'",
        "erpsync.yaml:5 locations[0].safety_stock: input should be greater than or equal to 0",
        "erpsync.yaml:7 locations[1].name: string should have at least 1 character",
    ]


def test_duplicate_codes_and_token_names(problems) -> None:
    text = (
        TREE
        + """\
  - {code: AG-N, name: Again, kind: agent}
api:
  tokens:
    - {name: ops, token: abcdefghijklmnop, role: admin}
    - {name: ops, token: qrstuvwxyzabcdef, role: warehouse, locations: [AG-N, AG-S]}
"""
    )
    assert problems(text) == [
        "erpsync.yaml:6 locations[4].code: location code 'AG-N' is already used by locations[1]",
        "erpsync.yaml:10 api.tokens[1].name: api token name 'ops' is already used by api.tokens[0]",
        "erpsync.yaml:10 api.tokens[1].locations[1]: 'AG-S' is not the code of any location in this file",
    ]


def test_one_token_for_two_entries_is_refused_naming_both_and_never_the_token(problems) -> None:
    text = (
        TREE
        + """\
api:
  tokens:
    - {name: ops, token: "${SHARED_TOKEN}", role: admin}
    - {name: shop-view, token: "${OTHER_TOKEN}", role: viewer}
    - {name: wh-north, token: "${SHARED_TOKEN}", role: warehouse, locations: [AG-N]}
"""
    )
    found = problems(
        text, env={"SHARED_TOKEN": "shared-token-0123456789", "OTHER_TOKEN": "other-token-9876543"}
    )
    assert found == [
        "erpsync.yaml:10 api.tokens[2].token: api token 'wh-north' holds the same token as "
        "api.tokens[0] ('ops'); give each entry its own token"
    ]
    assert "shared-token-0123456789" not in "\n".join(found)


def test_broken_entries_are_left_to_the_models() -> None:
    assert check_references(None) == []
    assert check_references({"locations": "none", "connectors": [1, {"name": 2}], "api": []}) == []
    data = {"locations": [{"code": "A", "parent": 5}, "B"], "api": {"tokens": [{"locations": "A"}]}}
    assert check_references(data) == []
