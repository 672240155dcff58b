"""Fixtures shared with other test folders."""

from tests.connectors.test_connector_registry import install_plugin

__all__ = ["install_plugin"]
