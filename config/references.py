"""Checks across entries of the config file: unique names, location parents, token locations.

The pydantic models check one value at a time; these checks need the whole file. They run on
the plain data read from the YAML (before model validation) so that their findings come with
every other problem of the file, and they skip entries too broken to check (the models report
those). Checked:

* connector names, location codes and api token names are unique, and no two api tokens hold
  the same token value (one token with two roles is ambiguous; the value is never printed);
* a location's ``parent`` is the code of another location, and parents form no cycle;
* the ``locations`` of an api token are location codes;
* ``routing.fallback`` and the pins name locations, ``routing.erp_connector`` a connector.

What the service builds from a loaded config (connectors, field maps, channels, dispatch targets)
is checked by ``erpsync.startup``.

Errors: none raised; ``check_references`` returns ``(loc, message)`` findings.

Example::

    >>> check_references({"locations": [{"code": "A", "parent": "B"}]})
    [(('locations', 0, 'parent'), "parent 'B' is not the code of any location in this file")]
"""

from __future__ import annotations

from typing import Any

from config.source import Loc, format_loc

Finding = tuple[Loc, str]


def check_references(data: Any) -> list[Finding]:
    """Return every finding about names and codes that refer to or repeat each other in ``data``."""
    if not isinstance(data, dict):
        return []
    findings = _unique(data.get("connectors"), ("connectors",), "name", "connector name")
    locations = data.get("locations")
    findings += _unique(locations, ("locations",), "code", "location code")
    findings += _parents(locations)
    findings += _stock_references(data)
    findings += _routing_references(data)
    api = data.get("api")
    tokens = api.get("tokens") if isinstance(api, dict) else None
    findings += _unique(tokens, ("api", "tokens"), "name", "api token name")
    findings += _distinct_token_values(tokens)
    if isinstance(locations, list):
        findings += _token_locations(tokens, set(_texts(locations, "code").values()))
    return findings


def _texts(entries: Any, key: str) -> dict[int, str]:
    """Return ``entry[key]`` by index for the entries of a list that are mappings with a text ``key``."""
    if not isinstance(entries, list):
        return {}
    return {
        index: entry[key]
        for index, entry in enumerate(entries)
        if isinstance(entry, dict) and isinstance(entry.get(key), str)
    }


def _unique(entries: Any, loc: Loc, key: str, label: str) -> list[Finding]:
    first: dict[str, int] = {}
    findings: list[Finding] = []
    for index, value in _texts(entries, key).items():
        if value in first:
            where = format_loc((*loc, first[value]))
            findings.append(((*loc, index, key), f"{label} {value!r} is already used by {where}"))
        else:
            first[value] = index
    return findings


def _distinct_token_values(tokens: Any) -> list[Finding]:
    names = _texts(tokens, "name")
    first: dict[str, int] = {}
    findings: list[Finding] = []
    for index, value in _texts(tokens, "token").items():
        if value not in first:
            first[value] = index
            continue
        earlier = first[value]
        label = f"{format_loc(('api', 'tokens', earlier))} ({names.get(earlier, 'unnamed')!r})"
        findings.append(
            (
                ("api", "tokens", index, "token"),
                f"api token {names.get(index, 'unnamed')!r} holds the same token as {label}; "
                "give each entry its own token",
            )
        )
    return findings


def _parents(locations: Any) -> list[Finding]:
    codes = _texts(locations, "code")
    index_of: dict[str, int] = {}
    for index, text in codes.items():
        index_of.setdefault(text, index)
    parent_of: dict[str, str] = {}
    findings: list[Finding] = []
    for index, parent in _texts(locations, "parent").items():
        loc = ("locations", index, "parent")
        code = codes.get(index)
        if parent not in index_of:
            findings.append((loc, f"parent {parent!r} is not the code of any location in this file"))
        elif parent == code:
            findings.append((loc, "a location cannot be its own parent"))
        elif code is not None and index_of[code] == index:
            parent_of[code] = parent
    return findings + _cycles(parent_of, index_of)


def _cycles(parent_of: dict[str, str], index_of: dict[str, int]) -> list[Finding]:
    """Return one finding per cycle of parents, on the cycle member listed first in the file."""
    findings: list[Finding] = []
    done: set[str] = set()
    for start in parent_of:
        chain: list[str] = []
        code: str | None = start
        while code is not None and code not in done and code not in chain:
            chain.append(code)
            code = parent_of.get(code)
        if code is not None and code in chain:
            cycle = chain[chain.index(code) :]
            first = min(cycle, key=index_of.__getitem__)
            at = cycle.index(first)
            path = " -> ".join([*cycle[at:], *cycle[:at], first])
            findings.append(
                (("locations", index_of[first], "parent"), f"location parents form a cycle: {path}")
            )
        done.update(chain)
    return findings


def _token_locations(tokens: Any, codes: set[str]) -> list[Finding]:
    findings: list[Finding] = []
    for index, token in enumerate(tokens if isinstance(tokens, list) else []):
        scope = token.get("locations") if isinstance(token, dict) else None
        for position, code in enumerate(scope if isinstance(scope, list) else []):
            if isinstance(code, str) and code not in codes:
                loc = ("api", "tokens", index, "locations", position)
                findings.append((loc, f"{code!r} is not the code of any location in this file"))
    return findings


def _stock_references(data: dict[str, Any]) -> list[Finding]:
    """Locations' ``stock_source`` and channels' ``name`` are connectors; ``sources`` are locations."""
    connectors = set(_texts(data.get("connectors"), "name").values())
    codes = set(_texts(data.get("locations"), "code").values())
    findings: list[Finding] = []
    for index, source in _texts(data.get("locations"), "stock_source").items():
        if source not in connectors:
            findings.append(
                (("locations", index, "stock_source"), f"{source!r} is not the name of a connector")
            )
    channels = data.get("channels")
    findings += _unique(channels, ("channels",), "name", "channel")
    for index, name in _texts(channels, "name").items():
        if name not in connectors:
            findings.append((("channels", index, "name"), f"{name!r} is not the name of a connector"))
    for index, channel in enumerate(channels if isinstance(channels, list) else []):
        sources = channel.get("sources") if isinstance(channel, dict) else None
        for n, code in enumerate(sources if isinstance(sources, list) else []):
            if isinstance(code, str) and code not in codes:
                findings.append(
                    (
                        ("channels", index, "sources", n),
                        f"{code!r} is not the code of any location in this file",
                    )
                )
    return findings


def _routing_references(data: dict[str, Any]) -> list[Finding]:
    """``routing.fallback`` and every pin's ``location`` are location codes; ``erp_connector`` a connector."""
    codes = set(_texts(data.get("locations"), "code").values())
    routing = data.get("routing")
    if not isinstance(routing, dict):
        return []
    findings: list[Finding] = []
    erp = routing.get("erp_connector")
    if isinstance(erp, str) and erp not in _texts(data.get("connectors"), "name").values():
        findings.append((("routing", "erp_connector"), f"{erp!r} is not the name of a connector"))
    fallback = routing.get("fallback")
    if isinstance(fallback, str) and fallback not in codes:
        findings.append(
            (("routing", "fallback"), f"{fallback!r} is not the code of any location in this file")
        )
    for index, location in _texts(routing.get("pins"), "location").items():
        if location not in codes:
            findings.append(
                (
                    ("routing", "pins", index, "location"),
                    f"{location!r} is not the code of any location in this file",
                )
            )
    return findings
