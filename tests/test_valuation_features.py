"""Point-in-time usage statistics (valuation/features.py) against a naive recomputation."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import polars as pl
import pytest

from tests.test_valuation_helpers import market_gen
from valuation.features import DAY_US, FEATURE_COLUMNS, WINDOWS, usage_features


@pytest.fixture(scope="module")
def market() -> Any:
    return market_gen.generate(seed=1, n_assets=60, usage_cadence_days=3)


@pytest.fixture(scope="module")
def queries(market: Any) -> pl.DataFrame:
    rng = random.Random(0)
    ids = market.assets["asset_id"].to_list()
    start = market.config.start
    return pl.DataFrame(
        {
            "asset_id": [rng.choice(ids) for _ in range(60)],
            "as_of": [start + timedelta(days=rng.uniform(0, 1100)) for _ in range(60)],
        }
    ).with_columns(pl.col("as_of").dt.cast_time_unit("us"), pl.int_range(60).alias("q"))


def test_features_match_a_naive_recomputation(market: Any, queries: pl.DataFrame) -> None:
    got = usage_features(market.usage, market.assets, queries).collect()
    assert got["q"].to_list() == list(range(60)), "rows keep their order"
    usage = market.usage.join(market.assets.select("asset_id", "category"), on="asset_id")
    usage = usage.with_columns((pl.col("at").dt.epoch("us") // DAY_US).alias("day"))
    cats = dict(market.assets.select("asset_id", "category").iter_rows())
    for row in got.iter_rows(named=True):
        day = int(row["as_of"].timestamp() // 86400)
        mine = usage.filter(pl.col("asset_id") == row["asset_id"])
        category = usage.filter(pl.col("category") == cats[row["asset_id"]])
        for prefix, sub in (("", mine), ("cat_", category)):
            for w in WINDOWS:
                win = sub.filter((pl.col("day") < day) & (pl.col("day") >= day - w))
                assert row[f"{prefix}units_{w}"] == win["units"].sum()
                distinct = (
                    win["licensee_id"].n_unique()
                    if prefix == ""
                    else win.select("asset_id", "licensee_id").unique().height
                )
                assert row[f"{prefix}licensees_{w}"] == distinct
            block = day // 28
            per = (
                sub.filter((pl.col("day") // 28 < block) & (pl.col("day") // 28 >= block - 3))
                .group_by("licensee_id")
                .agg(pl.col("units").sum().cast(pl.Float64))
            )
            if per.height:
                top = per["units"].max() / per["units"].sum()  # type: ignore[operator]
                assert row[f"{prefix}top_share"] == pytest.approx(top)
                cap = per["units"].median() * 5  # type: ignore[operator]
                assert row[f"{prefix}robust_units"] == pytest.approx(
                    per["units"].clip(upper_bound=cap).sum()
                )
            before = sub.filter(pl.col("day") < day)
            if before.height:
                assert row[f"{prefix}days_since_last"] == day - before["day"].max()


def test_features_never_use_usage_from_the_query_day_or_later(
    market: Any, queries: pl.DataFrame
) -> None:
    full = usage_features(market.usage, market.assets, queries).collect()
    for row in queries.head(15).iter_rows(named=True):
        day_start = row["as_of"].replace(hour=0, minute=0, second=0, microsecond=0)
        past = market.usage.filter(pl.col("at") < day_start)
        one = pl.DataFrame([row], schema=queries.schema)
        alone = usage_features(past, market.assets, one).collect()
        expected = full.filter(pl.col("q") == row["q"])
        assert alone.select(FEATURE_COLUMNS).equals(expected.select(FEATURE_COLUMNS))


def test_windows_nest(market: Any, queries: pl.DataFrame) -> None:
    f = usage_features(market.usage, market.assets, queries).collect()
    for p in ("", "cat_"):
        for a, b in ((30, 90), (90, 365)):
            assert (f[f"{p}units_{a}"] <= f[f"{p}units_{b}"]).all()
            assert (f[f"{p}licensees_{a}"] <= f[f"{p}licensees_{b}"]).all()
        assert (f[f"{p}robust_units"] <= f[f"{p}units_365"] + 1e-9).all()


def test_unknown_asset_and_empty_usage() -> None:
    from valuation.contract import ASSETS, USAGE

    q = pl.DataFrame({"asset_id": ["nope"], "as_of": [pl.datetime(2024, 1, 1, time_zone="UTC")]})
    q = pl.select(asset_id=pl.lit("nope"), as_of=pl.datetime(2024, 1, 1, time_zone="UTC"))
    out = usage_features(pl.DataFrame(schema=USAGE), pl.DataFrame(schema=ASSETS), q).collect()
    assert out.height == 1
    assert out["units_365"][0] == 0 and out["licensees_90"][0] == 0
    assert out["days_since_last"][0] is None
