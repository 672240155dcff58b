"""The layers of docs/architecture.md hold, and an import that breaks them fails `make lint`.

``make lint`` runs import-linter (``lint-imports``) with the contracts in pyproject.toml's
``[tool.importlinter]``. The real tree keeps every contract; a copy of it with one forbidden
import added fails, naming the contract and the import.

The CLI modules (``erpsync/cli_*.py``) and the HTTP API (``erpsync/api.py``) only format what the
packages' query modules give back: an AST scan finds no SQLAlchemy import in them but types for
annotations, and no import of the tables (``store.models``).
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"][
    "root_packages"
]
LAYERS = "Layers: a package imports only the packages below it"


def lint_imports(where: Path) -> tuple[int, str]:
    """The exit code of ``lint-imports`` run in ``where``, and its report on one line per paragraph."""
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache"],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.returncode, " ".join((done.stdout + done.stderr).split())


def copy_with_import(tmp_path: Path, module: str, statement: str) -> Path:
    """A copy of the packages and pyproject.toml in ``tmp_path``, ``statement`` added to ``module``."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text(encoding="utf-8") + f"\n{statement}  # noqa: F401\n", encoding="utf-8")
    return tmp_path


def test_the_tree_keeps_every_contract() -> None:
    assert LINT_IMPORTS.exists(), "lint-imports is missing: install the development set (make lint)"
    code, report = lint_imports(ROOT)
    assert code == 0, report
    assert "0 broken" in report


@pytest.mark.parametrize(
    ("module", "statement", "contract", "finding"),
    [
        ("routing.fulfilment", "import connectors", LAYERS, "routing is not allowed to import connectors"),
        ("alerts.digest", "import routing.dispatch", LAYERS, "alerts is not allowed to import routing"),
        ("store.orders", "import connectors.base", LAYERS, "store is not allowed to import connectors"),
        ("core.clock", "import mapping.records", LAYERS, "core is not allowed to import mapping"),
        ("sync.queries", "import erpsync.cli", LAYERS, "sync is not allowed to import erpsync"),
        (
            "connectors.cursors",
            "import store.models",
            "Connectors import only core and mapping",
            "connectors.cursors -> store.models",
        ),
        (
            "delivery.outcomes",
            "import mapping.records",
            "Delivery imports only core and store",
            "delivery.outcomes -> mapping.records",
        ),
    ],
)
def test_a_forbidden_import_fails_naming_the_contract(
    tmp_path: Path, module: str, statement: str, contract: str, finding: str
) -> None:
    code, report = lint_imports(copy_with_import(tmp_path, module, statement))
    assert code != 0
    assert f"{contract} BROKEN" in report
    assert finding in report


# -- the CLI and the HTTP API only format rows: their reads are the packages' query modules -------------

#: what a CLI module may take from SQLAlchemy: types for annotations, nothing that builds SQL
SQLALCHEMY_TYPES = {"Connection", "Engine"}
FORMATTERS = [*sorted((ROOT / "erpsync").glob("cli_*.py")), ROOT / "erpsync" / "api.py"]


def sql_imports(source: str) -> list[str]:
    """The imports in ``source`` that would let a module write SQL or read the tables itself."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "sqlalchemy"]
            found += [a.name for a in node.names if a.name.startswith("store.models")]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = {a.name for a in node.names}
            if node.module.startswith("store.models") or (node.module == "store" and "models" in names):
                found.append(f"from {node.module} import {', '.join(sorted(names))}")
            elif node.module == "sqlalchemy" and not names <= SQLALCHEMY_TYPES:
                found.append(f"from sqlalchemy import {', '.join(sorted(names - SQLALCHEMY_TYPES))}")
            elif node.module.startswith("sqlalchemy."):
                found.append(f"from {node.module} import {', '.join(sorted(names))}")
    return found


@pytest.mark.parametrize("path", FORMATTERS, ids=lambda p: p.name)
def test_cli_and_api_modules_import_no_sql_and_no_tables(path: Path) -> None:
    assert sql_imports(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "statement",
    [
        "from sqlalchemy import Connection, select",
        "from sqlalchemy import text",
        "from sqlalchemy import insert, update, delete",
        "import sqlalchemy",
        "from sqlalchemy.sql import func",
        "from store.models import SalesOrder",
        "from store import models",
        "import store.models",
    ],
)
def test_the_scan_finds_a_statement_that_builds_sql_or_reads_tables(statement: str) -> None:
    source = "from sqlalchemy import Connection, Engine\nfrom store import queries\n" + statement + "\n"
    assert len(sql_imports(source)) == 1
