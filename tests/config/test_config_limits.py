"""A config file cannot exhaust memory: a YAML bomb, a huge or a too deeply nested file is refused
with a clear message (exit 2, no traceback), while anchors and aliases of a real config still work."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from config import load_config, load_config_text
from core.errors import ConfigError
from tests.config.fakes import shop_lookup

#: nine levels of nine aliases each: 9**9 (387 million) strings once written out
BILLION_LAUGHS = """\
x-laughs:
  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
  h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
  i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
connectors:
  - name: erp
    kind: rest
    settings:
      base_url: https://erp.example/api
      streams:
        stock: {path: stock, primary_key: [sku], params: {q: *i}}
"""

MEMORY_CAP = 1 << 30  # the validating process may use 1 GiB; expanding the bomb would need far more


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    """``erpsync config validate`` on ``path`` in a process whose memory is capped."""
    code = "import sys; from erpsync.cli import run_cli; sys.exit(run_cli(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, "--config", str(path), "config", "validate"],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_capped,
        check=False,
    )


def test_a_billion_laughs_file_is_refused_naming_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "erpsync.yaml"
    path.write_text(BILLION_LAUGHS)
    done = validate(path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"{path}:" in done.stderr
    assert "values through its aliases" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_file_nested_too_deep_is_refused_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "erpsync.yaml"
    path.write_text("x: " + "[" * 5_000 + "]" * 5_000 + "\n")
    done = validate(path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"{path}:1 (yaml syntax): collections nest too deep" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_file_over_the_size_limit_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "erpsync.yaml"
    path.write_text("# padding\n" * 110_000)  # 1.1 MB of comments: valid YAML, and too big
    with pytest.raises(ConfigError, match=r"larger than 1,048,576 bytes") as caught:
        load_config(path, env={})
    assert str(path) in caught.value.message
    small = tmp_path / "small.yaml"
    small.write_text("locations: []\n")
    assert load_config(small, env={}).locations == []
    with pytest.raises(ConfigError, match=r"larger than 10 bytes"):
        load_config(small, env={"ERPSYNC_CONFIG_MAX_BYTES": "10"})


def test_a_real_config_with_anchors_and_aliases_still_loads() -> None:
    text = """\
connectors:
  - name: shop-a
    kind: shop
    settings: &shop {shop_domain: a.example, token: secret-anchor-1}
    streams: {orders: &every5 {every: 5m, lag: 1m}, stock: {<<: *every5, every: 1h}}
  - name: shop-b
    kind: shop
    settings: {<<: *shop, shop_domain: b.example}
    streams: {orders: *every5}
locations:
  - &wh {code: WH-1, name: Main, kind: warehouse, regions: &south [广东省, 广西壮族自治区]}
  - {<<: *wh, code: WH-2, regions: *south}
"""
    cfg = load_config_text(text, "erpsync.yaml", {}, connector_lookup=shop_lookup)
    assert [c.name for c in cfg.connectors] == ["shop-a", "shop-b"]
    assert cfg.connectors[1].streams["orders"].every == cfg.connectors[0].streams["orders"].every
    assert [loc.regions for loc in cfg.locations] == [["广东省", "广西壮族自治区"]] * 2
