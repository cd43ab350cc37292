"""Audit: disputes (a projection) and the log of refused statements (off the ledger).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "disputes",
        sa.Column("dispute_id", sa.Text, primary_key=True),
        sa.Column("licence_id", sa.Text, sa.ForeignKey("licences.licence_id"), nullable=False),
        sa.Column("asset_id", sa.Text, nullable=False),
        sa.Column("opened_by", sa.Text, nullable=False),
        sa.Column("respondent", sa.Text, nullable=False),
        sa.Column("grounds", sa.Text, nullable=False),
        sa.Column("evidence_fingerprint", sa.Text, nullable=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=True),
        sa.Column("decision", sa.Text, nullable=True),
        sa.Column("refund_minor", sa.BigInteger, nullable=True),
        sa.Column("refund_currency", sa.Text, nullable=True),
        sa.Column("revoked_licence", sa.Boolean, nullable=True),
        sa.Column("usage_correction", sa.BigInteger, nullable=True),
        sa.Column("opened_index", sa.BigInteger, nullable=False),
        sa.Column("opened_at", sa.Text, nullable=False),
        sa.Column("answered_index", sa.BigInteger, nullable=True),
        sa.Column("resolved_index", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_disputes_licence", "disputes", ["licence_id"])
    op.create_index("ix_disputes_asset", "disputes", ["asset_id", "status"])
    # Statements the rules refused: never on the ledger, kept so regulators can see patterns
    # (repeated over-quota reports, attempts on frozen assets).
    op.create_table(
        "refusals",
        # INTEGER on SQLite so that the key is the rowid and autoincrements.
        sa.Column(
            "refusal_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("signer_keyid", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("licence_id", sa.Text, nullable=True),
        sa.Column("asset_id", sa.Text, nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_refusals_licence", "refusals", ["licence_id", "code"])
    op.create_index("ix_refusals_asset", "refusals", ["asset_id", "code"])


def downgrade() -> None:
    op.drop_table("refusals")
    op.drop_table("disputes")
