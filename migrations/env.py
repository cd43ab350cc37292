"""Alembic environment: the engine comes from ledger.storage.migrate, or from `-x url=...`."""

from __future__ import annotations

from alembic import context

from ledger.storage.engine import make_engine

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit(
            "pass the database with: alembic -x url=sqlite:///data/ledger.db upgrade head"
        )
    engine = make_engine(url)

with engine.connect() as connection:
    context.configure(connection=connection, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
