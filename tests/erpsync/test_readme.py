"""The README's connector examples are valid config files (they would fail the day a setting changes)."""

from __future__ import annotations

import re
from pathlib import Path

from config import load_config_text

README = Path(__file__).resolve().parents[2] / "README.md"
# distinct values: the config registers secrets for redaction process-wide
ENV = {
    name: f"readme-example-{name.lower()}"
    for name in ("TRYTON_PASSWORD", "ODOO_API_KEY", "KD_APP_ID", "KD_APP_SECRET", "ERP_DB_PASSWORD")
}
ENV["KD_APP_ID"] = "100001_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcY"


def test_connector_examples_validate() -> None:
    text = README.read_text(encoding="utf-8")
    block = text.split("Minimal settings", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    cfg = load_config_text(block, "README.md", ENV)
    assert [c.kind for c in cfg.connectors] == ["tryton", "odoo", "kingdee", "sql", "file"]
    for c in cfg.connectors:
        assert c.parsed_settings is not None


def test_every_yaml_block_in_the_readme_parses() -> None:
    import yaml

    for block in re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S):
        yaml.safe_load(block.replace("...", ""))
