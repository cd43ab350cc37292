"""Table definitions used by queries. The schema itself is made only by Alembic (migrations/)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, LargeBinary, MetaData, SmallInteger, Table, Text

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

# Projections: rebuilt from the ledger by replay.
parties = Table(
    "parties",
    metadata,
    Column("party_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("registered_index", BigInteger, nullable=False),
    Column("registered_at", Text, nullable=False),
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

APPEND_ONLY_TABLES = ("ledger_entries", "merkle_nodes", "checkpoints")
