"""Point-in-time usage statistics (valuation/features.py) against naive recomputations.

`reference_features` below is the slow, obviously-correct definition (plain Python over the
rows); hypothesis compares the fast implementation with it on small random data, including
same-day reports (the as-of boundary), unknown assets and categories, duplicate reports and
unit counts large enough to take the implementation's wide-integer paths.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.test_valuation_helpers import market_gen
from valuation.contract import ASSETS, USAGE
from valuation.features import (
    BLOCK_DAYS,
    BLOCKS,
    DAY_US,
    FEATURE_COLUMNS,
    ROBUST_CAP,
    WINDOWS,
    usage_features,
)


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
    q = pl.select(asset_id=pl.lit("nope"), as_of=pl.datetime(2024, 1, 1, time_zone="UTC"))
    out = usage_features(pl.DataFrame(schema=USAGE), pl.DataFrame(schema=ASSETS), q).collect()
    assert out.height == 1
    assert out["units_365"][0] == 0 and out["licensees_90"][0] == 0
    assert out["days_since_last"][0] is None


# --- the slow reference -------------------------------------------------------------------

Row = tuple[str, str, int, int]  # asset, licensee, UTC day number, units


def _level_stats(rows: list[tuple[str, str, int, int]], day: int) -> dict[str, Any]:
    """STATS for one asset or category as of `day`, from its (key, licensee, day, units)
    rows; `key` is what makes a licensee distinct (the licensee, or asset + licensee)."""
    past = [r for r in rows if r[2] < day]
    out: dict[str, Any] = {}
    for w in WINDOWS:
        window = [r for r in past if r[2] >= day - w]
        out[f"units_{w}"] = sum(r[3] for r in window)
        out[f"licensees_{w}"] = len({r[0] for r in window})

    def before(lag: int) -> int:
        return sum(r[3] for r in past if r[2] < day - lag)

    c = {lag: before(lag) for lag in (0, 90, 180, 335, 365)}
    out["trend"] = math.log((c[0] - c[90] + 1) / (c[90] - c[180] + 1))
    out["seasonality"] = math.log((c[335] - c[365] + 1) / ((c[0] - c[365]) * (30 / 365) + 1))
    snapshot = day // BLOCK_DAYS
    per_licensee: dict[str, int] = {}
    for _, licensee, d, units in past:
        if snapshot - BLOCKS <= d // BLOCK_DAYS < snapshot:
            per_licensee[licensee] = per_licensee.get(licensee, 0) + units
    sums = list(per_licensee.values())
    if sums:
        total = sum(sums)
        out["top_share"] = max(sums) / total if total else math.nan
        cap = statistics.median(sums) * ROBUST_CAP
        out["robust_units"] = float(sum(min(x, cap) for x in sums))
    else:
        out["top_share"], out["robust_units"] = None, 0.0
    out["days_since_last"] = day - max(r[2] for r in past) if past else None
    out["days_since_first"] = day - min(r[2] for r in past) if past else None
    return out


def reference_features(
    usage: Iterable[Row], categories: dict[str, str], queries: Iterable[tuple[str, int]]
) -> list[dict[str, Any]]:
    """FEATURE_COLUMNS per (asset, day) query, by brute force over every usage row."""
    rows = list(usage)
    out = []
    for asset, day in queries:
        mine = [(lic, lic, d, u) for a, lic, d, u in rows if a == asset]
        category = categories.get(asset)
        theirs = [
            (f"{a}/{lic}", lic, d, u)
            for a, lic, d, u in rows
            if category is not None and categories.get(a) == category
        ]
        stats = _level_stats(mine, day)
        stats |= {f"cat_{k}": v for k, v in _level_stats(theirs, day).items()}
        out.append(stats)
    return out


def _same(got: Any, want: Any) -> bool:
    if want is None or got is None:
        return got is None and want is None
    if isinstance(want, float):
        return (math.isnan(want) and math.isnan(got)) or got == pytest.approx(want, rel=1e-9)
    return bool(got == want)


def _frames(
    usage: list[tuple[str, str, int, int, int]],
    categories: dict[str, str],
    queries: list[tuple[str, int, int]],
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Contract frames; days plus seconds within the day become UTC timestamps."""

    def at(day: int, second: int) -> datetime:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day, seconds=second)

    usage_frame = pl.DataFrame(
        {
            "asset_id": [r[0] for r in usage],
            "licence_id": [f"lic-{r[0]}-{r[1]}" for r in usage],
            "licensee_id": [r[1] for r in usage],
            "at": [at(r[2], r[3]) for r in usage],
            "units": [r[4] for r in usage],
        },
        schema=USAGE,
    )
    assets = (
        pl.DataFrame(
            {"asset_id": list(categories), "category": list(categories.values())},
            schema={"asset_id": pl.String, "category": pl.String},
        )
        .with_columns(
            pl.lit(None).cast(t).alias(n)
            for n, t in ASSETS.items()
            if n not in ("asset_id", "category")
        )
        .select(ASSETS.keys())
    )
    query_frame = pl.DataFrame(
        {"asset_id": [q[0] for q in queries], "as_of": [at(q[1], q[2]) for q in queries]},
        schema={"asset_id": pl.String, "as_of": pl.Datetime("us", "UTC")},
    )
    return usage_frame, assets, query_frame


ASSET_IDS = ("a1", "a2", "a3", "a4")
START = 19_000  # 2022-01-08: day numbers near today's, as in real data
seconds = st.integers(0, 86_399)
report = st.tuples(
    st.sampled_from(ASSET_IDS),
    st.sampled_from(("p1", "p2", "p3", "p4", "p5")),
    st.integers(START, START + 800),
    seconds,
    st.one_of(st.integers(0, 1000), st.integers(0, 2**40)),  # wide units: other key layouts
)


@st.composite
def small_markets(draw: st.DrawFn) -> tuple[list[Any], dict[str, str], list[Any]]:
    usage = draw(st.lists(report, max_size=60))
    # a3 has no category (absent from the catalogue); a5 is catalogued but never used
    categories = {a: draw(st.sampled_from(("c1", "c2"))) for a in ("a1", "a2", "a4", "a5")}
    days_used = [r[2] for r in usage]
    query_day = st.one_of(
        st.integers(START - 30, START + 1200),
        st.sampled_from(days_used or [START]),  # the day of a report: it must not count yet
        st.sampled_from([d + 1 for d in days_used] or [START]),  # the day after: now it does
    )
    queries = draw(
        st.lists(
            st.tuples(st.sampled_from((*ASSET_IDS, "a5", "a6")), query_day, seconds),
            min_size=1,
            max_size=8,
        )
    )
    return usage, categories, queries


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(
    (
        [  # a1: gaps of exactly and just over 30 days, two licensees on one day
            ("a1", "p1", START, 5, 10),
            ("a1", "p1", START + 30, 5, 1),
            ("a1", "p1", START + 61, 5, 2),
            ("a1", "p2", START + 61, 80_000, 7),
            ("a2", "p1", START + 10, 0, 2**40),
            # a4: p3 in 28-day blocks 678 and 681 only; as of block 682 only 681 counts
            ("a4", "p3", START, 0, 3),
            ("a4", "p3", START + 84, 0, 5),
            ("a4", "p4", START + 84, 0, 1),
        ],
        {"a1": "c1", "a2": "c1", "a4": "c2", "a5": "c2"},
        [
            ("a1", START + 61, 0),  # the day of a report: not yet counted
            ("a1", START + 62, 1),
            ("a1", START + 92, 0),
            ("a2", START + 11, 0),
            ("a4", START + 100, 0),
        ],
    )
)
@given(small_markets())
def test_features_match_the_reference_on_random_data(
    data: tuple[list[Any], dict[str, str], list[Any]],
) -> None:
    usage, categories, queries = data
    frames = _frames(usage, categories, queries)
    got = usage_features(*frames).collect()
    assert got.height == len(queries)
    assert got["asset_id"].to_list() == [q[0] for q in queries], "rows keep their order"
    want = reference_features(
        [(r[0], r[1], r[2], r[4]) for r in usage], categories, [(q[0], q[1]) for q in queries]
    )
    for i, expected in enumerate(want):
        row = got.row(i, named=True)
        for name in FEATURE_COLUMNS:
            assert _same(row[name], expected[name]), (queries[i], name, row[name], expected[name])


def test_the_reference_itself_on_a_hand_worked_case() -> None:
    """Guards the guard: distinct licensees, windows and the as-of day, worked by hand."""
    rows = [("a", "x", 100, 1), ("a", "y", 100, 2), ("a", "x", 130, 4), ("a", "x", 140, 8)]
    (at_140,) = reference_features(rows, {"a": "c"}, [("a", 140)])
    assert at_140["units_30"] == 4 and at_140["licensees_30"] == 1  # day 140 not yet seen
    assert at_140["units_90"] == 7 and at_140["licensees_90"] == 2
    assert at_140["days_since_last"] == 10 and at_140["days_since_first"] == 40
    assert at_140["cat_licensees_90"] == 2
    (at_100,) = reference_features(rows, {"a": "c"}, [("a", 100)])
    assert at_100["units_365"] == 0 and at_100["days_since_last"] is None


def test_negative_units_are_refused() -> None:
    usage, assets, queries = _frames([("a1", "p1", START, 0, 1)], {"a1": "c1"}, [("a1", START, 0)])
    with pytest.raises(ValueError, match="negative"):
        usage_features(usage.with_columns(pl.lit(-1, pl.Int64).alias("units")), assets, queries)
