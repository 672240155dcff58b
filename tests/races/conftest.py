"""Fixtures shared with the routing tests: the small network with stock in Guangzhou and at the factory."""

from tests.routing.test_delivery import receiver
from tests.routing.test_order_flow import world

__all__ = ["receiver", "world"]
