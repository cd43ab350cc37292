"""Append-only guards, per dialect, reused by the migrations.

UPDATE and DELETE are rejected by row triggers; on PostgreSQL TRUNCATE skips those, so a
statement-level BEFORE TRUNCATE trigger rejects it too. SQLite has no TRUNCATE: its
"truncate optimisation" is disabled whenever a DELETE trigger exists.
"""

from __future__ import annotations

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION dataledger_reject_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'dataledger: table % is append-only (% rejected)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql
"""


def create_statements(dialect: str, table: str) -> list[str]:
    """DDL that makes `table` append-only on `dialect` ("sqlite" or "postgresql")."""
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'dataledger: table {table} is append-only "
            f"({op} rejected)'); END"
            for op in ("UPDATE", "DELETE")
        ]
    if dialect == "postgresql":
        return [
            PG_FUNCTION,
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION dataledger_reject_change()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION dataledger_reject_change()",
        ]
    raise ValueError(f"unsupported database dialect {dialect!r}")


def drop_statements(dialect: str, table: str) -> list[str]:
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {table}_no_{op}" for op in ("update", "delete")]
    if dialect == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}",
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        ]
    raise ValueError(f"unsupported database dialect {dialect!r}")
