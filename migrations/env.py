"""Alembic environment: the engine comes from ledger.storage.migrate, or from `-x url=...`."""

from __future__ import annotations

from alembic import context

from ledger.storage.engine import WRITE_LOCK_OPTION, make_engine

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit(
            "pass the database with: alembic -x url=sqlite:///data/ledger.db upgrade head"
        )
    engine = make_engine(url)

# Several processes may start at once (`serve --workers N`, a rolling restart): only one
# migrates, the others wait and then find the schema current. SQLite: the write lock taken at
# BEGIN; PostgreSQL: an advisory lock held until the migration commits.
MIGRATION_LOCK = 0x646C6D67  # "dlmg"

with engine.connect().execution_options(**{WRITE_LOCK_OPTION: True}) as connection:
    context.configure(connection=connection, transactional_ddl=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        context.run_migrations()
    connection.commit()
