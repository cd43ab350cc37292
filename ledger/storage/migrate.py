"""Run the Alembic migrations: the only way the schema is made, in tests too."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine


def migrations_dir() -> Path:
    """Where the Alembic scripts are: inside the installed wheel, or the source checkout."""
    here = Path(__file__).resolve().parent.parent
    packaged = here / "_migrations"
    if packaged.is_dir():
        return packaged
    return here.parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database up to `revision` (default: the newest)."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The database's Alembic revision; None for a database never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
