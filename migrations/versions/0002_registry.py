"""Registry: contact commitments and roles, assets and versions, notice and objections,
conflicting claims, the three rights and their transfers, asset history, catalog search.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column("parties", sa.Column("contact_commitment", sa.Text, nullable=True))
    op.create_table(
        "party_roles",
        sa.Column("party_id", sa.Text, sa.ForeignKey("parties.party_id"), primary_key=True),
        sa.Column("role", sa.Text, primary_key=True),
        sa.Column("granted_index", sa.BigInteger, nullable=False),
    )
    # Personal information: off the ledger, erasable. The ledger holds only a salted commitment.
    op.create_table(
        "party_contacts",
        sa.Column("party_id", sa.Text, sa.ForeignKey("parties.party_id"), primary_key=True),
        sa.Column("salt", sa.Text, nullable=False),
        sa.Column("email", sa.Text, nullable=True),
        sa.Column("phone", sa.Text, nullable=True),
        sa.Column("address", sa.Text, nullable=True),
        sa.Column("updated_at", sa.Text, nullable=False),
    )
    op.create_table(
        "login_nonces",
        sa.Column("keyid", sa.Text, primary_key=True),
        sa.Column("nonce", sa.Text, primary_key=True),
        sa.Column("expires_at", sa.Text, nullable=False),
    )
    op.create_table(
        "assets",
        sa.Column("asset_id", sa.Text, primary_key=True),
        sa.Column("owner_id", sa.Text, sa.ForeignKey("parties.party_id"), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("classification", sa.Text, nullable=False),
        sa.Column("personal_info", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("record_count", sa.BigInteger, nullable=False),
        sa.Column("schema_json", sa.Text, nullable=True),
        sa.Column("derived_from_json", sa.Text, nullable=False),
        sa.Column("declared_cost_minor", sa.BigInteger, nullable=True),
        sa.Column("declared_cost_currency", sa.Text, nullable=True),
        sa.Column("quality_json", sa.Text, nullable=True),
        sa.Column("quality_score", sa.Integer, nullable=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("conflict", sa.Boolean, nullable=False),
        sa.Column("frozen", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("registered_index", sa.BigInteger, nullable=False, unique=True),
        sa.Column("registered_at", sa.Text, nullable=False),
        sa.Column("notice_ends_at", sa.Text, nullable=False),
        sa.Column("certified_index", sa.BigInteger, nullable=True),
        sa.Column("status_reason", sa.Text, nullable=True),
        sa.Column("updated_index", sa.BigInteger, nullable=False),
    )
    # Catalog pages are ordered newest first (registered_index desc) within each filter.
    for column in ("status", "category", "classification", "owner_id"):
        op.create_index(f"ix_assets_{column}", "assets", [column, "registered_index"])
    op.create_index("ix_assets_fingerprint", "assets", ["fingerprint"])
    op.create_index("ix_assets_notice", "assets", ["status", "notice_ends_at"])
    if dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_assets_search ON assets "
            "USING gin ((title || ' ' || description) gin_trgm_ops)"
        )
    else:
        # Trigram tokenizer: substring search in any script, Chinese included.
        op.execute(
            "CREATE VIRTUAL TABLE assets_search USING fts5("
            "asset_id UNINDEXED, title, description, tokenize='trigram')"
        )
    op.create_table(
        "asset_versions",
        sa.Column("asset_id", sa.Text, sa.ForeignKey("assets.asset_id"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("record_count", sa.BigInteger, nullable=False),
        sa.Column("schema_json", sa.Text, nullable=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("entry_index", sa.BigInteger, nullable=False),
        sa.Column("recorded_at", sa.Text, nullable=False),
    )
    op.create_table(
        "asset_lineage",
        sa.Column("asset_id", sa.Text, sa.ForeignKey("assets.asset_id"), primary_key=True),
        sa.Column("parent_id", sa.Text, sa.ForeignKey("assets.asset_id"), primary_key=True),
    )
    op.create_index("ix_asset_lineage_parent", "asset_lineage", ["parent_id"])
    op.create_table(
        "conflicts",
        sa.Column("fingerprint", sa.Text, primary_key=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("asset_ids_json", sa.Text, nullable=False),
        sa.Column("opened_index", sa.BigInteger, nullable=False),
        sa.Column("resolved_index", sa.BigInteger, nullable=True),
        sa.Column("rightful_asset_id", sa.Text, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
    )
    op.create_table(
        "objections",
        sa.Column("objection_id", sa.Text, primary_key=True),
        sa.Column("asset_id", sa.Text, sa.ForeignKey("assets.asset_id"), nullable=False),
        sa.Column("objector_id", sa.Text, nullable=False),
        sa.Column("grounds", sa.Text, nullable=False),
        sa.Column("evidence_fingerprint", sa.Text, nullable=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("filed_index", sa.BigInteger, nullable=False),
        sa.Column("filed_at", sa.Text, nullable=False),
        sa.Column("resolved_index", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_objections_asset", "objections", ["asset_id", "status"])
    op.create_table(
        "rights",
        sa.Column("asset_id", sa.Text, sa.ForeignKey("assets.asset_id"), primary_key=True),
        sa.Column("right_kind", sa.Text, primary_key=True),
        sa.Column("holder_id", sa.Text, nullable=False),
        sa.Column("since_index", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_rights_holder", "rights", ["holder_id"])
    op.create_table(
        "right_transfers",
        sa.Column("transfer_id", sa.Text, primary_key=True),
        sa.Column("asset_id", sa.Text, sa.ForeignKey("assets.asset_id"), nullable=False),
        sa.Column("right_kind", sa.Text, nullable=False),
        sa.Column("from_party", sa.Text, nullable=False),
        sa.Column("to_party", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("offered_index", sa.BigInteger, nullable=False),
        sa.Column("accepted_index", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_right_transfers_asset", "right_transfers", ["asset_id"])
    op.create_index("ix_right_transfers_to", "right_transfers", ["to_party", "status"])
    op.create_table(
        "asset_entries",
        sa.Column("asset_id", sa.Text, primary_key=True),
        sa.Column("entry_index", sa.BigInteger, primary_key=True),
    )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in (
        "asset_entries",
        "right_transfers",
        "rights",
        "objections",
        "conflicts",
        "asset_lineage",
        "asset_versions",
    ):
        op.drop_table(table)
    if dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_assets_search")
    else:
        op.execute("DROP TABLE IF EXISTS assets_search")
    for table in ("assets", "login_nonces", "party_contacts", "party_roles"):
        op.drop_table(table)
    with op.batch_alter_table("parties") as batch:  # SQLite can only drop columns in batch mode
        batch.drop_column("contact_commitment")
