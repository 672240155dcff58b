"""Plain-text explanation of a routing decision, for people who did not write the rules.

``render(decision, order)`` gives the order, the steps the router took, one block per location
it looked at (verdict, then reasons) and the outcome. No markup: the text reads the same in a
terminal, an e-mail or a chat message. For example::

    Order: channel tmall, ship to 广东省/广州市/天河区
      line 1: TEA-001 × 5

    Steps:
      1. Active locations serving 广东省/广州市/天河区, in order: DS-GZ, GA-SOUTH.
      2. DS-GZ is the first with every line and ships the order.

    Locations:
      DS-GZ: won
        - serves 广东省/广州市 (city level)
        - priority 10
        - has every line
      GA-SOUTH: lost
        - serves 广东省 (province level)
        - priority 100
        - a more specific location ships it (DS-GZ)

    Outcome: ships from DS-GZ: TEA-001 × 5
"""

from __future__ import annotations

from collections.abc import Iterable

from routing.engine import Decision, HoldReason, OrderLineToRoute, OrderToRoute

#: what each hold reason means, in words
HOLD_MEANINGS: dict[HoldReason, str] = {
    "no_location": "no location serves the ship-to address, and the fallback cannot ship it",
    "no_stock": "the locations that may ship it lack stock (see the reasons above)",
}


def render(decision: Decision, order: OrderToRoute) -> str:
    """Return ``decision`` as plain text: the order, the steps, one block per location, the outcome."""
    blocks = [_order_block(order)]
    if decision.steps:
        blocks.append("\n".join(["Steps:", *(f"  {n}. {step}" for n, step in enumerate(decision.steps, 1))]))
    if decision.notes:
        lines = ["Locations:"]
        for note in decision.notes:
            lines.append(f"  {note.location}: {note.verdict}")
            lines.extend(f"    - {reason}" for reason in note.reasons)
        blocks.append("\n".join(lines))
    blocks.append(f"Outcome: {outcome(decision)}")
    return "\n\n".join(blocks) + "\n"


def outcome(decision: Decision) -> str:
    """Return the decision in one line: "ships from X: …", "split: …" or "on hold: reason — …"."""
    if decision.hold_reason is not None:
        return f"on hold: {decision.hold_reason} — {HOLD_MEANINGS[decision.hold_reason]}"
    if not decision.parts:
        return "nothing to ship"
    if len(decision.parts) == 1:
        part = decision.parts[0]
        return f"ships from {part.location}: {_quantities(part.lines)}"
    return "split: " + "; ".join(
        f"{part.location} ships {_quantities(part.lines)}" for part in decision.parts
    )


def _quantities(lines: Iterable[OrderLineToRoute]) -> str:
    return ", ".join(f"{line.sku} × {line.qty}" for line in lines)


def _order_block(order: OrderToRoute) -> str:
    about = [f"channel {order.channel}"]
    if order.customer_ref:
        about.append(f"customer {order.customer_ref}")
    ship_to = [order.ship_region] if order.ship_region else []
    ship_to += [f"postal code {order.postal_code}"] if order.postal_code else []
    about.append(f"ship to {', '.join(ship_to)}" if ship_to else "no ship-to address")
    lines = sorted(order.lines, key=lambda line: line.line_id)
    return "\n".join(
        [f"Order: {', '.join(about)}", *(f"  line {ln.line_id}: {ln.sku} × {ln.qty}" for ln in lines)]
    )
