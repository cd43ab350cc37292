"""Parties that bear the same name (issue 16, impersonation): each party's normalised name
(`ledger.names.name_key`), indexed, so a page finds which of the names it shows are shared in
one query.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ledger.names import name_key

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_BATCH = 1000


def upgrade() -> None:
    op.add_column("parties", sa.Column("name_key", sa.Text, nullable=True))
    # NFKC and case folding are Python's (the databases' differ), so the keys are made here.
    parties = sa.table(
        "parties",
        sa.column("party_id", sa.Text),
        sa.column("name", sa.Text),
        sa.column("name_key", sa.Text),
    )
    bind = op.get_bind()
    after = ""
    while True:
        rows = bind.execute(
            sa.select(parties.c.party_id, parties.c.name)
            .where(parties.c.party_id > after)
            .order_by(parties.c.party_id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        bind.execute(
            parties.update()
            .where(parties.c.party_id == sa.bindparam("pid"))
            .values(name_key=sa.bindparam("key")),
            [{"pid": r[0], "key": name_key(r[1])} for r in rows],
        )
        after = rows[-1][0]
    op.create_index("ix_parties_name_key", "parties", ["name_key"])


def downgrade() -> None:
    op.drop_index("ix_parties_name_key", "parties")
    op.drop_column("parties", "name_key")
