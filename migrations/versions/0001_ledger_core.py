"""Ledger core: entries, Merkle nodes, checkpoints (append-only), parties and keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ledger.storage import triggers

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = ("ledger_entries", "merkle_nodes", "checkpoints")


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("entry", sa.LargeBinary, nullable=False),
        sa.Column("envelope_sha256", sa.LargeBinary, nullable=False),
        sa.Column("signer_keyid", sa.Text, nullable=False),
        sa.Column("nonce", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("integrated_at", sa.Text, nullable=False),
        sa.UniqueConstraint("envelope_sha256", name="uq_ledger_entries_envelope"),
        # A nonce is single-use per key: the database enforces the replay rule too.
        sa.UniqueConstraint("signer_keyid", "nonce", name="uq_ledger_entries_nonce"),
    )
    op.create_index("ix_ledger_entries_kind", "ledger_entries", ["kind", "idx"])
    op.create_table(
        "merkle_nodes",
        sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "checkpoints",
        sa.Column("tree_size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root_hash", sa.LargeBinary, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
    )
    op.create_table(
        "parties",
        sa.Column("party_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("registered_index", sa.BigInteger, nullable=False),
        sa.Column("registered_at", sa.Text, nullable=False),
    )
    op.create_table(
        "party_keys",
        sa.Column("keyid", sa.Text, primary_key=True),
        sa.Column("party_id", sa.Text, sa.ForeignKey("parties.party_id"), nullable=False),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("added_index", sa.BigInteger, nullable=False),
        sa.Column("revoked_index", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_party_keys_party", "party_keys", ["party_id"])
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        for statement in triggers.create_statements(dialect, table):
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        for statement in triggers.drop_statements(dialect, table):
            op.execute(statement)
    for table in ("party_keys", "parties", "checkpoints", "merkle_nodes", "ledger_entries"):
        op.drop_table(table)
