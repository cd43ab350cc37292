"""Usage reports in the explorer's timelines (issue 18): an asset's and a licence's usage
reports by entry index, newest first, a page at a time, without sorting all of them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-14
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_usage_asset_entry", "usage_reports", ["asset_id", "entry_index"])
    op.create_index("ix_usage_licence_entry", "usage_reports", ["licence_id", "entry_index"])


def downgrade() -> None:
    op.drop_index("ix_usage_licence_entry", "usage_reports")
    op.drop_index("ix_usage_asset_entry", "usage_reports")
