"""Point-in-time usage statistics per asset and per category (pure, lazy polars).

A feature "as of t" uses only usage reported on days strictly before t's UTC day: never the
day of t itself, never anything later. That is slightly conservative (same-day reports are
ignored) and makes every statistic reproducible from a snapshot of the ledger taken at t.

Why these statistics: the price of a licence moves with demand for the asset, and demand shows
in usage. Windowed totals (30/90/365 days) and *distinct licensees* measure it at different
speeds; `trend` (last 90 days vs the 90 before) and `seasonality` (the coming 30 days of last
year vs last year's average month) project it; `top_share` (share of the top licensee) says how
concentrated -- and how easy to fake -- the volume is, and `robust_units` caps each licensee at
5 x the median licensee so one fake licensee cannot inflate volume much; `days_since_last` is
recency. The same statistics for the asset's category describe its market.

How, so that 10M usage rows take seconds: no per-query scans.

* Windowed units are differences of a per-key cumulative daily sum, read with as-of joins at
  t, t-30, t-90, ... (each one a sorted merge).
* Distinct licensees in a trailing window come from events: a licensee active on days
  d1 < d2 < ... counts for query days in the union of [d_k + 1, d_k + W]; overlapping intervals
  are merged, so only the first day of each run of activity (gap > W before it) emits +1 and the
  last day (gap > W after it) emits -1 at d + W + 1. A cumulative sum of events read as of t is
  the exact distinct count.
* Concentration needs per-licensee sums, which do not difference; it is computed on 28-day
  blocks: as of t it covers the three complete blocks before t's block (84 days, at most 28
  days stale, still never after t).

Speed: the heavy work is done once, per asset, from a single sort of the usage rows by
(asset-licensee pair, day); category statistics are aggregated from those per-asset tables.
Keys are 48-bit hashes of the ids packed with the day number into one 64-bit integer (a
collision, ~n^2/2^49 for n keys, would merge two assets' or pairs' statistics; negligible at
these sizes). Missing history gives 0 (counts) or null (recency, shares).
"""

from __future__ import annotations

import polars as pl

DAY_US = 86_400_000_000
WINDOWS: tuple[int, ...] = (30, 90, 365)
BLOCK_DAYS = 28
BLOCKS = 3
ROBUST_CAP = 5.0  # robust_units: each licensee counted up to this many times the median one

STATS: tuple[str, ...] = (
    *(f"units_{w}" for w in WINDOWS),
    *(f"licensees_{w}" for w in WINDOWS),
    "trend",
    "seasonality",
    "top_share",
    "robust_units",
    "days_since_last",
    "days_since_first",
)
FEATURE_COLUMNS: tuple[str, ...] = (*STATS, *(f"cat_{s}" for s in STATS))


def day_number(expr: pl.Expr) -> pl.Expr:
    """UTC day number (days since 1970-01-01) of a datetime expression."""
    return (expr.dt.epoch("us") // DAY_US).cast(pl.Int32)


def usage_features(
    usage: pl.DataFrame | pl.LazyFrame,
    assets: pl.DataFrame | pl.LazyFrame,
    queries: pl.DataFrame | pl.LazyFrame,
) -> pl.LazyFrame:
    """`queries` (any columns, including `asset_id` and `as_of`) with FEATURE_COLUMNS added.

    Asset statistics come from the asset's usage; `cat_*` from all usage of assets in the same
    category (per `assets`). For a category, `cat_licensees_W` counts distinct (licensee,
    asset) pairs -- licences in use -- so it can be summed from the per-asset events; everything
    else has the same meaning as for an asset. Rows of `queries` keep their order and count.
    """
    q = queries.lazy().with_columns(
        _key=pl.col("asset_id").hash() // _SHIFT, _day=day_number(pl.col("as_of"))
    )
    catmap = (
        assets.lazy()
        .select(_key=pl.col("asset_id").hash() // _SHIFT, _ckey=pl.col("category").hash() // _SHIFT)
        .unique("_key")
    )
    daily_df, events_df, blocks_df = _asset_tables(usage.lazy())
    daily, events, blocks = daily_df.lazy(), events_df.lazy(), blocks_df.lazy()
    q = q.join(catmap, on="_key", how="left", maintain_order="left")
    asset_stats = _statistics(daily, events, blocks, q.select("_key", "_day").unique())
    cat_daily = (
        daily.join(catmap, on="_key")
        .group_by("_ckey", "_uday")
        .agg(pl.col("units").sum())
        .rename({"_ckey": "_key"})
    )
    cat_events = (
        events.join(catmap, on="_key")
        .group_by("_ckey", "_eday")
        .agg(pl.col(n).sum() for n in _LICENSEES)
        .rename({"_ckey": "_key"})
    )
    cat_blocks = (
        blocks.join(catmap, on="_key")
        .group_by("_ckey", "_lk", "_b")
        .agg(pl.col("units").sum())
        .rename({"_ckey": "_key"})
    )
    cat_q = q.select(pl.col("_ckey").alias("_key"), "_day").drop_nulls().unique()
    cat_stats = _statistics(cat_daily, cat_events, cat_blocks, cat_q).rename(
        {s: f"cat_{s}" for s in STATS} | {"_key": "_ckey"}
    )
    return (
        q.join(asset_stats, on=["_key", "_day"], how="left", maintain_order="left")
        .join(cat_stats, on=["_ckey", "_day"], how="left", maintain_order="left")
        .with_columns(
            pl.col(f"{p}{s}").fill_null(0)
            for p in ("", "cat_")
            for s in STATS
            if s.startswith(("units", "licensees", "robust"))
        )
        .drop("_key", "_ckey", "_day")
    )


_SHIFT = 65536  # keys are 48-bit hashes; a day number (< 65536 until 2149) packs below them
_LICENSEES = tuple(f"licensees_{w}" for w in WINDOWS)


def _asset_tables(usage: pl.LazyFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Per-asset intermediate tables, materialised once (every later step reads them twice).

    daily (_key, _uday, units); distinct-licensee events (_key, _eday, licensees_W...);
    per-licensee 28-day block sums (_key, _lk, _b, units). The usage rows are touched by two
    single-key group-bys and ONE sort of a single packed column (pair hash | day) -- the
    cheapest shapes of those operations in polars.
    """
    base = (
        usage.select(
            _ah=pl.col("asset_id").hash(),
            _lk=pl.col("licensee_id").hash(),
            _day=day_number(pl.col("at")).cast(pl.UInt64),
            units=pl.col("units").cast(pl.Int64),
        )
        .with_columns(
            _key=pl.col("_ah") // _SHIFT, _pair=pl.col("_ah").xor(pl.col("_lk")) // _SHIFT
        )
        .drop("_ah")
    )
    daily = (
        base.group_by((pl.col("_key") * _SHIFT + pl.col("_day")).alias("_ad"))
        .agg(pl.col("units").sum())
        .select(
            (pl.col("_ad") // _SHIFT).alias("_key"),
            (pl.col("_ad") % _SHIFT).cast(pl.Int32).alias("_uday"),
            "units",
        )
    )
    blocks = (
        base.group_by((pl.col("_pair") * _SHIFT + pl.col("_day") // BLOCK_DAYS).alias("_pb"))
        .agg(pl.col("units").sum(), pl.col("_key").first(), pl.col("_lk").first())
        .select(
            "_key",
            "_lk",
            (pl.col("_pb") % _SHIFT).cast(pl.Int32).alias("_b"),
            "units",
            (pl.col("_pb") // _SHIFT).alias("_pair"),
        )
    )
    runs = (
        base.select((pl.col("_pair") * _SHIFT + pl.col("_day")).sort().alias("_pd"))
        .select(
            (pl.col("_pd") // _SHIFT).alias("_pair"),
            (pl.col("_pd") % _SHIFT).cast(pl.Int32).alias("_day"),
        )
        .with_columns(
            same_prev=pl.col("_pair") == pl.col("_pair").shift(1),
            same_next=pl.col("_pair") == pl.col("_pair").shift(-1),
        )
        .with_columns(
            gap_prev=pl.when(pl.col("same_prev")).then(pl.col("_day") - pl.col("_day").shift(1)),
            gap_next=pl.when(pl.col("same_next")).then(pl.col("_day").shift(-1) - pl.col("_day")),
        )
    )
    parts = []
    for w, col in zip(WINDOWS, _LICENSEES, strict=True):
        parts.append(
            runs.filter(pl.col("gap_prev").is_null() | (pl.col("gap_prev") > w)).select(
                "_pair", (pl.col("_day") + 1).alias("_eday"), pl.lit(1, pl.Int32).alias(col)
            )
        )
        parts.append(
            runs.filter(pl.col("gap_next").is_null() | (pl.col("gap_next") > w)).select(
                "_pair", (pl.col("_day") + w + 1).alias("_eday"), pl.lit(-1, pl.Int32).alias(col)
            )
        )
    pair_events = pl.concat(parts, how="diagonal").with_columns(
        pl.col(n).fill_null(0) for n in _LICENSEES
    )
    daily_df, blocks_df, pair_events_df = pl.collect_all([daily, blocks, pair_events])
    owner = blocks_df.select("_pair", "_key").unique("_pair")
    events_df = (
        pair_events_df.join(owner, on="_pair")
        .group_by("_key", "_eday")
        .agg(pl.col(n).sum() for n in _LICENSEES)
    )
    return daily_df, events_df, blocks_df.drop("_pair")


def _cumulative(table: pl.LazyFrame, day: str, values: tuple[str, ...]) -> pl.LazyFrame:
    """Per-key running sums of `values`, sorted by the packed key (_key, day) in `_kd`.

    Sorting one packed column is the cheapest sort, and the running sum within a key is the
    global running sum minus its value just before the key's first row.
    """
    packed = (
        table.select(
            (pl.col("_key") * _SHIFT + pl.col(day).cast(pl.UInt64)).alias("_kd"),
            *(pl.col(v) for v in values),
        )
        .sort("_kd")
        .with_columns(pl.col(v).cum_sum() for v in values)
    )
    start = ((pl.col("_kd") // _SHIFT) != (pl.col("_kd") // _SHIFT).shift(1)).fill_null(True)
    return packed.with_columns(
        (
            pl.col(v)
            - pl.when(start).then(pl.col(v).shift(1).fill_null(0)).otherwise(None).forward_fill()
        )
        for v in values
    )


def _as_of(
    queries: pl.LazyFrame, table: pl.LazyFrame, lag: int, values: dict[str, str], strict: bool
) -> pl.LazyFrame:
    """Join each query (_key, _day) to the last row of `table` (from `_cumulative`) with day
    < _day - lag (or <= when not strict) and the same key; `values` renames the columns."""
    right = table.select("_kd", *(pl.col(v).alias(n) for v, n in values.items())).with_columns(
        pl.col("_kd").alias("_hit")
    )
    at = pl.col("_key") * _SHIFT + (pl.col("_day") - lag).clip(lower_bound=0).cast(pl.UInt64)
    return (
        queries.with_columns(at.alias("_kd"))
        .sort("_kd")
        .join_asof(
            right,
            on="_kd",
            strategy="backward",
            allow_exact_matches=not strict,
            check_sortedness=False,
        )
        .with_columns(
            pl.when(pl.col("_hit") // _SHIFT == pl.col("_key")).then(pl.col(n)).alias(n)
            for n in values.values()
        )
        .with_columns(
            pl.when(pl.col("_hit") // _SHIFT == pl.col("_key"))
            .then((pl.col("_hit") % _SHIFT).cast(pl.Int32))
            .alias("_hit")
        )
        .drop("_kd")
    )


def _statistics(
    daily: pl.LazyFrame, events: pl.LazyFrame, blocks: pl.LazyFrame, queries: pl.LazyFrame
) -> pl.LazyFrame:
    """STATS for each (`_key`, `_day`) of `queries` from one level's tables."""
    cum = _cumulative(daily, "_uday", ("units",)).collect().lazy()
    out = queries
    for lag in (0, 30, 90, 180, 335, 365):
        out = _as_of(out, cum, lag, {"units": f"_c{lag}"}, strict=True)
        out = out.with_columns(pl.col(f"_c{lag}").fill_null(0))
        out = out.rename({"_hit": "_last"}) if lag == 0 else out.drop("_hit")
    first = daily.group_by("_key").agg(pl.col("_uday").min().alias("_first"))
    out = out.with_columns(
        (pl.col("_c0") - pl.col("_c30")).alias("units_30"),
        (pl.col("_c0") - pl.col("_c90")).alias("units_90"),
        (pl.col("_c0") - pl.col("_c365")).alias("units_365"),
        (
            ((pl.col("_c0") - pl.col("_c90") + 1) / (pl.col("_c90") - pl.col("_c180") + 1)).log()
        ).alias("trend"),
        (
            (
                (pl.col("_c335") - pl.col("_c365") + 1)
                / ((pl.col("_c0") - pl.col("_c365")) * (30 / 365) + 1)
            ).log()
        ).alias("seasonality"),
        (pl.col("_day") - pl.col("_last")).alias("days_since_last"),
    )
    out = out.join(first, on="_key", how="left").with_columns(
        pl.when(pl.col("_first") < pl.col("_day"))
        .then(pl.col("_day") - pl.col("_first"))
        .alias("days_since_first")
    )
    table = _cumulative(events, "_eday", _LICENSEES)
    out = _as_of(out, table, 0, {n: n for n in _LICENSEES}, strict=False).drop("_hit")
    out = out.with_columns(pl.col(n).fill_null(0) for n in _LICENSEES)
    out = _concentration(blocks, out)
    return out.select("_key", "_day", *STATS)


def _concentration(blocks: pl.LazyFrame, queries: pl.LazyFrame) -> pl.LazyFrame:
    """top_share and robust_units over the BLOCKS complete 28-day blocks before t's block."""
    wanted = queries.select("_key", (pl.col("_day") // BLOCK_DAYS).cast(pl.Int64).alias("_s"))
    per_snapshot = (
        blocks.group_by("_key", "_lk", "_b")
        .agg(pl.col("units").sum())
        .with_columns(
            pl.int_ranges(pl.col("_b") + 1, pl.col("_b") + 1 + BLOCKS, dtype=pl.Int64).alias("_s")
        )
        .explode("_s")
        .join(wanted.unique(), on=["_key", "_s"], how="semi")
        .group_by("_key", "_s", "_lk")
        .agg(pl.col("units").sum())
    )
    snap = (
        per_snapshot.with_columns(
            (pl.col("units").median().over("_key", "_s") * ROBUST_CAP).alias("_cap")
        )
        .group_by("_key", "_s")
        .agg(
            (pl.col("units").max() / pl.col("units").sum()).alias("top_share"),
            pl.min_horizontal(pl.col("units").cast(pl.Float64), pl.col("_cap"))
            .sum()
            .alias("robust_units"),
        )
    )
    return (
        queries.with_columns((pl.col("_day") // BLOCK_DAYS).cast(pl.Int64).alias("_s"))
        .join(snap, on=["_key", "_s"], how="left")
        .drop("_s")
    )
