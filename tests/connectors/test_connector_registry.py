"""Connector discovery through the ``erpsync.connectors`` entry point group."""

from __future__ import annotations

import sys
import textwrap
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from connectors.registry import GROUP, connector_class, known_kinds
from core.errors import ConfigError

PROJECT = Path(__file__).resolve().parents[2]

Install = Callable[[str, str, str], None]

PLUGIN_SOURCE = """
from connectors.base import Connector, ConnectorSettings


class AcmeSettings(ConnectorSettings):
    host: str = "acme.example"


class AcmeConnector(Connector):
    kind = "{kind}"
    Settings = AcmeSettings

    @property
    def streams(self):
        return {{}}

    def fetch(self, stream, cursor):
        return iter(())

    def check(self):
        return None
"""


@pytest.fixture
def install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Install]:
    """Installs a one-module distribution declaring ``kind = module:attr`` on sys.path."""
    modules: list[str] = []

    def install(module: str, kind: str, source: str) -> None:
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        dist = tmp_path / f"{module}-1.0.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
        (dist / "entry_points.txt").write_text(f"[{GROUP}]\n{kind} = {module}:AcmeConnector\n")
        modules.append(module)
        monkeypatch.syspath_prepend(str(tmp_path))

    yield install
    for module in modules:
        sys.modules.pop(module, None)


def test_third_party_plugin_is_discovered(install_plugin: Install) -> None:
    install_plugin("acme_erpsync_ok", "acme", PLUGIN_SOURCE.format(kind="acme"))

    assert known_kinds()["acme"] == "acme_erpsync_ok:AcmeConnector"
    cls = connector_class("acme")
    assert cls.__name__ == "AcmeConnector"
    assert cls.Settings.model_validate({}).model_dump() == {"host": "acme.example"}


def test_unknown_kind_lists_the_known_ones(install_plugin: Install) -> None:
    install_plugin("acme_erpsync_known", "acme", PLUGIN_SOURCE.format(kind="acme"))
    with pytest.raises(ConfigError, match=r"unknown connector kind 'nope'; known kinds: .*acme"):
        connector_class("nope")


def test_unknown_kind_lists_rest() -> None:
    with pytest.raises(ConfigError, match=r"known kinds: .*\brest\b"):
        connector_class("nope")


def test_rest_is_installed_through_its_entry_point() -> None:
    declared = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["entry-points"][GROUP]
    assert declared["rest"] == "connectors.rest:RestConnector"
    from connectors.rest import RestConnector

    assert connector_class("rest") is RestConnector


def test_plugin_failing_to_import_names_the_entry_point(install_plugin: Install) -> None:
    install_plugin("acme_erpsync_broken", "broken", "import no_such_module_for_erpsync\n")
    with pytest.raises(ConfigError) as caught:
        connector_class("broken")
    message = str(caught.value)
    assert "broken = acme_erpsync_broken:AcmeConnector" in message
    assert "ModuleNotFoundError" in message
    assert "no_such_module_for_erpsync" in message


def test_plugin_that_is_not_a_connector_is_refused(install_plugin: Install) -> None:
    install_plugin("acme_erpsync_notone", "notone", "class AcmeConnector:\n    pass\n")
    with pytest.raises(ConfigError, match="is not a Connector subclass"):
        connector_class("notone")


def test_plugin_whose_kind_differs_from_its_name_is_refused(install_plugin: Install) -> None:
    install_plugin("acme_erpsync_mismatch", "acme2", PLUGIN_SOURCE.format(kind="acme"))
    with pytest.raises(ConfigError, match="must equal the entry point name"):
        connector_class("acme2")


def test_plugin_with_abstract_methods_left_is_refused(install_plugin: Install) -> None:
    source = (
        "from connectors.base import Connector, ConnectorSettings\n"
        "class AcmeConnector(Connector):\n    kind = 'half'\n    Settings = ConnectorSettings\n"
    )
    install_plugin("acme_erpsync_half", "half", source)
    with pytest.raises(ConfigError, match="abstract methods unimplemented: check, fetch, streams"):
        connector_class("half")
