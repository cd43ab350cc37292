"""Shared fixtures: databases on SQLite and PostgreSQL, made by Alembic, and a running app."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from ledger.storage.engine import make_engine, normalise_url
from ledger.storage.migrate import upgrade

POSTGRES_ENV = "DATALEDGER_TEST_POSTGRES_URL"
VECTORS = Path(
    os.environ.get("DATALEDGER_VECTORS", Path(__file__).resolve().parents[2] / "shared" / "vectors")
)


def postgres_admin_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL on each backend; the PostgreSQL one is dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip(
            f"PostgreSQL tests need a server: set {POSTGRES_ENV}="
            "postgresql://postgres@127.0.0.1:5432/test (.ci/run does)"
        )
    with fresh_postgres_database(admin) as url:
        yield url


class fresh_postgres_database:
    """Create a database with a random name next to `admin_url`'s; drop it on exit."""

    def __init__(self, admin_url: str) -> None:
        self.admin = normalise_url(admin_url)
        self.name = f"dataledger_test_{secrets.token_hex(6)}"

    def __enter__(self) -> str:
        # pre-ping: a test may restart the server (tests/test_db_outage.py) under this pool
        self._engine = create_engine(self.admin, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
        try:
            with self._engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        except Exception as exc:  # noqa: BLE001 - turn "no server" into a clear skip
            self._engine.dispose()
            pytest.skip(f"PostgreSQL at {self.admin.render_as_string()} is not usable: {exc}")
        return self.admin.set(database=self.name).render_as_string(hide_password=False)

    def __exit__(self, *_: object) -> None:
        with self._engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self._engine.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a fresh database whose schema was made by `alembic upgrade head`."""
    eng = make_engine(database_url)
    upgrade(eng)
    yield eng
    eng.dispose()


# The `world` fixture (a running app with helpers to act as parties) lives with its helpers.
from tests.world import world  # noqa: E402, F401
