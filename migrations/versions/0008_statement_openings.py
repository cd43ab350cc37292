"""Openings of private statement fields, kept off the public log (issue 14).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "statement_openings",
        sa.Column("entry_index", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("openings", sa.Text, nullable=False),  # JSON {field: {"salt", "value"}}
        sa.Column("audience", sa.Text, nullable=False),  # JSON list of party ids
    )


def downgrade() -> None:
    op.drop_table("statement_openings")
