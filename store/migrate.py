"""Schema migrations: the only way the central schema is created or changed.

``upgrade(url)`` brings a database to the newest revision; ``current(url)`` tells which revision
it is at; ``pending(url)`` lists what an upgrade would apply. Migrations live in
``store/migrations/versions`` and run the same on MySQL/MariaDB and SQLite.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic config pointing at our migrations (and at ``engine`` when given)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration up to ``revision`` in one connection."""
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head() -> str:
    """The newest revision in the code."""
    rev = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert rev is not None
    return rev


def pending(engine: Engine) -> list[str]:
    """Revisions an upgrade would apply, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    at = current(engine)
    revs = [r.revision for r in script.iterate_revisions("head", at)]
    return list(reversed(revs))
