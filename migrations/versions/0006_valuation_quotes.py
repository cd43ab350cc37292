"""Valuation quotes the ledger signed (a projection), for comparing deals with quotes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "valuation_quotes",
        sa.Column("entry_index", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("asset_id", sa.Text, sa.ForeignKey("assets.asset_id"), nullable=False),
        sa.Column("units", sa.BigInteger, nullable=True),
        sa.Column("term_days", sa.Integer, nullable=False),
        sa.Column("exclusive", sa.Boolean, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("price_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("low_minor", sa.BigInteger, nullable=False),
        sa.Column("high_minor", sa.BigInteger, nullable=False),
        sa.Column("quoted_at", sa.Text, nullable=False),
    )
    op.create_index("ix_valuation_quotes_asset", "valuation_quotes", ["asset_id", "entry_index"])


def downgrade() -> None:
    op.drop_table("valuation_quotes")
