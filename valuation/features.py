"""Point-in-time usage statistics per asset and per category (pure polars).

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

How, so that 10M usage rows take under two seconds on one core
(`scripts/bench_valuation.py --only features`). At that size a hash group-by into millions of
groups, an `over()` window, or a sort that drags other columns along (a random gather per
column) each cost a second or more, while sorting one integer column or a linear pass costs a
few tenths, and every conversion pass (a cast) over 10M values costs a few hundredths, so the
keys are built without them. So the usage rows go through
exactly two sorts, each of ONE packed integer carrying every field needed afterwards;
everything else is a linear pass over a sorted column, a small table, or a binary search:

* Sort 1 (Int128): asset hash | licensee hash | day | units. Within an asset-licensee pair the
  days come in order, so comparing each row with its neighbour gives the distinct-licensee
  events and the per-licensee 28-day block sums; the runs of each asset give it a dense code.
* Sort 2 (UInt64 when it fits): asset code | day | units. The running sum of units in this
  order, read where (asset, day) would be inserted (`search_sorted`), is the asset's total
  before that day plus the totals of all earlier assets, which cancel in the difference of two
  reads for the same asset: a windowed total is two binary searches.
* Distinct licensees in a trailing window come from events: a licensee active on days
  d1 < d2 < ... counts for query days in the union of [d_k + 1, d_k + W]; overlapping intervals
  are merged, so only the first day of each run of activity (gap > W before it) emits +1 and the
  last day (gap > W after it) emits -1 at d + W + 1. A running sum of events read as of t is
  the exact distinct count.
* Concentration needs per-licensee sums, which do not difference; it is computed on 28-day
  blocks: as of t it covers the three complete blocks before t's block (84 days, at most 28
  days stale, still never after t).
* Category statistics come from the per-asset tables (daily units, events, blocks), which are
  several times smaller than the usage rows.

Identities in sort 1 are hashes: 48 bits of the asset id and 40 or more bits of the licensee id.
A collision, ~n^2/2^49 over n assets or ~m^2/2^41 over the m licensees of one asset, would
merge two assets' or two licensees' statistics; negligible at these sizes. When unit counts
are too large to leave 40 bits, units ride along as a sorted payload instead (slower, same
result). Missing history gives 0 (counts, trend, seasonality) or null (recency, shares).
"""

from __future__ import annotations

from dataclasses import dataclass

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

_LICENSEES = tuple(f"licensees_{w}" for w in WINDOWS)
_LAGS = (0, 30, 90, 180, 335, 365)  # the cumulative reads the window statistics need
_ASSET_BITS = 48
_SPARE_BITS = 15  # the high word holds the asset hash and the top 15 bits of the licensee hash
_MIN_LOW_LICENSEE_BITS = 25  # so at least 40 bits of licensee hash in all
_NO_GAP = 1 << 30  # the "gap" before a pair's first day and after its last: beyond any window
_U64 = pl.UInt64()
_I128 = pl.Int128()


def day_number(expr: pl.Expr) -> pl.Expr:
    """UTC day number (days since 1970-01-01) of a datetime expression."""
    return expr.dt.epoch("d")


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
    The work is done eagerly (see the module docstring); the result is returned lazy.
    """
    q = queries.lazy().collect()
    rows = usage.lazy().select("asset_id", "licensee_id", "at", "units").collect()
    t = _Tables.build(rows)
    catalogue = (
        assets.lazy()
        .select(_asset_hash(pl.col("asset_id")).alias("ah"), "category")
        .unique("ah", keep="first", maintain_order=True)
        .select("ah", (pl.col("category").rank("dense") - 1).cast(pl.UInt32).alias("c"))
        .collect()
    )
    category_of = pl.lit(t.assets.join(catalogue, on="ah", how="left").sort("a")["c"]).gather(
        pl.col("a")
    )
    keys = q.select(_asset_hash(pl.col("asset_id")).alias("ah"), day_number(pl.col("as_of")))
    day = keys["as_of"]
    asset_code = keys.join(t.assets, on="ah", how="left", maintain_order="left")["a"]
    category_code = keys.join(catalogue, on="ah", how="left", maintain_order="left")["c"]

    asset_level = _Level(
        units=_Prefix(t.daily["_ad"], t.daily.select(units="_cum"), t.day_bits),
        events=_Prefix.build(t.events, "a", "eday", t.event_bits, _LICENSEES),
        blocks=t.blocks.rename({"a": "g"}),
    )
    day_mask = (1 << t.day_bits) - 1
    ad, dt = pl.col("_ad"), t.daily["_ad"].dtype
    cat_daily = (  # few groups (categories x days), so a hash group-by on one integer is cheap
        t.daily.lazy()
        .select(
            (ad // _lit(1 << t.day_bits, dt)).cast(pl.UInt32).alias("a"),
            (ad % _lit(1 << t.day_bits, dt)).cast(_U64).alias("r"),
            (pl.col("_cum") - pl.col("_cum").shift(1).fill_null(0)).alias("units"),
        )
        .select(
            (category_of.cast(_U64) * _u(1 << t.day_bits) + pl.col("r")).alias("_k"),
            "units",
        )
        .drop_nulls("_k")
        .group_by("_k")
        .agg(pl.col("units").sum())
        .select(
            (pl.col("_k") // _u(1 << t.day_bits)).alias("g"),
            (pl.col("_k") % _u(day_mask + 1)).cast(pl.Int32).alias("r"),
            "units",
        )
        .collect()
    )
    cat_events = t.events.with_columns(category_of.alias("g")).drop_nulls("g")
    cat_blocks = _merge_blocks(
        t.blocks.with_columns(category_of.alias("g")).drop_nulls("g"), t.licensee_bits
    )
    category_level = _Level(
        units=_Prefix.build(cat_daily, "g", "r", t.day_bits, ("units",)),
        events=_Prefix.build(cat_events, "g", "eday", t.event_bits, _LICENSEES),
        blocks=cat_blocks,
    )
    stats = asset_level.statistics(asset_code, day, t.first_day)
    cat_stats = category_level.statistics(category_code, day, t.first_day)
    return q.with_columns(
        *stats.iter_columns(), *(c.alias(f"cat_{c.name}") for c in cat_stats.iter_columns())
    ).lazy()


def _asset_hash(expr: pl.Expr) -> pl.Expr:
    return expr.hash() // _u(1 << (64 - _ASSET_BITS))


def _u(value: int) -> pl.Expr:
    """A UInt64 literal. Untyped literals make polars compute in a wider type: 5x slower."""
    return pl.lit(value, dtype=_U64)


def _stream(frame: pl.LazyFrame) -> pl.DataFrame:
    """Run a pass over millions of rows on the streaming engine.

    It works on morsels of ~100k rows, so the ~10 steps of an expression stay in cache and no
    intermediate column of the full length is allocated. That matters twice: memory bandwidth,
    and page faults -- polars' allocator (jemalloc) hands freed memory back to the kernel
    quickly, so every new 10M-row buffer is faulted in afresh, which costs about as much as the
    arithmetic on it. The result comes in many chunks; see `_small`.
    """
    return frame.collect(engine="streaming")


def _small(frame: pl.LazyFrame) -> pl.DataFrame:
    """`_stream` for a pass whose result is small: rechunked, since binary searches, gathers
    and shifts are slower over many chunks."""
    return _stream(frame).rechunk()


def _lit(value: int, dtype: pl.DataType) -> pl.Expr:
    return pl.lit(value, dtype=dtype)


def _bit_length(value: object) -> int:
    return max(1, value.bit_length()) if isinstance(value, int) else 1


def _key_dtype(bits: int) -> pl.DataType:
    return _U64 if bits <= 64 else _I128


@dataclass(frozen=True)
class _Prefix:
    """Rows sorted by a packed key (group | day) and their running sums.

    `sums[i]` sums the rows up to and including position i, so the sum over the rows with
    (group, day) below a probe is `sums[keys.search_sorted(probe) - 1]` (`before`); it includes
    all rows of lower groups, which cancel in the difference of two reads for the same group.
    """

    keys: pl.Series
    sums: pl.DataFrame
    day_bits: int

    @staticmethod
    def build(
        table: pl.DataFrame,
        group: str,
        day: str,
        day_bits: int,
        values: tuple[str, ...],
    ) -> _Prefix:
        """From a small unsorted table: sorting it with its values is cheap enough."""
        dt = _key_dtype(_bit_length(table[group].max()) + day_bits)
        key = pl.col(group).cast(dt) * _lit(1 << day_bits, dt) + pl.col(day).cast(dt)
        ordered = table.select(key.alias("_k"), *values).sort("_k").rechunk()
        sums = ordered.select(pl.col(v).cast(pl.Int64).cum_sum() for v in values)
        return _Prefix(ordered["_k"], sums, day_bits)

    def before(self, at: pl.Series) -> pl.DataFrame:
        """The sums over the rows before positions `at` (from `probe`)."""
        n = self.sums.height
        previous = at.cast(pl.Int64) - 1
        if n == 0:
            picked = self.sums.clear(at.len())
        else:
            picked = self.sums.select(pl.all().gather(previous.clip(0, n - 1)))
        return picked.select(
            pl.when(pl.lit(previous) >= 0).then(pl.col(v)).otherwise(0).alias(v)
            for v in self.sums.columns
        )

    def probe(self, group: pl.Series, day: pl.Series) -> pl.Series:
        """Per (group, day): the position of the first row at or after it (day clipped)."""
        dt = self.keys.dtype
        key = pl.select(
            group.cast(dt) * _lit(1 << self.day_bits, dt)
            + day.clip(0, (1 << self.day_bits) - 1).cast(dt)
        ).to_series()
        return self.keys.search_sorted(key, side="left")

    def row(self, at: pl.Series) -> pl.DataFrame:
        """(g, r) of the rows at positions `at` (Int64); null for positions out of range."""
        n = self.keys.len()
        inside = ((at >= 0) & (at < n)).alias("_in")
        if n == 0:
            picked = pl.Series("_k", [0] * at.len(), dtype=self.keys.dtype)
        else:
            picked = self.keys.gather(at.clip(0, n - 1)).alias("_k")
        dt, k = self.keys.dtype, pl.col("_k")
        return pl.DataFrame([picked, inside]).select(
            pl.when("_in").then((k // _lit(1 << self.day_bits, dt)).cast(pl.Int64)).alias("g"),
            pl.when("_in").then((k % _lit(1 << self.day_bits, dt)).cast(pl.Int32)).alias("r"),
        )


@dataclass(frozen=True)
class _Tables:
    """Everything the statistics need from the usage rows, at the asset level.

    assets (a: dense asset code, ah: asset hash); daily (see `_daily`); events (a, eday,
    licensees_W: +1 / -1 / 0); blocks (a, lh: licensee hash, b: 28-day block, units), sorted
    and unique by (a, lh, b). Days r and eday count from `first_day`.
    """

    assets: pl.DataFrame
    daily: pl.DataFrame
    events: pl.DataFrame
    blocks: pl.DataFrame
    first_day: int
    day_bits: int
    event_bits: int
    licensee_bits: int  # of the licensee hash in blocks.lh

    @staticmethod
    def build(rows: pl.DataFrame) -> _Tables:
        bounds = rows.select(
            day_number(pl.col("at").min()).alias("first"),
            day_number(pl.col("at").max()).alias("last"),
            pl.col("units").min().alias("min_units"),
            pl.col("units").max().alias("max_units"),
        ).row(0, named=True)
        if bounds["min_units"] is not None and bounds["min_units"] < 0:
            raise ValueError("usage units must not be negative")
        first = bounds["first"] if bounds["first"] is not None else 0
        span = bounds["last"] - first + 1 if bounds["last"] is not None else 1
        layout = _Layout.of(_bit_length(span), _bit_length(bounds["max_units"]))
        pairs = _sort_by_pair(rows, first, layout)
        return _Tables(
            assets=pairs.filter("new_asset").select(
                "a", (pl.col("hi") // _u(1 << _SPARE_BITS)).alias("ah")
            ),
            daily=_daily(pairs, layout),
            events=_events(pairs, layout),
            blocks=_blocks(pairs, first, layout),
            first_day=first,
            day_bits=layout.day_bits,
            event_bits=_bit_length(span + max(WINDOWS) + 1),
            licensee_bits=_SPARE_BITS + layout.licensee_low,
        )


@dataclass(frozen=True)
class _Layout:
    """Sort 1's key: hi word = asset hash (48) | licensee hash top (15); lo word = licensee
    hash rest (licensee_low) | day (day_bits) | units (unit_bits, when packed)."""

    day_bits: int
    unit_bits: int
    packed: bool  # units in the key; else a payload (huge unit counts)

    @staticmethod
    def of(day_bits: int, unit_bits: int) -> _Layout:
        packed = 64 - day_bits - unit_bits >= _MIN_LOW_LICENSEE_BITS
        return _Layout(day_bits, unit_bits, packed)

    @property
    def low(self) -> int:
        """Bits below the day in the lo word."""
        return self.unit_bits if self.packed else 0

    @property
    def licensee_low(self) -> int:
        return 64 - self.day_bits - self.low

    @property
    def day(self) -> pl.Expr:
        """r: the day (from the first) of a sort-1 row."""
        return ((pl.col("lo") // _u(1 << self.low)) % _u(1 << self.day_bits)).cast(pl.Int32)

    @property
    def units(self) -> pl.Expr:
        """A sort-1 row's units: UInt64 when packed (decoded from lo), else the Int64 payload.
        Callers cast once, where they need a type, rather than on every 10M-row decode."""
        return pl.col("lo") % _u(1 << self.unit_bits) if self.packed else pl.col("units")


def _sort_by_pair(rows: pl.DataFrame, first: int, layout: _Layout) -> pl.DataFrame:
    """Sort 1: the rows ordered by (asset, licensee, day), with run flags.

    Columns: hi, lo (the key's words), units when not packed (else `layout.units` decodes it
    from lo), new_asset / new_pair (first row of its asset / asset-licensee pair), a (dense
    asset code), r (day - first).
    """
    lic = pl.col("licensee_id").hash()
    hi = _asset_hash(pl.col("asset_id")) * _u(1 << _SPARE_BITS) + lic // _u(1 << 64 - _SPARE_BITS)
    # reinterpreting the (non-negative) signed values as unsigned costs no pass over the data
    since_first = pl.col("at").dt.epoch("us") - pl.lit(first * DAY_US, pl.Int64)
    day = since_first.reinterpret(signed=False) // _u(DAY_US)
    lo = (lic % _u(1 << layout.licensee_low)) * _u(1 << (layout.day_bits + layout.low)) + day * _u(
        1 << layout.low
    )
    if layout.packed:
        lo = lo + pl.col("units").cast(pl.Int64).reinterpret(signed=False)
    key = (hi.cast(_I128) * _lit(1 << 64, _I128) + lo.cast(_I128)).alias("k")
    if layout.packed:
        # streaming: the ~20 elementwise steps run on cache-sized morsels, not 9.5M-row columns
        ordered = _stream(rows.lazy().select(key))["k"].sort().to_frame()
    else:
        ordered = rows.select(key, pl.col("units").cast(pl.Int64)).sort("k")
    asset = pl.col("hi") // _u(1 << _SPARE_BITS)
    pair_low = pl.col("lo") // _u(1 << (layout.day_bits + layout.low))
    return (
        ordered.lazy()
        .select(
            (pl.col("k") // _lit(1 << 64, _I128)).cast(_U64, wrap_numerical=True).alias("hi"),
            pl.col("k").cast(_U64, wrap_numerical=True).alias("lo"),
            *([] if layout.packed else ["units"]),
        )
        .with_columns(
            (asset != asset.shift(1)).fill_null(True).alias("new_asset"),
            ((pl.col("hi") != pl.col("hi").shift(1)) | (pair_low != pair_low.shift(1)))
            .fill_null(True)
            .alias("new_pair"),
            asset.rle_id().alias("a"),
            layout.day.alias("r"),
        )
        .pipe(_stream)
    )


def _daily(pairs: pl.DataFrame, layout: _Layout) -> pl.DataFrame:
    """Sort 2: units per (asset code, day), sorted, from one sort of a packed integer.

    Columns _ad (the key a | r) and _cum (the running sum of units up to and including the
    day): the asset level's `_Prefix`, and the daily sums as differences.
    """
    day_bits, unit_bits = layout.day_bits, layout.unit_bits
    dt = _key_dtype(_bit_length(pairs["a"].max()) + day_bits + unit_bits)
    if layout.packed and dt == _U64:  # the lo word already ends in (day | units)
        day_units = pl.col("lo") % _u(1 << (day_bits + unit_bits))
    else:
        day_units = pl.col("r").cast(dt) * _lit(1 << unit_bits, dt) + layout.units.cast(dt)
    key = pl.col("a").cast(dt) * _lit(1 << (day_bits + unit_bits), dt) + day_units
    keys = _stream(pairs.lazy().select(key.alias("k")))["k"].sort()
    day = pl.col("k") // _lit(1 << unit_bits, dt)
    return (
        keys.to_frame()
        .lazy()
        .select(
            day.alias("_ad"),
            (pl.col("k") % _lit(1 << unit_bits, dt)).cum_sum().alias("_cum"),
            (day != day.shift(-1)).fill_null(True).alias("_end"),
        )
        .filter("_end")
        .select("_ad", pl.col("_cum").cast(pl.Int64))
        .pipe(_small)
    )


def _events(pairs: pl.DataFrame, layout: _Layout) -> pl.DataFrame:
    """Distinct-licensee events per asset: (a, eday, licensees_W) with +1 / -1 / 0."""
    no_gap = pl.lit(_NO_GAP, pl.Int32)
    r = pl.col("r")
    gap = pl.when("new_pair").then(no_gap).otherwise(r - r.shift(1))
    shortest = pl.lit(min(WINDOWS), pl.Int32)
    edges = (
        pairs.lazy()
        .select("a", "r", gap.alias("before"))
        .with_columns(pl.col("before").shift(-1).fill_null(no_gap).alias("after"))
        .filter((pl.col("before") > shortest) | (pl.col("after") > shortest))
        .pipe(_small)
    )
    parts = []
    for w, name in zip(WINDOWS, _LICENSEES, strict=True):
        for side, at, delta in (("before", 1, 1), ("after", w + 1, -1)):
            parts.append(
                edges.filter(pl.col(side) > w).select(
                    "a",
                    (pl.col("r") + at).alias("eday"),
                    *(pl.lit(delta if n == name else 0, pl.Int32).alias(n) for n in _LICENSEES),
                )
            )
    return pl.concat(parts, rechunk=True)


def _blocks(pairs: pl.DataFrame, first: int, layout: _Layout) -> pl.DataFrame:
    """Units per (asset, licensee, 28-day block): the sums of runs of sort-1 rows."""
    block = (pl.col("r") + pl.lit(first, pl.Int32)) // pl.lit(BLOCK_DAYS, pl.Int32)
    last_of_run = (pl.col("new_pair").shift(-1) | (block != block.shift(-1))).fill_null(True)
    licensee = (pl.col("hi") % _u(1 << _SPARE_BITS)) * _u(1 << layout.licensee_low) + pl.col(
        "lo"
    ) // _u(1 << (layout.day_bits + layout.low))
    return (
        pairs.lazy()
        .with_columns(layout.units.cum_sum().alias("_cum"))  # over every row, then filtered
        .filter(last_of_run)
        .select(
            "a",
            licensee.alias("lh"),
            block.alias("b"),
            (pl.col("_cum") - pl.col("_cum").shift(1).fill_null(0)).cast(pl.Int64).alias("units"),
        )
        .pipe(_small)
    )


def _merge_blocks(blocks: pl.DataFrame, licensee_bits: int) -> pl.DataFrame:
    """(g, lh, b, units) sorted and unique by (g, lh, b): one sort of a packed key, then the
    sums of runs of equal keys."""
    first, last = blocks.select(pl.col("b").min(), pl.col("b").max().alias("_last")).row(0)
    low = first if isinstance(first, int) else 0
    block_bits = _bit_length(last - low if isinstance(last, int) else 0)
    dt = _key_dtype(_bit_length(blocks["g"].max()) + licensee_bits + block_bits)
    key = (
        pl.col("g").cast(dt) * _lit(1 << (licensee_bits + block_bits), dt)
        + pl.col("lh").cast(dt) * _lit(1 << block_bits, dt)
        + (pl.col("b") - low).cast(dt)
    )
    return (
        blocks.select(key.alias("_k"), "g", "lh", "b", "units")
        .sort("_k")
        .lazy()
        .with_columns(pl.col("units").cum_sum().alias("_cum"))
        .filter((pl.col("_k") != pl.col("_k").shift(-1)).fill_null(True))
        .select(
            "g", "lh", "b", (pl.col("_cum") - pl.col("_cum").shift(1).fill_null(0)).alias("units")
        )
        .pipe(_small)
    )


@dataclass(frozen=True)
class _Level:
    """The tables of one level (assets or categories), keyed by a dense group code g."""

    units: _Prefix
    events: _Prefix
    blocks: pl.DataFrame  # (g, lh, b, units), sorted and unique by (g, lh, b)

    def statistics(self, code: pl.Series, day: pl.Series, first_day: int) -> pl.DataFrame:
        """STATS for each (group code, UTC day number) pair; a null code has no history.

        The pairs are processed sorted by (group, day), so every binary search runs in order
        (cache-friendly), and returned in the given order.
        """
        base = (
            pl.DataFrame([code.alias("_code"), day.alias("_day")])
            .with_row_index("_i")
            .with_columns(
                pl.col("_code").is_not_null().alias("_known"),
                pl.col("_code").fill_null(0).cast(pl.Int64).alias("_g"),
                (pl.col("_day").cast(pl.Int64) - first_day).alias("_rel"),
            )
            .sort("_g", "_rel")
        )
        g, rel = base["_g"], base["_rel"]
        ats = {lag: self.units.probe(g, rel - lag) for lag in _LAGS}
        reads = [self.units.before(ats[lag])["units"].alias(f"_c{lag}") for lag in _LAGS]
        last = self.units.row(ats[0].cast(pl.Int64) - 1).rename({"g": "_lg", "r": "_lr"})
        earliest = self.units.row(self.units.probe(g, rel * 0).cast(pl.Int64))
        active = self.events.before(self.events.probe(g, rel + 1))
        snapshot = base["_day"] // BLOCK_DAYS
        frame = pl.concat(
            [
                base.with_columns(reads),
                last,
                earliest.rename({"g": "_fg", "r": "_fr"}),
                active,
                _concentration(self.blocks, base["_code"], snapshot),
            ],
            how="horizontal",
        )
        c = {lag: pl.when("_known").then(pl.col(f"_c{lag}")).otherwise(0) for lag in _LAGS}
        same = pl.col("_known") & (pl.col("_lg") == pl.col("_g"))
        began = (
            pl.col("_known") & (pl.col("_fg") == pl.col("_g")) & (pl.col("_fr") < pl.col("_rel"))
        )
        return (
            frame.select(
                "_i",
                *((c[0] - c[w]).alias(f"units_{w}") for w in WINDOWS),
                *(pl.when("_known").then(pl.col(n)).otherwise(0).alias(n) for n in _LICENSEES),
                ((c[0] - c[90] + 1) / (c[90] - c[180] + 1)).log().alias("trend"),
                ((c[335] - c[365] + 1) / ((c[0] - c[365]) * (30 / 365) + 1))
                .log()
                .alias("seasonality"),
                "top_share",
                pl.col("robust_units").fill_null(0.0),
                pl.when(same)
                .then(pl.col("_rel") - pl.col("_lr"))
                .cast(pl.Int32)
                .alias("days_since_last"),
                pl.when(began)
                .then(pl.col("_rel") - pl.col("_fr"))
                .cast(pl.Int32)
                .alias("days_since_first"),
            )
            .sort("_i")
            .drop("_i")
        )


def _snapshot_key(group: pl.Expr, snapshot: pl.Expr) -> pl.Expr:
    """(group, snapshot) as one Int64, for cheap joins and group-bys."""
    return group.cast(pl.Int64) * (1 << 32) + snapshot.cast(pl.Int64)


def _concentration(blocks: pl.DataFrame, code: pl.Series, snapshot: pl.Series) -> pl.DataFrame:
    """top_share and robust_units over the BLOCKS complete 28-day blocks before `snapshot`.

    `blocks` is sorted by (g, lh, b), so a licensee's sum over the blocks s-BLOCKS..s-1 is its
    row for the last block before s plus up to BLOCKS-1 rows before it: shifts, no group-by.
    Each (g, licensee, s) comes from exactly one row: the last one of that licensee before s.
    """
    queries = pl.DataFrame([code.alias("g"), snapshot.alias("s")]).select(
        _snapshot_key(pl.col("g"), pl.col("s")).alias("_gs")
    )
    g, lh, b, x = pl.col("g"), pl.col("lh"), pl.col("b"), pl.col("units")
    new = ((g != g.shift(1)) | (lh != lh.shift(1))).fill_null(True)
    same = [~new]  # same[j - 1]: the row j back belongs to the same licensee
    for j in range(2, BLOCKS):
        same.append(same[-1] & (~new).shift(j - 1).fill_null(False))
    next_same = (~new).shift(-1).fill_null(False)
    lookback = blocks.lazy().select(
        "g",
        "b",
        "units",
        pl.when(next_same).then(b.shift(-1) - b).otherwise(BLOCKS).alias("_next"),
        *(pl.when(same[j - 1]).then(b.shift(j)).alias(f"_b{j}") for j in range(1, BLOCKS)),
        *(x.shift(j).alias(f"_x{j}") for j in range(1, BLOCKS)),
    )
    parts = []
    for k in range(1, BLOCKS + 1):
        s = b + k
        total = x + pl.sum_horizontal(
            pl.when(pl.col(f"_b{j}") >= s - BLOCKS).then(pl.col(f"_x{j}")).otherwise(0)
            for j in range(1, BLOCKS)
        )
        parts.append(
            lookback.filter(pl.col("_next") >= k).select(
                _snapshot_key(g, s).alias("_gs"), total.alias("x")
            )
        )
    wanted = queries.lazy().drop_nulls().unique()
    per_licensee = pl.concat(parts).join(wanted, on="_gs", how="semi")
    x = pl.col("x")
    snapshots = per_licensee.group_by("_gs").agg(
        (x.max() / x.sum()).alias("top_share"),
        x.cast(pl.Float64).clip(upper_bound=x.median() * ROBUST_CAP).sum().alias("robust_units"),
    )
    return (
        queries.lazy()
        .join(snapshots, on="_gs", how="left", maintain_order="left")
        .select("top_share", "robust_units")
        .collect()
    )
