"""Market statistics for policy, per category, currency and month (pure polars).

From the contract's `transactions` and `assets` frames, per category, currency and month (prices
in two currencies are neither summed nor compared; `currency` is the payments' ISO 4217 code):

- `licences`: distinct licences with a confirmed payment in the month;
- `total_value_minor`: the sum of those payments in `currency` (summed in 128 bits: prices are up
  to 2^63 - 1 each, and a 64-bit sum of a few of them would wrap round to a negative total);
- `median_unit_price`: median of price / units (licences without a quota count as one unit);
- `price_index`: a chained index of the median unit price, 100 in the category's first month,
  then multiplied month to month by the ratio of medians (months without trades carry over);
- `hhi_sellers`, `hhi_buyers`: Herfindahl-Hirschman index of value shares, 0..10,000;
- `personal_share`: the share of licences on personal or sensitive personal data.
"""

from __future__ import annotations

import polars as pl

PERSONAL = ("personal", "sensitive_personal")
KEYS = ("category", "currency", "month")


def _hhi(frame: pl.DataFrame, party: str) -> pl.DataFrame:
    shares = frame.group_by(*KEYS, party).agg(pl.col("price_minor").sum().alias("v"))
    return shares.group_by(*KEYS).agg(
        ((pl.col("v") / pl.col("v").sum()) ** 2 * 10_000)
        .sum()
        .round(1)
        .alias(f"hhi_{party.removesuffix('_id')}s")
    )


def market_statistics(transactions: pl.DataFrame, assets: pl.DataFrame) -> pl.DataFrame:
    """One row per (category, month, currency), sorted so; see the module docstring."""
    trades = (
        transactions.with_columns(pl.col("price_minor").cast(pl.Int128))
        .join(assets.select("asset_id", "category", "personal_info"), on="asset_id", how="left")
        .with_columns(
            pl.col("at").dt.strftime("%Y-%m").alias("month"),
            (pl.col("price_minor") / pl.col("max_units").fill_null(1).clip(lower_bound=1)).alias(
                "unit_price"
            ),
            pl.col("personal_info").is_in(PERSONAL).alias("personal"),
            pl.col("category").fill_null("unknown"),
        )
    )
    base = (
        trades.group_by(*KEYS)
        .agg(
            pl.col("licence_id").n_unique().alias("licences"),
            pl.col("price_minor").sum().alias("total_value_minor"),
            pl.col("unit_price").median().alias("median_unit_price"),
            (
                pl.col("licence_id").filter(pl.col("personal")).n_unique()
                / pl.col("licence_id").n_unique()
            ).alias("personal_share"),
        )
        .join(_hhi(trades, "seller_id"), on=list(KEYS))
        .join(_hhi(trades, "buyer_id"), on=list(KEYS))
        .sort("category", "month", "currency")
    )
    index = (
        (pl.col("median_unit_price") / pl.col("median_unit_price").shift(1))
        .fill_null(1.0)
        .cum_prod()
        * 100
    ).over("category", "currency")
    return base.with_columns(index.round(2).alias("price_index")).select(
        "category",
        "month",
        "licences",
        "total_value_minor",
        "currency",
        "median_unit_price",
        "price_index",
        "hhi_sellers",
        "hhi_buyers",
        "personal_share",
    )
