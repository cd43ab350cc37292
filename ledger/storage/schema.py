"""Table definitions used by queries. The schema itself is made only by Alembic (migrations/)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    Table,
    Text,
)

metadata = MetaData()

# Append-only: the log itself. `entry` holds the entry bytes verbatim (DESIGN §4).
ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("entry", LargeBinary, nullable=False),
    Column("envelope_sha256", LargeBinary, nullable=False, unique=True),
    Column("signer_keyid", Text, nullable=False),
    Column("nonce", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("integrated_at", Text, nullable=False),
)

# Append-only: hashes of perfect, aligned subtrees; (level, idx) covers leaves
# [idx * 2**level, (idx + 1) * 2**level). Level 0 holds the leaf hashes.
merkle_nodes = Table(
    "merkle_nodes",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary, nullable=False),
)

# Append-only: one signed checkpoint per committed batch.
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary, nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", Text, nullable=False),
)

# Append-only: witnesses' cosignatures of checkpoints (C2SP tlog-cosignature).
cosignatures = Table(
    "cosignatures",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("keyid", Text, primary_key=True),
    Column("timestamp", BigInteger, primary_key=True, autoincrement=False),
    Column("party_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("line", Text, nullable=False),
    Column("received_at", Text, nullable=False),
)

# Projections: rebuilt from the ledger by replay.
parties = Table(
    "parties",
    metadata,
    Column("party_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("registered_index", BigInteger, nullable=False),
    Column("registered_at", Text, nullable=False),
    Column("contact_commitment", Text, nullable=True),
    # ledger.names.name_key(name): which parties bear the same name (indexed, migration 0009).
    Column("name_key", Text, nullable=True),
)

party_roles = Table(
    "party_roles",
    metadata,
    Column("party_id", Text, primary_key=True),
    Column("role", Text, primary_key=True),
    Column("granted_index", BigInteger, nullable=False),
)

# Not a projection: personal information kept off the ledger, erasable for good.
party_contacts = Table(
    "party_contacts",
    metadata,
    Column("party_id", Text, primary_key=True),
    Column("salt", Text, nullable=False),
    Column("email", Text),
    Column("phone", Text),
    Column("address", Text),
    Column("updated_at", Text, nullable=False),
)

# Not a projection: the openings of the private fields of logged statements (ledger.privacy),
# kept off the public log, one row per entry: `openings` is JSON {field: {"salt", "value"}}
# (one row, not one per field: a third of the writes for a statement with three private
# fields), readable by `audience` (JSON list of party ids) plus regulators and the operator.
# Erasing a field removes it from the row (the row goes with its last field), leaving its
# commitment unopenable.
statement_openings = Table(
    "statement_openings",
    metadata,
    Column("entry_index", BigInteger, primary_key=True, autoincrement=False),
    Column("openings", Text, nullable=False),
    Column("audience", Text, nullable=False),
)

# Not a projection: login statements are verified, never appended; their nonces are kept here.
login_nonces = Table(
    "login_nonces",
    metadata,
    Column("keyid", Text, primary_key=True),
    Column("nonce", Text, primary_key=True),
    Column("expires_at", Text, nullable=False),
)

party_keys = Table(
    "party_keys",
    metadata,
    Column("keyid", Text, primary_key=True),
    Column("party_id", Text, nullable=False),
    Column("public_key", LargeBinary, nullable=False),
    Column("added_index", BigInteger, nullable=False),
    Column("revoked_index", BigInteger, nullable=True),
)

assets = Table(
    "assets",
    metadata,
    Column("asset_id", Text, primary_key=True),
    Column("owner_id", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("classification", Text, nullable=False),
    Column("personal_info", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("record_count", BigInteger, nullable=False),
    Column("schema_json", Text),
    Column("derived_from_json", Text, nullable=False),
    Column("declared_cost_minor", BigInteger),
    Column("declared_cost_currency", Text),
    Column("quality_json", Text),
    Column("quality_score", Integer),
    Column("status", Text, nullable=False),
    Column("conflict", Boolean, nullable=False),
    Column("frozen", Boolean, nullable=False, default=False),
    Column("version", Integer, nullable=False),
    Column("registered_index", BigInteger, nullable=False),
    Column("registered_at", Text, nullable=False),
    Column("notice_ends_at", Text, nullable=False),
    Column("certified_index", BigInteger),
    Column("status_reason", Text),
    Column("updated_index", BigInteger, nullable=False),
    Column("freeze_reason", Text),
)

# SQLite only: FTS5 trigram index over title and description (PostgreSQL uses pg_trgm).
assets_search = Table(
    "assets_search",
    metadata,
    Column("rowid", BigInteger),  # = the asset's registered_index: newest first is rowid desc
    Column("asset_id", Text),
    Column("title", Text),
    Column("description", Text),
)

asset_versions = Table(
    "asset_versions",
    metadata,
    Column("asset_id", Text, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("fingerprint", Text, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("record_count", BigInteger, nullable=False),
    Column("schema_json", Text),
    Column("note", Text, nullable=False),
    Column("entry_index", BigInteger, nullable=False),
    Column("recorded_at", Text, nullable=False),
)

asset_lineage = Table(
    "asset_lineage",
    metadata,
    Column("asset_id", Text, primary_key=True),
    Column("parent_id", Text, primary_key=True),
    # the entry that confirmed the link (the registration itself, for a parent the registrant
    # owned; else the parent owner's lineage.confirm); null while unconfirmed
    Column("confirmed_index", BigInteger),
)

conflicts = Table(
    "conflicts",
    metadata,
    Column("fingerprint", Text, primary_key=True),
    Column("status", Text, nullable=False),
    Column("asset_ids_json", Text, nullable=False),
    Column("opened_index", BigInteger, nullable=False),
    Column("resolved_index", BigInteger),
    Column("rightful_asset_id", Text),
    Column("reason", Text),
)

objections = Table(
    "objections",
    metadata,
    Column("objection_id", Text, primary_key=True),
    Column("asset_id", Text, nullable=False),
    Column("objector_id", Text, nullable=False),
    Column("grounds", Text, nullable=False),
    Column("evidence_fingerprint", Text),
    Column("status", Text, nullable=False),
    Column("reason", Text),
    Column("filed_index", BigInteger, nullable=False),
    Column("filed_at", Text, nullable=False),
    Column("resolved_index", BigInteger),
)

rights = Table(
    "rights",
    metadata,
    Column("asset_id", Text, primary_key=True),
    Column("right_kind", Text, primary_key=True),
    Column("holder_id", Text, nullable=False),
    Column("since_index", BigInteger, nullable=False),
)

right_transfers = Table(
    "right_transfers",
    metadata,
    Column("transfer_id", Text, primary_key=True),
    Column("asset_id", Text, nullable=False),
    Column("right_kind", Text, nullable=False),
    Column("from_party", Text, nullable=False),
    Column("to_party", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("offered_index", BigInteger, nullable=False),
    Column("accepted_index", BigInteger),
)

asset_entries = Table(
    "asset_entries",
    metadata,
    Column("asset_id", Text, primary_key=True),
    Column("entry_index", BigInteger, primary_key=True),
)

offers = Table(
    "offers",
    metadata,
    Column("offer_id", Text, primary_key=True),
    Column("asset_id", Text, nullable=False),
    Column("publisher_id", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("policy_json", Text, nullable=False),
    Column("exclusive", Boolean, nullable=False),
    Column("published_index", BigInteger, nullable=False),
    Column("published_at", Text, nullable=False),
    Column("withdrawn_index", BigInteger),
    Column("withdraw_reason", Text),
)

licences = Table(
    "licences",
    metadata,
    Column("licence_id", Text, primary_key=True),
    Column("offer_id", Text, nullable=False),
    Column("asset_id", Text, nullable=False),
    Column("buyer_id", Text, nullable=False),
    Column("seller_id", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("term_days", Integer, nullable=False),
    Column("territory_json", Text, nullable=False),
    Column("max_units", BigInteger),
    Column("units_used", BigInteger, nullable=False),
    Column("lawful_basis", Text),
    Column("exclusive", Boolean, nullable=False),
    Column("sublicensable", Boolean, nullable=False),
    Column("price_minor", BigInteger),
    Column("price_currency", Text),
    Column("starts_at", Text),
    Column("ends_at", Text),
    Column("status_reason", Text),
    Column("requested_index", BigInteger, nullable=False),
    Column("requested_at", Text, nullable=False),
    Column("approved_index", BigInteger),
    Column("updated_index", BigInteger, nullable=False),
)

gateways = Table(
    "gateways",
    metadata,
    Column("asset_id", Text, primary_key=True),
    Column("party_id", Text, primary_key=True),
    Column("since_index", BigInteger, nullable=False),
)

usage_reports = Table(
    "usage_reports",
    metadata,
    Column("usage_id", Text, primary_key=True),
    Column("licence_id", Text, nullable=False),
    Column("asset_id", Text, nullable=False),
    Column("licensee_id", Text, nullable=False),
    Column("reporter_id", Text, nullable=False),
    Column("units", BigInteger, nullable=False),
    Column("usage_kind", Text, nullable=False),
    Column("period_start", Text, nullable=False),
    Column("period_end", Text, nullable=False),
    Column("entry_index", BigInteger, nullable=False),
    Column("reported_at", Text, nullable=False),
)

payments = Table(
    "payments",
    metadata,
    Column("payment_id", Text, primary_key=True),
    Column("licence_id", Text, nullable=False),
    Column("payer_id", Text, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("reference", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("recorded_index", BigInteger, nullable=False),
    Column("recorded_at", Text, nullable=False),
    Column("confirmed_index", BigInteger),
    Column("confirmed_at", Text),
)

disputes = Table(
    "disputes",
    metadata,
    Column("dispute_id", Text, primary_key=True),
    Column("licence_id", Text, nullable=False),
    Column("asset_id", Text, nullable=False),
    Column("opened_by", Text, nullable=False),
    Column("respondent", Text, nullable=False),
    Column("grounds", Text, nullable=False),
    Column("evidence_fingerprint", Text),
    Column("status", Text, nullable=False),
    Column("answer", Text),
    Column("decision", Text),
    Column("refund_minor", BigInteger),
    Column("refund_currency", Text),
    Column("revoked_licence", Boolean),
    Column("usage_correction", BigInteger),
    Column("opened_index", BigInteger, nullable=False),
    Column("opened_at", Text, nullable=False),
    Column("answered_index", BigInteger),
    Column("resolved_index", BigInteger),
)

valuation_quotes = Table(
    "valuation_quotes",
    metadata,
    Column("entry_index", BigInteger, primary_key=True, autoincrement=False),
    Column("asset_id", Text, nullable=False),
    Column("units", BigInteger),
    Column("term_days", Integer, nullable=False),
    Column("exclusive", Boolean, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("price_minor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("low_minor", BigInteger, nullable=False),
    Column("high_minor", BigInteger, nullable=False),
    Column("quoted_at", Text, nullable=False),
)

# Not a projection: statements the rules refused (nothing appended), for regulators' alerts.
refusals = Table(
    "refusals",
    metadata,
    Column(
        "refusal_id",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("at", Text, nullable=False),
    Column("signer_keyid", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("licence_id", Text),
    Column("asset_id", Text),
    Column("detail", Text, nullable=False),
)

APPEND_ONLY_TABLES = ("ledger_entries", "merkle_nodes", "checkpoints", "cosignatures")

# Tables rebuilt from the ledger by replay, in an order that respects foreign keys.
PROJECTION_TABLES = (
    parties,
    party_keys,
    party_roles,
    assets,
    asset_versions,
    asset_lineage,
    conflicts,
    objections,
    rights,
    right_transfers,
    asset_entries,
    offers,
    licences,
    gateways,
    usage_reports,
    payments,
    disputes,
    valuation_quotes,
)
