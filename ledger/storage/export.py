"""The ledger's data as the valuation contract's frames (DESIGN §7), in bounded chunks.

Each table is read in key order, `chunk` rows at a time, with a keyset cursor, so tens of
millions of usage rows never sit in memory at once; the same pages serve the CLI reading the
database directly and the HTTP export a regulator reads from a running server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import polars as pl
from sqlalchemy import Connection, Select, select

from ledger.storage.schema import assets, licences, payments, usage_reports
from valuation.contract import ASSETS, TRANSACTIONS, USAGE, conform

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.fZ"
TABLES = ("assets", "usage", "transactions")


def _query(table: str) -> tuple[Select[Any], Any]:
    """(query, cursor column) for one contract table; the cursor is the first column selected."""
    if table == "assets":
        return (
            select(
                assets.c.registered_index.label("cursor"),
                assets.c.asset_id,
                assets.c.category,
                assets.c.classification,
                assets.c.personal_info,
                assets.c.record_count,
                assets.c.size_bytes,
                assets.c.declared_cost_minor,
                (assets.c.quality_score / 100.0).label("quality_score"),
                assets.c.registered_at,
                assets.c.owner_id,
            ),
            assets.c.registered_index,
        )
    if table == "usage":
        return (
            select(
                usage_reports.c.entry_index.label("cursor"),
                usage_reports.c.asset_id,
                usage_reports.c.licence_id,
                usage_reports.c.licensee_id,
                usage_reports.c.period_end.label("at"),
                usage_reports.c.units,
            ),
            usage_reports.c.entry_index,
        )
    if table == "transactions":
        return (
            select(
                payments.c.confirmed_index.label("cursor"),
                payments.c.payment_id.label("transaction_id"),
                licences.c.asset_id,
                payments.c.licence_id,
                licences.c.seller_id,
                licences.c.buyer_id,
                payments.c.confirmed_at.label("at"),
                payments.c.amount_minor.label("price_minor"),
                payments.c.currency,
                licences.c.term_days.label("duration_days"),
                licences.c.max_units,
                licences.c.exclusive,
                licences.c.purpose,
            )
            .join(licences, licences.c.licence_id == payments.c.licence_id)
            .where(payments.c.status == "confirmed"),
            payments.c.confirmed_index,
        )
    raise ValueError(f"no export table {table!r}; choose one of {', '.join(TABLES)}")


def page(
    conn: Connection, table: str, *, after: int | None, limit: int
) -> tuple[list[tuple[Any, ...]], int | None]:
    """Rows (without the cursor column) after `after`, and the cursor to continue from."""
    query, cursor = _query(table)
    if after is not None:
        query = query.where(cursor > after)
    rows = conn.execute(query.order_by(cursor).limit(limit)).all()
    next_cursor = int(rows[-1][0]) if len(rows) == limit else None
    return [tuple(r[1:]) for r in rows], next_cursor


def columns(table: str) -> list[str]:
    query, _ = _query(table)
    return [c.name for c in query.selected_columns][1:]


def frame(table: str, rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    """Rows of `table` as a frame with exactly the contract's schema."""
    schema = {"assets": ASSETS, "usage": USAGE, "transactions": TRANSACTIONS}[table]
    names = columns(table)
    raw = pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)
    times = [c for c in ("registered_at", "at") if c in names]
    if raw.height:
        raw = raw.with_columns(
            pl.col(c).cast(pl.String).str.to_datetime(TIME_FORMAT, time_zone="UTC") for c in times
        )
    else:
        raw = pl.DataFrame(schema=schema)
    return conform(raw, schema)


def chunks(conn: Connection, table: str, chunk: int = 200_000) -> Iterator[pl.DataFrame]:
    """The whole table as contract frames of at most `chunk` rows."""
    after: int | None = None
    while True:
        rows, after = page(conn, table, after=after, limit=chunk)
        if rows:
            yield frame(table, rows)
        if after is None:
            return
