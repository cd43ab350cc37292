"""A seeded synthetic data-licence market with a known, hidden price function.

Why: the valuation module (`valuation/`) can only be judged against prices whose true value is
known. Real ledgers never reveal the price a licence "should" have had, nor which trades were wash
trades. This generator draws a market from a documented model, so a backtest can compare an
estimator with (a) the noise-free truth -- the best any estimator can do, "the noise floor" --
and (b) simple baselines, and can measure how much planted wash trading moves the estimates.

What is drawn (every number below is a `MarketConfig` field):

* Categories (`n_categories`, Zipf-like sizes): a base log price for a reference licence
  (10,000 units, 365 days, purpose "internal", non-exclusive), a units elasticity beta_c in
  [0.35, 0.7] and, at the regime shift, a log level jump ~ N(0, `regime_sigma`).
* Assets: category, quality in 0..1 (Beta(4, 3); `quality_missing` of the scores are hidden), a
  Zipf popularity (exponent `popularity_exponent` over a random ranking), a popularity trend
  g_a ~ N(0, `trend_sigma`) per year, an idiosyncratic log value eta_a ~ N(0, `asset_sigma`)
  that no feature reveals (only the asset's own trades and, noisily, its declared cost),
  classification and personal-information class (small price effects), record count and size.
  `cold_start_share` of the assets are registered late (60-95 % through the timeline), so the
  backtest sees assets with little or no history.
* Declared cost: `cost_share` of the assets declare one, ~ 8 x their reference value at
  registration x LogNormal(0, 0.35) -- informative but noisy, as declared costs are.
* The hidden price function (`HiddenPrice.log_price`), noise-free:

      log P* = base_c + 0.9 (q - 0.6) + 0.3 log(pop_a / median pop) + class + personal
               + 0.05 z(records) + eta_a + 0.5 g_a (t - mid)/365 - 0.12 age_years(t)
               + shift_c [t >= regime day]
               + beta_c log(min(units, 1e7) / 1e4) + 0.6 log(days / 365)
               + scope(purpose) + 0.59 exclusive

  Unlimited units price as 1e7 units. The function is itself monotone and subadditive in units
  and term (beta_c, 0.6 <= 1), so the estimator is asked to recover an arbitrage-free price.
  A realised price is P* x LogNormal(0, `noise_sigma`).
* Genuine trades: per asset a Poisson process with rate proportional to pop_a^0.7, its trend, a
  yearly season (peak late November) and a weekday pattern; buyers are Zipf-popular; terms are
  drawn from typical menus (durations 30..730 days, unit tiers 100..1e6 or unlimited, 7
  purposes, 6 % exclusive).
* Usage: every licence reports usage every `usage_cadence_days` over its term (1 = daily), at a
  utilisation of its quota, with weekly and yearly seasonality and log-normal noise; some assets
  get genuine bursts (3-6 x for 5-14 days, "news"). Vectorised in polars with hash-based
  uniforms, so 10M rows take seconds.
* Wash trades (`wash_rate` = share of all trades; a separate random stream, so the genuine
  market is identical whatever the rate): a few manipulating owners, each with shell buyers,
  inflate their own assets' prices 1.5-4 x by circular trades (A->B->A on the same asset, and
  A->B->C->A), related-party purchases by their shells, and fake usage bursts by a shell licensee
  followed by an inflated related-party purchase.

Output (`Market`): the four contract frames (assets, usage, transactions, requests) plus `truth`
(per transaction: noise-free price, whether it is a wash trade and which kind) -- `write(dir)`
lays them out like `dataledger export` (assets.parquet, transactions.parquet,
usage/<YYYY-MM>/part-0.parquet) with requests.parquet and truth.parquet beside them. Requests are
the genuine trades in the last `holdout_share` of the timeline, with `request_id` = their
`transaction_id`.

Reproducibility: `random.Random(seed)` for everything except the usage noise, which comes from
polars' `hash(seed)` -- stable for a given polars version (polars does not promise the hash across
versions).

    python scripts/market_gen.py --out /tmp/market --seed 0 --wash-rate 0.1
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import sys
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from valuation.contract import ASSETS, REQUESTS, TRANSACTIONS, USAGE, conform

SCOPES = (
    "research",
    "internal",
    "analytics",
    "marketing",
    "product",
    "ai_training",
    "redistribution",
)
SCOPE_LOG = (-0.5, 0.0, 0.1, 0.25, 0.4, 0.7, 1.0)
SCOPE_P = (0.15, 0.25, 0.2, 0.1, 0.15, 0.1, 0.05)
DURATIONS = (30, 90, 180, 365, 730)
DURATION_P = (0.15, 0.25, 0.2, 0.3, 0.1)
UNIT_TIERS: tuple[int | None, ...] = (
    100,
    1_000,
    5_000,
    10_000,
    50_000,
    100_000,
    500_000,
    1_000_000,
    None,
)
UNIT_P = (0.05, 0.12, 0.12, 0.18, 0.15, 0.13, 0.1, 0.07, 0.08)
CLASSES = (("general", 0.0, 0.8), ("important", 0.15, 0.15), ("core", 0.3, 0.05))
PERSONAL = (
    ("none", 0.0, 0.5),
    ("anonymized", 0.05, 0.3),
    ("personal", -0.1, 0.15),
    ("sensitive_personal", -0.2, 0.05),
)
UNLIMITED_UNITS = 1e7
REF_UNITS = 1e4
REF_DAYS = 365.0
GAMMA = 0.6
EXCLUSIVE_LOG = 0.59
DAY_US = 86_400_000_000


@dataclass(frozen=True)
class MarketConfig:
    seed: int = 0
    n_assets: int = 400
    n_categories: int = 8
    n_owners: int = 100
    n_buyers: int = 2000
    days: int = 1095
    start: datetime = datetime(2022, 1, 1, tzinfo=UTC)
    trades_per_asset_year: float = 5.0
    popularity_exponent: float = 1.1
    noise_sigma: float = 0.25
    asset_sigma: float = 0.35
    trend_sigma: float = 0.25
    cold_start_share: float = 0.12
    cost_share: float = 0.7
    quality_missing: float = 0.1
    regime_at: float = 0.55
    regime_sigma: float = 0.25
    wash_rate: float = 0.0
    manipulator_share: float = 0.06
    usage_cadence_days: int = 7
    burst_asset_share: float = 0.1
    holdout_share: float = 0.2


@dataclass(frozen=True)
class AssetLatent:
    category: int
    log_static: float  # everything time-invariant in log P* except the terms
    trend: float  # g_a per year
    registered_day: float  # days since start (negative = before the timeline)
    popularity: float


@dataclass(frozen=True)
class HiddenPrice:
    """The generator's noise-free price function (what a perfect estimator would know)."""

    days: int
    regime_day: float
    category_beta: tuple[float, ...]
    category_shift: tuple[float, ...]
    assets: dict[str, AssetLatent] = field(repr=False)

    def log_value(self, asset_id: str, day: float) -> float:
        """log P* of the reference licence for `asset_id` on `day` (days since start)."""
        a = self.assets[asset_id]
        age = max(0.0, day - a.registered_day) / 365.0
        mid = self.days / 2.0
        shift = self.category_shift[a.category] if day >= self.regime_day else 0.0
        return a.log_static + 0.5 * a.trend * (day - mid) / 365.0 - 0.12 * age + shift

    def log_terms(
        self, category: int, units: int | None, days: int, purpose: str, exclusive: bool
    ) -> float:
        u = UNLIMITED_UNITS if units is None else min(max(float(units), 1.0), UNLIMITED_UNITS)
        return (
            self.category_beta[category] * math.log(u / REF_UNITS)
            + GAMMA * math.log(max(days, 1) / REF_DAYS)
            + SCOPE_LOG[SCOPES.index(purpose)]
            + (EXCLUSIVE_LOG if exclusive else 0.0)
        )

    def log_price(
        self, asset_id: str, day: float, units: int | None, days: int, purpose: str, exclusive: bool
    ) -> float:
        cat = self.assets[asset_id].category
        return self.log_value(asset_id, day) + self.log_terms(cat, units, days, purpose, exclusive)


@dataclass(frozen=True)
class Market:
    config: MarketConfig
    assets: pl.DataFrame
    usage: pl.DataFrame
    transactions: pl.DataFrame
    requests: pl.DataFrame
    truth: pl.DataFrame  # transaction_id, true_price, wash, wash_kind
    hidden: HiddenPrice

    def write(self, out: Path) -> None:
        """The export layout (see module docstring) under `out`."""
        out.mkdir(parents=True, exist_ok=True)
        self.assets.write_parquet(out / "assets.parquet")
        self.transactions.write_parquet(out / "transactions.parquet")
        self.requests.write_parquet(out / "requests.parquet")
        self.truth.write_parquet(out / "truth.parquet")
        months = self.usage.with_columns(pl.col("at").dt.strftime("%Y-%m").alias("_m"))
        for (month,), rows in months.partition_by("_m", as_dict=True).items():
            target = out / "usage" / str(month)
            target.mkdir(parents=True, exist_ok=True)
            rows.drop("_m").write_parquet(target / "part-0.parquet")


def _choice(rng: random.Random, items: tuple[Any, ...], probs: tuple[float, ...]) -> Any:
    return rng.choices(items, weights=probs, k=1)[0]


def _poisson(rng: random.Random, lam: float) -> int:
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _season(day: float, start: datetime) -> float:
    doy = (start + timedelta(days=day)).timetuple().tm_yday
    return 1.0 + 0.25 * math.cos(2 * math.pi * (doy - 330) / 365.0)


def _weekday(day: float, start: datetime) -> float:
    return (1.1, 1.1, 1.1, 1.1, 1.0, 0.6, 0.5)[(start + timedelta(days=day)).weekday()]


def _terms(rng: random.Random) -> tuple[int, int | None, str, bool]:
    return (
        _choice(rng, DURATIONS, DURATION_P),
        _choice(rng, UNIT_TIERS, UNIT_P),
        _choice(rng, SCOPES, SCOPE_P),
        rng.random() < 0.06,
    )


def _id(rng: random.Random, prefix: str) -> str:
    return f"{prefix}-{rng.getrandbits(56):014x}"


def generate(config: MarketConfig | None = None, **overrides: Any) -> Market:
    """Draw a market; `overrides` replace `config` fields (`generate(seed=3, wash_rate=.1)`)."""
    cfg = replace(config or MarketConfig(), **overrides)
    rng = random.Random(cfg.seed)
    start = cfg.start
    days = cfg.days

    # --- categories ------------------------------------------------------------------------
    n_cat = cfg.n_categories
    cat_names = [f"cat-{i:02d}" for i in range(n_cat)]
    cat_weight = [1.0 / (i + 1) ** 0.7 for i in range(n_cat)]
    cat_base = [math.log(500_000) + rng.gauss(0, 0.6) for _ in range(n_cat)]
    cat_beta = tuple(rng.uniform(0.35, 0.7) for _ in range(n_cat))
    cat_shift = tuple(rng.gauss(0, cfg.regime_sigma) for _ in range(n_cat))
    regime_day = cfg.regime_at * days

    # --- owners, buyers ----------------------------------------------------------------------
    owners = [_id(rng, "p") for _ in range(cfg.n_owners)]
    owner_cw = list(itertools.accumulate(1.0 / (i + 1) ** 0.8 for i in range(cfg.n_owners)))
    buyers = [_id(rng, "p") for _ in range(cfg.n_buyers)]
    buyer_cw = list(itertools.accumulate(1.0 / (i + 1) ** 0.6 for i in range(cfg.n_buyers)))

    # --- assets ------------------------------------------------------------------------------
    ranks = list(range(1, cfg.n_assets + 1))
    rng.shuffle(ranks)
    pops = [r**-cfg.popularity_exponent for r in ranks]
    pop_median = sorted(pops)[len(pops) // 2]
    pop_mean = sum(pops) / len(pops)
    latents: dict[str, AssetLatent] = {}
    asset_rows: list[dict[str, Any]] = []
    for i in range(cfg.n_assets):
        aid = _id(rng, "a")
        cat = rng.choices(range(n_cat), weights=cat_weight, k=1)[0]
        q = rng.betavariate(4, 3)
        cls, cls_eff, _ = _choice(rng, CLASSES, tuple(c[2] for c in CLASSES))
        pi, pi_eff, _ = _choice(rng, PERSONAL, tuple(c[2] for c in PERSONAL))
        z_rec = rng.gauss(0, 1)
        records = round(math.exp(11 + 1.5 * z_rec))
        size = round(records * math.exp(rng.gauss(6, 0.7)))
        eta = rng.gauss(0, cfg.asset_sigma)
        trend = rng.gauss(0, cfg.trend_sigma)
        cold = rng.random() < cfg.cold_start_share
        reg_day = rng.uniform(0.6, 0.95) * days if cold else -rng.uniform(30, 1500)
        log_static = (
            cat_base[cat]
            + 0.9 * (q - 0.6)
            + 0.3 * math.log(pops[i] / pop_median)
            + cls_eff
            + pi_eff
            + 0.05 * z_rec
            + eta
        )
        latents[aid] = AssetLatent(cat, log_static, trend, reg_day, pops[i])
        reg_value = log_static + 0.5 * trend * (reg_day - days / 2) / 365.0
        cost = (
            round(math.exp(reg_value + math.log(8) + rng.gauss(0, 0.35)))
            if rng.random() < cfg.cost_share
            else None
        )
        asset_rows.append(
            {
                "asset_id": aid,
                "category": cat_names[cat],
                "classification": cls,
                "personal_info": pi,
                "record_count": records,
                "size_bytes": size,
                "declared_cost_minor": cost,
                "quality_score": None if rng.random() < cfg.quality_missing else round(q, 3),
                "registered_at": start + timedelta(days=reg_day),
                "owner_id": rng.choices(owners, cum_weights=owner_cw, k=1)[0],
            }
        )
    hidden = HiddenPrice(days, regime_day, cat_beta, cat_shift, latents)
    owner_of = {r["asset_id"]: r["owner_id"] for r in asset_rows}

    # --- genuine trades ----------------------------------------------------------------------
    tx_rows: list[dict[str, Any]] = []
    truth_rows: list[dict[str, Any]] = []
    licences: list[tuple[str, str, str, float, int, int | None]] = []
    peak = 1.25 * 1.1  # max of season x weekday, for thinning
    day_factor = [_season(d, start) * _weekday(d, start) for d in range(days + 1)]

    def add_trade(
        r: random.Random,
        aid: str,
        seller: str,
        buyer: str,
        day: float,
        log_mult: float,
        kind: str | None,
        terms: tuple[int, int | None, str, bool],
    ) -> str:
        dur, units, purpose, excl = terms
        log_true = hidden.log_price(aid, day, units, dur, purpose, excl)
        price = max(100, round(math.exp(log_true + log_mult + r.gauss(0, cfg.noise_sigma))))
        tid, lid = _id(r, "tx"), _id(r, "lic")
        tx_rows.append(
            {
                "transaction_id": tid,
                "asset_id": aid,
                "licence_id": lid,
                "seller_id": seller,
                "buyer_id": buyer,
                "at": start + timedelta(days=day),
                "price_minor": price,
                "currency": "CNY",
                "duration_days": dur,
                "max_units": units,
                "exclusive": excl,
                "purpose": purpose,
            }
        )
        truth_rows.append(
            {
                "transaction_id": tid,
                "true_price": math.exp(log_true),
                "wash": kind is not None,
                "wash_kind": kind,
            }
        )
        licences.append((lid, aid, buyer, day, dur, units))
        return tid

    for aid, lat in latents.items():
        base_rate = cfg.trades_per_asset_year / 365.0 * (lat.popularity / pop_mean) ** 0.7
        first = max(0.0, lat.registered_day)
        max_rate = base_rate * peak * math.exp(abs(lat.trend) * days / 730.0)
        n = _poisson(rng, max_rate * (days - first))
        for day in sorted(rng.uniform(first, days) for _ in range(n)):
            rate = base_rate * day_factor[int(day)] * math.exp(lat.trend * (day - days / 2) / 365.0)
            if rng.random() * max_rate > rate:
                continue
            buyer = rng.choices(buyers, cum_weights=buyer_cw, k=1)[0]
            add_trade(rng, aid, owner_of[aid], buyer, day, 0.0, None, _terms(rng))
    n_genuine = len(tx_rows)
    genuine_licences = len(licences)

    # --- wash trades (own random stream) -----------------------------------------------------
    wrng = random.Random(cfg.seed * 7919 + 17)
    bursts: list[tuple[str, str, str, float, float, float]] = []  # lic, asset, licensee, ...
    n_wash = round(cfg.wash_rate / (1 - cfg.wash_rate) * n_genuine) if cfg.wash_rate > 0 else 0
    if n_wash:
        owned: dict[str, list[str]] = {}
        for r in asset_rows:
            if r["registered_at"] < start + timedelta(days=days * 0.9):
                owned.setdefault(r["owner_id"], []).append(r["asset_id"])
        candidates = sorted(owned)
        wrng.shuffle(candidates)
        n_manip = max(2, round(cfg.manipulator_share * len(candidates)))
        manips = candidates[:n_manip]
        shells = {m: [_id(wrng, "p") for _ in range(wrng.randint(1, 3))] for m in manips}
        made = 0
        while made < n_wash:
            a_party = wrng.choice(manips)
            aid = wrng.choice(owned[a_party])
            lo = max(0.0, latents[aid].registered_day)
            day = wrng.uniform(lo, days - 1)
            infl = wrng.uniform(0.4, 1.4)
            kind = wrng.choices(("circular", "related", "burst"), weights=(0.4, 0.4, 0.2))[0]
            if kind == "circular":
                others = [m for m in manips if m != a_party] + shells[a_party]
                chain = [a_party, wrng.choice(others)]
                if wrng.random() < 0.3:
                    third = wrng.choice([p for p in others if p not in chain] or others)
                    chain.append(third)
                chain.append(a_party)
                d = day
                for s, b in itertools.pairwise(chain):
                    if d >= days:
                        break
                    add_trade(wrng, aid, s, b, d, infl + wrng.gauss(0, 0.05), kind, _terms(wrng))
                    made += 1
                    d += wrng.uniform(1, 30)
            elif kind == "related":
                add_trade(
                    wrng,
                    aid,
                    a_party,
                    wrng.choice(shells[a_party]),
                    day,
                    infl,
                    kind,
                    _terms(wrng),
                )
                made += 1
            else:
                shell = wrng.choice(shells[a_party])
                length = wrng.uniform(5, 20)
                if day + length >= days:
                    continue
                terms = (
                    _choice(wrng, DURATIONS, DURATION_P),
                    None,
                    _choice(wrng, SCOPES, SCOPE_P),
                    False,
                )
                add_trade(wrng, aid, a_party, shell, day, infl, kind, terms)
                lid = licences[-1][0]
                bursts.append((lid, aid, shell, day, length, 20.0 + 30.0 * wrng.random()))
                add_trade(
                    wrng, aid, a_party, shell, day + length, infl, kind, _terms(wrng)
                )  # the "justified" inflated trade after the faked usage
                made += 2

    transactions, assets = contract_frames(tx_rows, asset_rows)
    truth = pl.DataFrame(truth_rows, schema_overrides={"wash_kind": pl.String})

    usage = _usage(cfg, licences, genuine_licences, bursts, latents, rng.getrandbits(32))

    requests = holdout_requests(cfg, transactions, truth)
    truth = truth.join(
        transactions.select("transaction_id", "price_minor"), on="transaction_id"
    ).select("transaction_id", "price_minor", "true_price", "wash", "wash_kind")
    return Market(cfg, assets, usage, transactions, requests, truth, hidden)


def contract_frames(
    tx_rows: list[dict[str, Any]], asset_rows: list[dict[str, Any]]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(transactions in time order, assets) as the contract's frames, from generated rows."""
    transactions = conform(
        pl.DataFrame(tx_rows, schema_overrides={"max_units": pl.Int64}, infer_schema_length=None),
        TRANSACTIONS,
    ).sort("at")
    assets = conform(
        pl.DataFrame(
            asset_rows,
            infer_schema_length=None,
            schema_overrides={"declared_cost_minor": pl.Int64, "quality_score": pl.Float64},
        ),
        ASSETS,
    )
    return transactions, assets


def holdout_requests(
    cfg: MarketConfig, transactions: pl.DataFrame, truth: pl.DataFrame
) -> pl.DataFrame:
    """The requests: the genuine trades of the last `holdout_share` of the timeline."""
    holdout = cfg.start + timedelta(days=cfg.days * (1 - cfg.holdout_share))
    genuine_ids = truth.filter(~pl.col("wash")).select("transaction_id")
    return conform(
        transactions.filter(pl.col("at") >= holdout)
        .join(genuine_ids, on="transaction_id", how="semi")
        .rename({"transaction_id": "request_id"}),
        REQUESTS,
    )


def _uniform(col: str, seed: int) -> pl.Expr:
    """A uniform (0, 1) from a hash of `col` (polars-vectorised, seeded)."""
    return (pl.col(col).hash(seed) // (1 << 11)).cast(pl.Float64).add(0.5) / float(1 << 53)


def _usage(
    cfg: MarketConfig,
    licences: list[tuple[str, str, str, float, int, int | None]],
    n_genuine: int,
    bursts: list[tuple[str, str, str, float, float, float]],
    latents: dict[str, AssetLatent],
    seed: int,
) -> pl.DataFrame:
    """Usage reports for every licence (see module docstring), plus genuine and faked bursts."""
    days, cadence = cfg.days, cfg.usage_cadence_days
    rng = random.Random(seed)
    rows = []
    for k, (lid, aid, buyer, day, dur, units) in enumerate(licences):
        # Wash licences draw from a derived stream so genuine usage never depends on them.
        r = rng if k < n_genuine else random.Random(f"{seed}/{lid}")
        quota = units if units is not None else 3 * 10_000 * dur / 365
        rows.append(
            (
                lid,
                aid,
                buyer,
                int(day) + 1,
                min(days, int(day) + dur),
                r.uniform(0.2, 0.9) * quota / dur,
                k,
            )
        )
    lic = pl.DataFrame(
        rows,
        schema={
            "licence_id": pl.String,
            "asset_id": pl.String,
            "licensee_id": pl.String,
            "first": pl.Int64,
            "last": pl.Int64,
            "rate": pl.Float64,
            "k": pl.Int64,
        },
        orient="row",
    )
    burst_assets = {a for a in latents if rng.random() < cfg.burst_asset_share}
    genuine_bursts = [
        (a, d, d + rng.uniform(5, 14), rng.uniform(3, 6))
        for a in sorted(burst_assets)
        for d in (rng.uniform(0, days) for _ in range(rng.randint(1, 3)))
    ]
    out = (
        lic.filter(pl.col("last") > pl.col("first"))
        .with_columns(day=pl.int_ranges("first", pl.col("last") + 1, cadence))
        .explode("day")
        .with_columns(
            pl.int_range(pl.len(), dtype=pl.Int64).alias("row"),
            (pl.lit(cfg.start) + pl.duration(days=pl.col("day"))).alias("at"),
        )
        .with_columns(
            (
                1.0 + 0.25 * ((pl.col("at").dt.ordinal_day() - 330) * (2 * math.pi / 365)).cos()
            ).alias("season"),
            pl.col("at")
            .dt.weekday()
            .replace_strict(
                {1: 1.1, 2: 1.1, 3: 1.1, 4: 1.1, 5: 1.0, 6: 0.6, 7: 0.5}, return_dtype=pl.Float64
            )
            .alias("week"),
            # Box-Muller normal from two hash uniforms
            (
                (-2.0 * _uniform("row", seed).log()).sqrt()
                * (2 * math.pi * _uniform("row", seed + 1)).cos()
            ).alias("z"),
        )
    )
    burst_frame = pl.DataFrame(
        genuine_bursts,
        schema={"asset_id": pl.String, "b0": pl.Float64, "b1": pl.Float64, "mult": pl.Float64},
        orient="row",
    )
    mult = (
        out.select("row", "asset_id", "day")
        .join(burst_frame, on="asset_id", how="inner")
        .filter((pl.col("day") >= pl.col("b0")) & (pl.col("day") < pl.col("b1")))
        .group_by("row")
        .agg(pl.col("mult").max())
    )
    out = (
        out.join(mult, on="row", how="left")
        .with_columns(
            (
                pl.col("rate")
                * cadence
                * pl.col("season")
                * (pl.col("week") if cadence == 1 else pl.lit(0.9))
                * pl.col("mult").fill_null(1.0)
                * (0.4 * pl.col("z") - 0.08).exp()
            )
            .round()
            .cast(pl.Int64)
            .alias("units")
        )
        .filter(pl.col("units") > 0)
    )
    fake = []
    for lid, aid, shell, day, length, factor in bursts:
        # the asset's typical daily usage, times the fake factor, every day of the burst
        typical = (
            out.filter((pl.col("asset_id") == aid) & (pl.col("day") < day))
            .select(pl.col("units").sum() / max(1.0, min(day, 90.0)))
            .item()
        )
        for d in range(int(day), int(day + length)):
            fake.append(
                (
                    aid,
                    lid,
                    shell,
                    cfg.start + timedelta(days=d),
                    max(1000, round(factor * (typical or 1000.0))),
                )
            )
    usage = out.select("asset_id", "licence_id", "licensee_id", "at", "units").vstack(
        pl.DataFrame(fake, schema=USAGE, orient="row")
    )
    return conform(usage, USAGE).sort("at")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--assets", type=int, default=MarketConfig.n_assets)
    parser.add_argument("--days", type=int, default=MarketConfig.days)
    parser.add_argument(
        "--trades-per-asset-year", type=float, default=MarketConfig.trades_per_asset_year
    )
    parser.add_argument("--wash-rate", type=float, default=0.0)
    parser.add_argument("--cadence", type=int, default=MarketConfig.usage_cadence_days)
    args = parser.parse_args(argv)
    m = generate(
        seed=args.seed,
        n_assets=args.assets,
        days=args.days,
        wash_rate=args.wash_rate,
        usage_cadence_days=args.cadence,
        trades_per_asset_year=args.trades_per_asset_year,
    )
    m.write(args.out)
    print(
        f"{m.assets.height} assets, {m.transactions.height} transactions "
        f"({int(m.truth['wash'].sum())} wash), {m.usage.height} usage rows, "
        f"{m.requests.height} requests -> {args.out}"
    )


if __name__ == "__main__":
    main()
