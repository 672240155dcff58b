"""The order router: which location ships an order, and why.

``route(order, places, available, policy)`` gives a ``Decision``: ``parts`` (one ``Part`` per
shipping location, with the quantity of each line it ships) or a ``hold_reason`` (``no_location``,
``no_stock``), a ``Note`` per location looked at (``won``/``lost``/``skipped`` with reasons) and
``steps``, what happened in order. It reads and writes nothing (``available`` is the free units
per ``(sku, location)``), and the same inputs give the same decision whatever their order.

1. **Pin**: the first pin (policy order) matching the channel or customer names a location that
   ships the order if it has every line; if not, a ``strict`` pin holds it (``no_stock``, or
   ``no_location`` for an inactive place) and any other pin lets the next rules decide.
2. **Region**: candidates are active places with a region covering the address: ``"广东省"``
   covers ``"广东省/广州市/天河区"`` (whole parts only: ``"广东"`` does not cover ``"广东省"``),
   ``"postal:510"`` covers postal codes starting ``510``. Most specific first (postal prefixes,
   the longer first, then district, city, province), then lower ``priority`` number, then code.
3. **Stock**: the first candidate with every line ships. Else, if splitting is allowed, the
   candidates in turn take what they have of what is missing (greedy, not a search); if that
   completes the order within ``max_parts`` locations, they ship.
4. **Fallback**: ``policy.fallback``, or the active warehouse without parent (lowest priority,
   then code), ships the whole order if it has every line; it never completes a split.
5. **Hold**: ``no_location`` when no place covers the address, else ``no_stock``.

Without region and postal code there are no candidates: only pins and the fallback apply. Two
lines of one SKU need their sum. Errors: ``ConfigError`` (the policy names an unknown location,
codes repeat, ``max_parts`` < 1), ``RecordError`` (no lines, a quantity < 1, a repeated line id).

    >>> places = [Place("WH", "warehouse", None, ()), Place("DS-GZ", "distributor", "WH", ("广东省",))]
    >>> order = OrderToRoute("tmall", None, "广东省/广州市", None, (OrderLineToRoute(1, "TEA-001", 5),))
    >>> [p.location for p in route(order, places, {("TEA-001", "DS-GZ"): 8}, RoutingPolicy()).parts]
    ['DS-GZ']
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from core.errors import ConfigError, RecordError

Verdict = Literal["won", "lost", "skipped"]
HoldReason = Literal["no_location", "no_stock"]
Stock = Mapping[tuple[str, str], int]

#: places that neither cover the address nor were tried get a note only when there are this few
MAX_SKIPPED_NOTES = 20
POSTAL_PREFIX = "postal:"
_LEVELS = {1: "province level", 2: "city level", 3: "district level", 4: "street level"}
_HOLD_STEPS = {
    "no_stock": "On hold: no location serving the address, nor the fallback, can ship it.",
    "no_location": "On hold: no location serves the address and the fallback cannot ship it.",
}


@dataclass(frozen=True)
class Place:
    """A location that can ship: ``priority`` orders candidates, the lower number first."""

    code: str
    kind: str
    parent: str | None
    regions: tuple[str, ...]
    priority: int = 100
    active: bool = True


@dataclass(frozen=True)
class OrderLineToRoute:
    line_id: int
    sku: str
    qty: int


@dataclass(frozen=True)
class OrderToRoute:
    """An order to place; ``ship_region`` reads like ``"广东省/广州市/天河区"`` (or fewer parts)."""

    channel: str
    customer_ref: str | None
    ship_region: str | None
    postal_code: str | None
    lines: tuple[OrderLineToRoute, ...]


@dataclass(frozen=True)
class PinRule:
    """Orders of ``channel`` (or of ``customer``) go to ``location``; ``strict``: nowhere else."""

    location: str
    channel: str | None = None
    customer: str | None = None
    strict: bool = False


@dataclass(frozen=True)
class RoutingPolicy:
    """Splitting, fallback (None: the warehouse at the top of the tree) and pins."""

    split_allowed: bool = False
    max_parts: int = 2
    fallback: str | None = None
    pins: tuple[PinRule, ...] = ()


@dataclass(frozen=True)
class Part:
    """What one location ships: the order's lines, each with the quantity shipped from here."""

    location: str
    lines: tuple[OrderLineToRoute, ...]


@dataclass(frozen=True)
class Note:
    """Why one location won, lost or was skipped."""

    location: str
    verdict: Verdict
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    """The parts to ship, or ``hold_reason`` with no parts; notes and steps explain it."""

    parts: tuple[Part, ...]
    hold_reason: HoldReason | None
    notes: tuple[Note, ...]
    steps: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Candidate:
    place: Place
    region: str
    specificity: int
    level: str

    def reasons(self) -> list[str]:
        return [f"serves {self.region} ({self.level})", f"priority {self.place.priority}"]


def route(order: OrderToRoute, places: Iterable[Place], available: Stock, policy: RoutingPolicy) -> Decision:
    """Return where ``order`` ships from (or why it is held), with the reasons for every place."""
    return _Router(order, places, available, policy).run()


class _Router:
    """One routing run: its inputs, and the notes (one per location) and steps it writes."""

    def __init__(self, order: OrderToRoute, places: Iterable[Place], stock: Stock, policy: RoutingPolicy):
        self.places, self.lines = _checked_places(places, policy), _checked_lines(order)
        self.order, self.stock, self.policy = order, stock, policy
        self.ship_parts, self.postal = _region_parts(order.ship_region), (order.postal_code or "").strip()
        self.where = _where(self.ship_parts, self.postal)
        self.verdicts: dict[str, Verdict] = {}
        self.reasons: dict[str, list[str]] = {}
        self.steps: list[str] = []

    def run(self) -> Decision:
        if (pinned := self.pin()) is not None:
            return pinned
        candidates = self.candidates()
        parts = self.ship_from_candidates(candidates) or self.ship_from_fallback()
        self.note_the_rest()
        if parts:
            return self.decision(parts, None)
        hold: HoldReason = "no_stock" if candidates else "no_location"
        self.steps.append(_HOLD_STEPS[hold])
        return self.decision((), hold)

    def note(self, code: str, verdict: Verdict, *reasons: str) -> None:
        self.verdicts[code] = verdict
        self.reasons.setdefault(code, []).extend(reasons)

    def decision(self, parts: Sequence[Part], hold_reason: HoldReason | None) -> Decision:
        notes = tuple(Note(code, v, tuple(self.reasons[code])) for code, v in self.verdicts.items())
        return Decision(tuple(parts), hold_reason, notes, tuple(self.steps))

    def shortages(self, place: Place) -> list[str]:
        """Return why ``place`` cannot ship the whole order: inactive, or "lacks SKU: needs N, has M"."""
        if not place.active:
            return ["is inactive"]
        needs = Counter[str]()
        for line in self.lines:
            needs[line.sku] += line.qty
        has = {sku: max(self.stock.get((sku, place.code), 0), 0) for sku in needs}
        return [f"lacks {sku}: needs {n}, has {has[sku]}" for sku, n in needs.items() if has[sku] < n]

    def pin(self) -> Decision | None:
        """Return the decision a pin settles (shipped, or held by a strict pin), else None."""
        match = _matching_pin(self.order, self.policy.pins)
        if match is None:
            self.steps.extend(["No pin matches the order."] if self.policy.pins else [])
            return None
        pin, matched = match
        place = self.places[pin.location]
        problems = self.shortages(place)
        pinned = f"pinned for {matched}" + (" (strict)" if pin.strict else "")
        self.note(place.code, "lost" if problems else "won", pinned, *(problems or ["has every line"]))
        self.steps.append(f"The pin for {matched} sends the order to {place.code}.")
        if not problems:
            self.steps.append(f"{place.code} has every line and ships the order.")
            return self.decision([Part(place.code, self.lines)], None)
        if not pin.strict:
            self.steps.append(f"{place.code} cannot ship it all; the pin is not strict, so the rules go on.")
            return None
        self.steps.append(f"On hold: the pin is strict and {place.code} cannot ship it all.")
        return self.decision((), "no_stock" if place.active else "no_location")

    def candidates(self) -> list[_Candidate]:
        """Return the active places covering the address, most specific, then preferred, first."""
        if self.where is None:
            self.steps.append("The order has no ship-to region or postal code: only the fallback applies.")
            return []
        found = (_coverage(p, self.ship_parts, self.postal) for p in self.places.values() if p.active)
        ranked = sorted(filter(None, found), key=lambda c: (-c.specificity, c.place.priority, c.place.code))
        codes = ", ".join(c.place.code for c in ranked) or "none"
        self.steps.append(f"Active locations serving {self.where}, in order: {codes}.")
        return ranked

    def ship_from_candidates(self, candidates: Sequence[_Candidate]) -> list[Part] | None:
        """Return the parts the candidates ship (one location, or a split), None when they cannot."""
        lacks = {c.place.code: self.shortages(c.place) for c in candidates}
        winner = next((c for c in candidates if not lacks[c.place.code]), None)
        if winner is not None:
            at = candidates.index(winner)
            for c in candidates[:at]:
                self.note(c.place.code, "lost", *c.reasons(), *lacks[c.place.code])
            self.note(winner.place.code, "won", *winner.reasons(), "has every line")
            for c in candidates[at + 1 :]:
                self.note(c.place.code, "lost", *c.reasons(), _behind(c, winner))
            self.steps.append(f"{winner.place.code} is the first with every line and ships the order.")
            return [Part(winner.place.code, self.lines)]
        if candidates and self.policy.split_allowed:
            return self.split(candidates, lacks)
        for c in candidates:
            self.note(c.place.code, "lost", *c.reasons(), *lacks[c.place.code])
        if candidates:
            self.steps.append("No single location has every line, and splitting is not allowed.")
        return None

    def split(self, candidates: Sequence[_Candidate], lacks: Mapping[str, list[str]]) -> list[Part] | None:
        """Return the parts of a greedy split within ``max_parts`` locations, None when there is none."""
        parts, complete, why = self.greedy(candidates)
        most = self.policy.max_parts
        done = complete and len(parts) <= most
        for c in candidates:
            code = c.place.code
            shipped = [why[code]] if done else []
            won = done and any(part.location == code for part in parts)
            self.note(code, "won" if won else "lost", *c.reasons(), *lacks[code], *shipped)
        need = f"would need {len(parts)} locations (max {most})" if complete else "falls short"
        outcome = f"{len(parts)} of them together ship it" if done else f"a split {need}"
        self.steps.append(f"No single location has every line; {outcome}.")
        return parts if done else None

    def greedy(self, candidates: Sequence[_Candidate]) -> tuple[list[Part], bool, dict[str, str]]:
        """Return the parts the candidates take in turn, whether they complete the order, and why."""
        missing = {line.line_id: line.qty for line in self.lines}
        parts: list[Part] = []
        why: dict[str, str] = {}
        for candidate in candidates:
            code = candidate.place.code
            left = {line.sku: max(self.stock.get((line.sku, code), 0), 0) for line in self.lines}
            taken = []
            for line in self.lines:
                qty = min(missing[line.line_id], left[line.sku])
                if qty > 0:
                    left[line.sku] -= qty
                    missing[line.line_id] -= qty
                    taken.append(replace(line, qty=qty))
            if taken:
                parts.append(Part(code, tuple(taken)))
                why[code] = "ships " + ", ".join(f"{line.sku} × {line.qty}" for line in taken)
            else:
                complete = not any(missing.values())
                why[code] = "not needed: the order is complete" if complete else "has none of what is missing"
        return parts, not any(missing.values()), why

    def ship_from_fallback(self) -> list[Part] | None:
        """Return the fallback's one part when it has every line, else None."""
        fallback = _fallback_place(self.policy, self.places)
        if fallback is None:
            self.steps.append("There is no fallback: no active warehouse sits at the top of the tree.")
            return None
        code = fallback.code
        # a place already tried lacked something for the whole order, which is all a fallback ships
        problems = ["was already tried"] if code in self.verdicts else self.shortages(fallback)
        self.note(code, "lost" if problems else "won", "is the fallback", *(problems or ["has every line"]))
        outcome = "cannot ship it all" if problems else "has every line and ships the order"
        self.steps.append(f"The fallback {code} {outcome}.")
        return None if problems else [Part(code, self.lines)]

    def note_the_rest(self) -> None:
        """Note the places not tried: inactive ones covering the address always, the others if few."""
        others: list[tuple[str, str]] = []
        serves = f"does not serve {self.where}" if self.where else "the order has no ship-to address"
        for code, place in ((c, p) for c, p in self.places.items() if c not in self.verdicts):
            covered = None if place.active else _coverage(place, self.ship_parts, self.postal)
            if covered is not None:
                self.note(code, "skipped", covered.reasons()[0], "is inactive")
            else:
                others.append((code, serves if place.active else "is inactive"))
        for code, reason in others if len(others) <= MAX_SKIPPED_NOTES else []:
            self.note(code, "skipped", reason)
        if len(others) > MAX_SKIPPED_NOTES:
            self.steps.append(f"{len(others)} other locations do not serve the address or are inactive.")


def _checked_places(places: Iterable[Place], policy: RoutingPolicy) -> dict[str, Place]:
    """Return the places by code, in code order, after checking the policy refers to them."""
    by_code: dict[str, Place] = {}
    problems = []
    for place in places:
        if place.code in by_code:
            problems.append(f"two locations share the code {place.code!r}")
        by_code[place.code] = place
    named = [pin.location for pin in policy.pins] + ([policy.fallback] if policy.fallback else [])
    problems += [f"{code!r} is not a known location" for code in named if code not in by_code]
    if policy.max_parts < 1:
        problems.append(f"max_parts is {policy.max_parts}; it must be at least 1")
    if problems:
        raise ConfigError("; ".join(problems), problems, hint="fix the routing section of the config")
    return dict(sorted(by_code.items()))


def _checked_lines(order: OrderToRoute) -> tuple[OrderLineToRoute, ...]:
    """Return the order's lines by ``line_id`` after checking them."""
    if not order.lines:
        raise RecordError("the order has no lines to route", code="no_lines", field="lines")
    if len({line.line_id for line in order.lines}) != len(order.lines):
        raise RecordError("two order lines share a line_id", code="duplicate_line", field="lines")
    for line in order.lines:
        if line.qty < 1:
            message = f"line {line.line_id} ({line.sku}) has quantity {line.qty}; it must be at least 1"
            raise RecordError(message, code="invalid_qty", field="qty")
    return tuple(sorted(order.lines, key=lambda line: line.line_id))


def _matching_pin(order: OrderToRoute, pins: Sequence[PinRule]) -> tuple[PinRule, str] | None:
    """Return the first pin matching the order, with what it matched on ("channel X")."""
    for pin in pins:
        criteria = [("channel", pin.channel, order.channel), ("customer", pin.customer, order.customer_ref)]
        named = [(label, want, got) for label, want, got in criteria if want is not None]
        if named and all(want == got for _, want, got in named):
            return pin, " and ".join(f"{label} {want}" for label, want, _ in named)
    return None


def _region_parts(text: str | None) -> tuple[str, ...]:
    """Return "广东省/广州市" as ("广东省", "广州市"); () for no region."""
    cleaned = (text or "").strip().strip("/")
    return tuple(part.strip() for part in cleaned.split("/")) if cleaned else ()


def _where(ship_parts: tuple[str, ...], postal: str) -> str | None:
    """Return the ship-to address as the notes name it, None when the order has none."""
    region, postal_text = "/".join(ship_parts), f"postal code {postal}" if postal else ""
    return f"{region} ({postal_text})" if region and postal else (region or postal_text or None)


def _coverage(place: Place, ship_parts: tuple[str, ...], postal: str) -> _Candidate | None:
    """Return ``place`` as a candidate through its most specific region covering the address."""
    best: _Candidate | None = None
    for region in place.regions:
        text = region.strip()
        if text.startswith(POSTAL_PREFIX):
            prefix = text.removeprefix(POSTAL_PREFIX).strip()
            if not prefix or not postal.startswith(prefix):
                continue
            found = _Candidate(place, f"{POSTAL_PREFIX}{prefix}", 10 + len(prefix), "postal code prefix")
        else:
            parts = _region_parts(text)
            if not parts or not all(parts) or ship_parts[: len(parts)] != parts:
                continue
            found = _Candidate(place, "/".join(parts), len(parts), _LEVELS.get(len(parts), "finer level"))
        if best is None or found.specificity > best.specificity:
            best = found
    return best


def _behind(candidate: _Candidate, winner: _Candidate) -> str:
    """Return why ``candidate`` comes after ``winner`` in the candidate order."""
    if candidate.specificity < winner.specificity:
        return f"a more specific location ships it ({winner.place.code})"
    if candidate.place.priority > winner.place.priority:
        return f"a location with a lower priority number ships it ({winner.place.code})"
    return f"same priority; {winner.place.code} comes first by code and ships it"


def _fallback_place(policy: RoutingPolicy, by_code: Mapping[str, Place]) -> Place | None:
    """Return the fallback: the policy's, else the preferred active warehouse without parent."""
    if policy.fallback is not None:
        return by_code[policy.fallback]
    roots = [p for p in by_code.values() if p.active and p.parent is None and p.kind == "warehouse"]
    return min(roots, key=lambda p: (p.priority, p.code), default=None)
