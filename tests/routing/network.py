"""A small distribution network and builders shared by the routing tests.

::

    FACTORY (warehouse, root, priority 300, no regions)
    ├── GA-NORTH (agent: 北京市)
    └── GA-SOUTH (agent: 广东省)
        ├── DS-GZ (distributor: 广东省/广州市, priority 50)
        │   └── SHOP-TH (retail: 广东省/广州市/天河区)
        └── DS-SZ (distributor: 广东省/深圳市, priority 50)
"""

from __future__ import annotations

from routing.engine import OrderLineToRoute, OrderToRoute, Part, Place

TIANHE = "广东省/广州市/天河区"

NETWORK = (
    Place("FACTORY", "warehouse", None, (), priority=300),
    Place("GA-NORTH", "agent", "FACTORY", ("北京市",)),
    Place("GA-SOUTH", "agent", "FACTORY", ("广东省",)),
    Place("DS-GZ", "distributor", "GA-SOUTH", ("广东省/广州市",), priority=50),
    Place("DS-SZ", "distributor", "GA-SOUTH", ("广东省/深圳市",), priority=50),
    Place("SHOP-TH", "retail", "DS-GZ", (TIANHE,)),
)


def line(line_id: int, sku: str, qty: int) -> OrderLineToRoute:
    return OrderLineToRoute(line_id, sku, qty)


def order(
    *lines: OrderLineToRoute,
    region: str | None = TIANHE,
    postal: str | None = None,
    channel: str = "tmall",
    customer: str | None = None,
) -> OrderToRoute:
    """An order of ``lines`` (default: TEA-001 × 5, CUP-010 × 2) shipping to ``region``."""
    chosen = lines or (line(1, "TEA-001", 5), line(2, "CUP-010", 2))
    return OrderToRoute(channel, customer, region, postal, tuple(chosen))


def ships(location: str, *lines: tuple[int, str, int]) -> Part:
    """The part ``location`` ships: (line_id, sku, qty) per line."""
    return Part(location, tuple(line(*spec) for spec in lines))


def full(location: str) -> Part:
    """The whole default order from ``location``."""
    return ships(location, (1, "TEA-001", 5), (2, "CUP-010", 2))


def stocked(*locations: str, tea: int = 5, cup: int = 2) -> dict[tuple[str, str], int]:
    """Free stock for the default order's SKUs at each of ``locations``."""
    stock: dict[tuple[str, str], int] = {}
    for location in locations:
        stock[("TEA-001", location)] = tea
        stock[("CUP-010", location)] = cup
    return stock
