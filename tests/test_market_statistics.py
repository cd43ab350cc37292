"""Market statistics checked against a small market computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from valuation.contract import ASSETS, TRANSACTIONS, conform
from valuation.market_statistics import market_statistics


def frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    jan, feb = datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 2, 3, tzinfo=UTC)
    rows = [
        # id, asset, seller, buyer, at, price, units
        ("t1", "a1", "S1", "B1", jan, 1000, 10),
        ("t2", "a2", "S1", "B2", jan, 3000, 10),
        ("t3", "a1", "S2", "B1", jan, 2000, 20),
        ("t4", "a1", "S1", "B1", feb, 1000, 5),
    ]
    transactions = conform(
        pl.DataFrame(
            {
                "transaction_id": [r[0] for r in rows],
                "asset_id": [r[1] for r in rows],
                "licence_id": [f"l{r[0]}" for r in rows],
                "seller_id": [r[2] for r in rows],
                "buyer_id": [r[3] for r in rows],
                "at": [r[4] for r in rows],
                "price_minor": [r[5] for r in rows],
                "currency": ["CNY"] * 4,
                "duration_days": [30] * 4,
                "max_units": [r[6] for r in rows],
                "exclusive": [False] * 4,
                "purpose": ["research"] * 4,
            }
        ),
        TRANSACTIONS,
    )
    assets = conform(
        pl.DataFrame(
            {
                "asset_id": ["a1", "a2"],
                "category": ["transport", "transport"],
                "classification": ["general", "general"],
                "personal_info": ["none", "personal"],
                "record_count": [1, 1],
                "size_bytes": [1, 1],
                "declared_cost_minor": [None, None],
                "quality_score": [None, None],
                "registered_at": [datetime(2025, 1, 1, tzinfo=UTC)] * 2,
                "owner_id": ["S1", "S1"],
            }
        ),
        ASSETS,
    )
    return transactions, assets


def test_statistics_match_the_hand_computed_market() -> None:
    stats = market_statistics(*frames()).to_dicts()
    jan, feb = stats
    assert (jan["category"], jan["month"], feb["month"]) == ("transport", "2026-01", "2026-02")
    assert jan["licences"] == 3 and jan["total_value_minor"] == 6000
    assert jan["median_unit_price"] == 100.0 and jan["price_index"] == 100.0
    assert jan["hhi_sellers"] == pytest.approx(5555.6)  # S1 4000/6000, S2 2000/6000
    assert jan["hhi_buyers"] == pytest.approx(5000.0)  # B1 3000, B2 3000
    assert jan["personal_share"] == pytest.approx(1 / 3)
    assert feb["median_unit_price"] == 200.0 and feb["price_index"] == 200.0
    assert feb["hhi_sellers"] == 10_000 and feb["personal_share"] == 0


def test_totals_of_huge_prices_do_not_wrap_round() -> None:
    """Two licences at 2^63 - 1 gave `total_value_minor: -1` (a 64-bit sum wrapped)."""
    transactions, assets = frames()
    top = 2**63 - 1
    transactions = transactions.with_columns(pl.lit(top, dtype=pl.Int64).alias("price_minor"))
    stats = market_statistics(transactions, assets)
    january = stats.filter(pl.col("month") == "2026-01").row(0, named=True)
    assert january["total_value_minor"] == 3 * top
    assert all(v > 0 for v in stats["total_value_minor"].to_list())


def test_two_currencies_are_neither_summed_nor_compared() -> None:
    transactions, assets = frames()
    transactions = transactions.with_columns(
        pl.when(pl.col("transaction_id") == "t2")
        .then(pl.lit("USD"))
        .otherwise(pl.col("currency"))
        .alias("currency")
    )
    stats = market_statistics(transactions, assets).to_dicts()
    keys = [(r["category"], r["month"], r["currency"]) for r in stats]
    assert keys == [
        ("transport", "2026-01", "CNY"),
        ("transport", "2026-01", "USD"),
        ("transport", "2026-02", "CNY"),
    ]
    cny_jan, usd_jan, cny_feb = stats
    assert cny_feb["price_index"] == 200.0  # chained within CNY: 100 -> 200 per unit
    assert cny_jan["total_value_minor"] == 3000 and usd_jan["total_value_minor"] == 3000
    assert usd_jan["price_index"] == 100.0 and usd_jan["hhi_sellers"] == 10_000
