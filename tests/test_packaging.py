"""How erpsync is installed and tested: pinned versions, one install per need, deprecations as errors."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
import warnings
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
MACHINE_CONSTRAINTS = Path("/etc/xdg/pip/constraints.txt")


def _lines(path: Path) -> list[str]:
    """The requirement lines of a pip constraints file, comments dropped."""
    stripped = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in stripped if line]


def _pins(path: Path) -> dict[str, str]:
    return {canonicalize_name(n): v for n, _, v in (line.partition("==") for line in _lines(path))}


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    named = [
        *project["dependencies"],
        *(r for extra in project["optional-dependencies"].values() for r in extra),
    ]
    return [r for r in map(Requirement, named) if canonicalize_name(r.name) != "erpsync"]


def test_every_dependency_is_pinned_within_its_range() -> None:
    pins = _pins(ROOT / "constraints.txt")
    assert "erpsync" not in pins
    for requirement in _requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not pinned: run `make constraints`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{requirement.name}=={pins[name]} is outside {requirement.specifier}: run `make constraints`"
        )


def test_the_pins_agree_with_the_machine_wide_pip_constraints() -> None:
    if not MACHINE_CONSTRAINTS.exists():
        pytest.skip("no machine-wide pip constraints here")
    pins = _pins(ROOT / "constraints.txt")
    for line in _lines(MACHINE_CONSTRAINTS):
        requirement = Requirement(line)
        pinned = pins.get(canonicalize_name(requirement.name))
        assert pinned is None or requirement.specifier.contains(pinned, prereleases=True), line


def _make_plan(target: str, venv: Path) -> str:
    """The commands ``make TARGET`` would run with ``venv`` (nothing is run)."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    done = subprocess.run(
        [make, "-n", "-C", str(ROOT), target, f"VENV={venv}"], capture_output=True, text=True, check=True
    )
    return done.stdout


def _installs(plan: str) -> list[str]:
    return re.findall(r"pip install --quiet --constraint constraints\.txt -e (\S+)", plan)


def test_the_demo_installs_the_runtime_set_and_the_tests_the_development_set(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    assert _installs(_make_plan("demo", venv)) == ["."]
    assert _installs(_make_plan("test", venv)) == ["'.[dev]'"]
    assert _installs(_make_plan("lint", venv)) == ["'.[dev]'"]


def test_demo_and_test_run_in_either_order(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    demo_plan = _make_plan("demo", venv)
    runtime_stamp = re.search(r"touch (\S+/\.runtime-\d+)", demo_plan)
    assert runtime_stamp is not None
    Path(runtime_stamp.group(1)).touch()  # as after `make demo`
    assert _installs(_make_plan("demo", venv)) == []
    test_plan = _make_plan("test", venv)
    assert _installs(test_plan) == ["'.[dev]'"]  # `make test` after `make demo` adds the development set
    for stamp in re.search(r"touch (\S+) (\S+)$", test_plan, flags=re.M).groups():  # type: ignore[union-attr]
        Path(stamp).touch()  # as after `make test`
    assert _installs(_make_plan("demo", venv)) == []  # and `make demo` after it needs nothing more
    assert _installs(_make_plan("test", venv)) == []


def test_a_deprecation_raised_from_our_code_fails_the_run() -> None:
    with pytest.raises(DeprecationWarning, match="old call"):
        warnings.warn_explicit(
            "old call", DeprecationWarning, "store/db.py", 1, module="store.db", registry={}
        )


def test_a_deprecation_from_another_package_only_warns() -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.warn_explicit(
            "old call", DeprecationWarning, "site-packages/lib.py", 1, module="somelib.core", registry={}
        )
    assert [str(w.message) for w in seen] == ["old call"]
