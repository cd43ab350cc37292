"""Lineage consent (issue 16): a declared `derived_from` link to another owner's asset is
unconfirmed until that owner signs `lineage.confirm`; `asset_lineage.confirmed_index` is the entry
that confirmed it (null while unconfirmed).

Existing links are confirmed at their registration when the registrant held the parent's holding
right at that moment, exactly as the rules now decide it, so `replay --check` agrees: the holder
then is the party the last holding transfer accepted before the registration went to, or else the
parent's registrant. Every other existing link is left unconfirmed.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("asset_lineage") as batch:
        batch.add_column(sa.Column("confirmed_index", sa.BigInteger, nullable=True))
    conn = op.get_bind()
    links = conn.execute(
        sa.text(
            "SELECT l.asset_id, l.parent_id, c.owner_id, c.registered_index, p.owner_id "
            "FROM asset_lineage l "
            "JOIN assets c ON c.asset_id = l.asset_id "
            "JOIN assets p ON p.asset_id = l.parent_id"
        )
    ).all()
    holder_then = sa.text(
        "SELECT to_party FROM right_transfers "
        "WHERE asset_id = :parent AND right_kind = 'holding' AND status = 'accepted' "
        "AND accepted_index < :at ORDER BY accepted_index DESC LIMIT 1"
    )
    confirm = sa.text(
        "UPDATE asset_lineage SET confirmed_index = :at "
        "WHERE asset_id = :asset AND parent_id = :parent"
    )
    for asset_id, parent_id, registrant, registered_index, parent_registrant in links:
        moved = conn.execute(holder_then, {"parent": parent_id, "at": registered_index}).first()
        holder = moved[0] if moved is not None else parent_registrant
        if holder == registrant:
            conn.execute(confirm, {"at": registered_index, "asset": asset_id, "parent": parent_id})


def downgrade() -> None:
    with op.batch_alter_table("asset_lineage") as batch:
        batch.drop_column("confirmed_index")
