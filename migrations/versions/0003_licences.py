"""Licences and usage: offers, licences, gateways, usage reports, payments; freeze reasons.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Freezes (a regulator's) show in the catalog with their reason.
    with op.batch_alter_table("assets") as batch:
        batch.add_column(sa.Column("freeze_reason", sa.Text, nullable=True))
    op.create_table(
        "offers",
        sa.Column("offer_id", sa.Text, primary_key=True),
        sa.Column("asset_id", sa.Text, sa.ForeignKey("assets.asset_id"), nullable=False),
        sa.Column("publisher_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("policy_json", sa.Text, nullable=False),
        sa.Column("exclusive", sa.Boolean, nullable=False),
        sa.Column("published_index", sa.BigInteger, nullable=False),
        sa.Column("published_at", sa.Text, nullable=False),
        sa.Column("withdrawn_index", sa.BigInteger, nullable=True),
        sa.Column("withdraw_reason", sa.Text, nullable=True),
    )
    op.create_index("ix_offers_asset", "offers", ["asset_id", "status"])
    op.create_table(
        "licences",
        sa.Column("licence_id", sa.Text, primary_key=True),
        sa.Column("offer_id", sa.Text, sa.ForeignKey("offers.offer_id"), nullable=False),
        sa.Column("asset_id", sa.Text, sa.ForeignKey("assets.asset_id"), nullable=False),
        sa.Column("buyer_id", sa.Text, nullable=False),
        sa.Column("seller_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("term_days", sa.Integer, nullable=False),
        sa.Column("territory_json", sa.Text, nullable=False),
        sa.Column("max_units", sa.BigInteger, nullable=True),
        sa.Column("units_used", sa.BigInteger, nullable=False),
        sa.Column("lawful_basis", sa.Text, nullable=True),
        sa.Column("exclusive", sa.Boolean, nullable=False),
        sa.Column("sublicensable", sa.Boolean, nullable=False),
        sa.Column("price_minor", sa.BigInteger, nullable=True),
        sa.Column("price_currency", sa.Text, nullable=True),
        sa.Column("starts_at", sa.Text, nullable=True),
        sa.Column("ends_at", sa.Text, nullable=True),
        sa.Column("status_reason", sa.Text, nullable=True),
        sa.Column("requested_index", sa.BigInteger, nullable=False),
        sa.Column("requested_at", sa.Text, nullable=False),
        sa.Column("approved_index", sa.BigInteger, nullable=True),
        sa.Column("updated_index", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_licences_asset", "licences", ["asset_id", "status"])
    op.create_index("ix_licences_buyer", "licences", ["buyer_id", "requested_index"])
    op.create_index("ix_licences_seller", "licences", ["seller_id", "requested_index"])
    op.create_index("ix_licences_expiry", "licences", ["status", "ends_at"])
    op.create_table(
        "gateways",
        sa.Column("asset_id", sa.Text, sa.ForeignKey("assets.asset_id"), primary_key=True),
        sa.Column("party_id", sa.Text, primary_key=True),
        sa.Column("since_index", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "usage_reports",
        sa.Column("usage_id", sa.Text, primary_key=True),
        sa.Column("licence_id", sa.Text, sa.ForeignKey("licences.licence_id"), nullable=False),
        sa.Column("asset_id", sa.Text, nullable=False),
        sa.Column("licensee_id", sa.Text, nullable=False),
        sa.Column("reporter_id", sa.Text, nullable=False),
        sa.Column("units", sa.BigInteger, nullable=False),
        sa.Column("usage_kind", sa.Text, nullable=False),
        sa.Column("period_start", sa.Text, nullable=False),
        sa.Column("period_end", sa.Text, nullable=False),
        sa.Column("entry_index", sa.BigInteger, nullable=False),
        sa.Column("reported_at", sa.Text, nullable=False),
    )
    op.create_index("ix_usage_licence", "usage_reports", ["licence_id", "period_end"])
    op.create_index("ix_usage_asset", "usage_reports", ["asset_id", "period_end"])
    op.create_index("ix_usage_entry", "usage_reports", ["entry_index"])
    op.create_table(
        "payments",
        sa.Column("payment_id", sa.Text, primary_key=True),
        sa.Column("licence_id", sa.Text, sa.ForeignKey("licences.licence_id"), nullable=False),
        sa.Column("payer_id", sa.Text, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("reference", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("recorded_index", sa.BigInteger, nullable=False),
        sa.Column("recorded_at", sa.Text, nullable=False),
        sa.Column("confirmed_index", sa.BigInteger, nullable=True),
        sa.Column("confirmed_at", sa.Text, nullable=True),
    )
    op.create_index("ix_payments_licence", "payments", ["licence_id"])
    op.create_index("ix_payments_confirmed", "payments", ["status", "confirmed_index"])


def downgrade() -> None:
    for table in ("payments", "usage_reports", "gateways", "licences", "offers"):
        op.drop_table(table)
    with op.batch_alter_table("assets") as batch:
        batch.drop_column("freeze_reason")
