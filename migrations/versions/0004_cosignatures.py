"""Witness cosignatures on checkpoints (append-only).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ledger.storage import triggers

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cosignatures",
        sa.Column(
            "tree_size", sa.BigInteger, sa.ForeignKey("checkpoints.tree_size"), primary_key=True
        ),
        sa.Column("keyid", sa.Text, primary_key=True),  # the witness's party key
        sa.Column("timestamp", sa.BigInteger, primary_key=True),
        sa.Column("party_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("line", sa.Text, nullable=False),
        sa.Column("received_at", sa.Text, nullable=False),
    )
    for statement in triggers.create_statements(op.get_bind().dialect.name, "cosignatures"):
        op.execute(statement)


def downgrade() -> None:
    for statement in triggers.drop_statements(op.get_bind().dialect.name, "cosignatures"):
        op.execute(statement)
    op.drop_table("cosignatures")
