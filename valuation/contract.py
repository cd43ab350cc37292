"""The valuation data contract (DESIGN §7): the exact polars schemas of every frame.

The same schemas are the Parquet export of the ledger; `conform` casts a frame to one and fails
loudly if a column is missing.
"""

from __future__ import annotations

import polars as pl

UTC_TIME = pl.Datetime("us", "UTC")

ASSETS = pl.Schema(
    {
        "asset_id": pl.String(),
        "category": pl.String(),
        "classification": pl.String(),
        "personal_info": pl.String(),
        "record_count": pl.Int64(),
        "size_bytes": pl.Int64(),
        "declared_cost_minor": pl.Int64(),
        "quality_score": pl.Float64(),
        "registered_at": UTC_TIME,
        "owner_id": pl.String(),
    }
)

USAGE = pl.Schema(
    {
        "asset_id": pl.String(),
        "licence_id": pl.String(),
        "licensee_id": pl.String(),
        "at": UTC_TIME,
        "units": pl.Int64(),
    }
)

TRANSACTIONS = pl.Schema(
    {
        "transaction_id": pl.String(),
        "asset_id": pl.String(),
        "licence_id": pl.String(),
        "seller_id": pl.String(),
        "buyer_id": pl.String(),
        "at": UTC_TIME,
        "price_minor": pl.Int64(),
        "currency": pl.String(),
        "duration_days": pl.Int64(),
        "max_units": pl.Int64(),
        "exclusive": pl.Boolean(),
        "purpose": pl.String(),
    }
)

REQUESTS = pl.Schema(
    {
        "request_id": pl.String(),
        "asset_id": pl.String(),
        "buyer_id": pl.String(),
        "at": UTC_TIME,
        "duration_days": pl.Int64(),
        "max_units": pl.Int64(),
        "exclusive": pl.Boolean(),
        "purpose": pl.String(),
    }
)

PREDICTIONS = pl.Schema(
    {
        "request_id": pl.String(),
        "price_minor": pl.Int64(),
        "low_minor": pl.Int64(),
        "high_minor": pl.Int64(),
    }
)

SCHEMAS: dict[str, pl.Schema] = {
    "assets": ASSETS,
    "usage": USAGE,
    "transactions": TRANSACTIONS,
    "requests": REQUESTS,
    "predictions": PREDICTIONS,
}


def conform(frame: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
    """`frame` with exactly `schema`'s columns, in order, cast to its types."""
    missing = [name for name in schema if name not in frame.columns]
    if missing:
        raise ValueError(f"missing columns: {', '.join(missing)}")
    return frame.select(pl.col(name).cast(dtype) for name, dtype in schema.items())
