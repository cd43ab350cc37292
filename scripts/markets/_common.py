"""Helpers shared by the market generators in this package (not a generator itself).

A generator supplies what makes its market different -- the assets' hidden parameters, a
noise-free `log_price(asset_id, day, units, days, purpose, exclusive)` and a log-noise draw --
and `Builder` does the rest the same way in every market:

* genuine trades per asset by a thinned Poisson process (`Builder.genuine`), terms from
  market_gen's menus (`market_gen._terms`), Zipf-popular buyers;
* fat-finger outliers (`Builder.fat_fingers`): a share of the genuine trades is recorded at
  U(5, 20) x or U(0.05, 0.2) x the drawn price (half each); truth keeps the noise-free price,
  `wash` = False and marks them `outlier`;
* wash trades (`Builder.washes`, a separate random stream so the genuine market is identical
  whatever `wash_rate`): manipulating owners with 1-3 shells each and a mix of strategies --
  `circular` (A->B->A or A->B->C->A on one asset, 1-30 days apart), `related` (a shell buys),
  `burst` (a shell licensee reports 20-50 x the asset's typical usage for 5-20 days, then buys
  again at the inflated price), `sybil` (8-25 fresh buyers, each buying once from the same
  owner within 30 days at 3-10 x); every other kind inflates 1.5-4 x;
* usage via `market_gen._usage` (a licence reports every `usage_cadence_days` at U(0.2, 0.9) of
  its usage quota per day, with seasonality and log-normal noise; genuine and faked bursts);
  a generator may give a licence a usage quota other than its `max_units`;
* requests = the genuine trades in the last `holdout_share` of the timeline; truth = per
  transaction the recorded price, the noise-free price, `wash`, `wash_kind`, `outlier`.

`Drift` is the time-varying part every generator adds to its log price: a level shift at a day
mid-timeline for some categories, a linear trend per year for the others.
"""

from __future__ import annotations

import itertools
import math
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

import market_gen as mg

Terms = tuple[int, int | None, str, bool]  # duration_days, max_units, purpose, exclusive
LogPrice = Callable[[str, float, int | None, int, str, bool], float]
WASH_INFLATION = (math.log(1.5), math.log(4.0))
EPISODE_TRADES = {"circular": 2.3, "related": 1.0, "burst": 2.0, "sybil": 16.5}  # mean sizes
SYBIL_INFLATION = (math.log(3.0), math.log(10.0))


@dataclass(frozen=True)
class Drift:
    """shift_c from shift_day_c on (0 where there is none) + trend_c per year around mid."""

    days: int
    shift: tuple[float, ...]
    shift_day: tuple[float, ...]
    trend: tuple[float, ...]

    def log(self, category: int, day: float) -> float:
        jump = self.shift[category] if day >= self.shift_day[category] else 0.0
        return jump + self.trend[category] * (day - self.days / 2) / 365.0


def draw_drift(
    rng: random.Random, n_cat: int, days: int, shift: tuple[float, float], trend_sigma: float
) -> Drift:
    """Even categories: a shift of +-U(shift) at U(0.4, 0.65) x days, no trend; odd ones: a
    trend N(0, trend_sigma) per year, no shift."""
    shifts, at, trends = [], [], []
    for c in range(n_cat):
        if c % 2 == 0:
            shifts.append(rng.choice((-1, 1)) * rng.uniform(*shift))
            at.append(rng.uniform(0.4, 0.65) * days)
            trends.append(0.0)
        else:
            shifts.append(0.0)
            at.append(float(days))
            trends.append(rng.gauss(0, trend_sigma))
    return Drift(days, tuple(shifts), tuple(at), tuple(trends))


@dataclass(frozen=True)
class Hidden:
    """The noise-free price of a generator (same interface as market_gen.HiddenPrice)."""

    log_price: LogPrice
    category: dict[str, int] = field(repr=False)
    drift: Drift


def zipf_cum(n: int, exponent: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (i + 1) ** exponent for i in range(n)))


def base_assets(
    rng: random.Random,
    cfg: mg.MarketConfig,
    cat_weight: list[float],
    cold_window: tuple[float, float],
    owners: list[str],
) -> list[dict[str, Any]]:
    """Asset rows (contract columns, declared cost None) with hidden draws under "_"-keys:
    _cat, _q (true quality), _zrec, _zsize (standard normal), _day (registration, days since
    start), _pop (Zipf popularity), _cold, _cls, _pi (market_gen's class / personal effects)."""
    ranks = list(range(1, cfg.n_assets + 1))
    rng.shuffle(ranks)
    owner_cw = zipf_cum(len(owners), 0.8)
    rows = []
    for i in range(cfg.n_assets):
        cat = rng.choices(range(len(cat_weight)), weights=cat_weight, k=1)[0]
        q = rng.betavariate(4, 3)
        cls, cls_eff, _ = mg._choice(rng, mg.CLASSES, tuple(c[2] for c in mg.CLASSES))
        pi, pi_eff, _ = mg._choice(rng, mg.PERSONAL, tuple(c[2] for c in mg.PERSONAL))
        z_rec, z_size = rng.gauss(0, 1), rng.gauss(0, 1)
        records = round(math.exp(11 + 1.5 * z_rec))
        cold = rng.random() < cfg.cold_start_share
        day = rng.uniform(*cold_window) * cfg.days if cold else -rng.uniform(30, 1500)
        rows.append(
            {
                "asset_id": mg._id(rng, "a"),
                "category": f"cat-{cat:02d}",
                "classification": cls,
                "personal_info": pi,
                "record_count": records,
                "size_bytes": round(records * math.exp(6 + 0.7 * z_size)),
                "declared_cost_minor": None,
                "quality_score": None if rng.random() < cfg.quality_missing else round(q, 3),
                "registered_at": cfg.start + timedelta(days=day),
                "owner_id": rng.choices(owners, cum_weights=owner_cw, k=1)[0],
                "_cat": cat,
                "_q": q,
                "_zrec": z_rec,
                "_zsize": z_size,
                "_day": day,
                "_pop": ranks[i] ** -cfg.popularity_exponent,
                "_cold": cold,
                "_cls": cls_eff,
                "_pi": pi_eff,
            }
        )
    return rows


def student_t(rng: random.Random, df: int) -> float:
    """A Student-t draw with integer `df` degrees of freedom (normal / sqrt(chi2 / df))."""
    chi2 = sum(rng.gauss(0, 1) ** 2 for _ in range(df))
    return rng.gauss(0, 1) / math.sqrt(chi2 / df)


class Builder:
    """Accumulates trades and licences of one market, then `finish`es it into a `Market`."""

    def __init__(
        self, cfg: mg.MarketConfig, rows: list[dict[str, Any]], hidden: Hidden, buyers: int
    ) -> None:
        self.cfg, self.rows, self.hidden = cfg, rows, hidden
        self.owner = {r["asset_id"]: r["owner_id"] for r in rows}
        self.reg_day = {r["asset_id"]: r["_day"] for r in rows}
        self.tx: list[dict[str, Any]] = []
        self.truth: list[dict[str, Any]] = []
        self.licences: list[tuple[str, str, str, float, int, int | None]] = []
        self.bursts: list[tuple[str, str, str, float, float, float]] = []
        self.n_genuine = 0
        rng = random.Random(cfg.seed * 31 + 5)
        self.buyers = [mg._id(rng, "p") for _ in range(buyers)]
        self.buyer_cw = zipf_cum(buyers, 0.6)

    def add(
        self,
        r: random.Random,
        aid: str,
        seller: str,
        buyer: str,
        day: float,
        log_mult: float,
        log_noise: float,
        kind: str | None,
        terms: Terms,
        usage_quota: float | None = None,
    ) -> None:
        """One trade at exp(log P* + log_mult + log_noise); the licence's usage quota is
        `usage_quota` (default: its max_units, as in market_gen)."""
        dur, units, purpose, excl = terms
        log_true = self.hidden.log_price(aid, day, units, dur, purpose, excl)
        price = max(100, round(math.exp(log_true + log_mult + log_noise)))
        tid, lid = mg._id(r, "tx"), mg._id(r, "lic")
        self.tx.append(
            {
                "transaction_id": tid,
                "asset_id": aid,
                "licence_id": lid,
                "seller_id": seller,
                "buyer_id": buyer,
                "at": self.cfg.start + timedelta(days=day),
                "price_minor": price,
                "currency": "CNY",
                "duration_days": dur,
                "max_units": units,
                "exclusive": excl,
                "purpose": purpose,
            }
        )
        self.truth.append(
            {
                "transaction_id": tid,
                "true_price": math.exp(log_true),
                "wash": kind is not None,
                "wash_kind": kind,
                "outlier": False,
            }
        )
        quota = units if usage_quota is None else max(1, round(usage_quota))
        self.licences.append((lid, aid, buyer, day, dur, quota))

    def schedule(
        self, rng: random.Random, aid: str, rate: Callable[[float], float], rate_max: float
    ) -> list[float]:
        """Trade days of `aid` from its registration on: a Poisson process of intensity
        `rate(day)` <= `rate_max` per day, by thinning."""
        first = max(0.0, self.reg_day[aid])
        n = mg._poisson(rng, rate_max * (self.cfg.days - first))
        days = sorted(rng.uniform(first, self.cfg.days) for _ in range(n))
        return [d for d in days if rng.random() * rate_max <= rate(d)]

    def buyer(self, rng: random.Random) -> str:
        return rng.choices(self.buyers, cum_weights=self.buyer_cw, k=1)[0]

    def fat_fingers(self, rng: random.Random, share: float) -> None:
        """`share` of the genuine trades so far recorded at 5-20 x or 0.05-0.2 x."""
        for i in range(len(self.tx)):
            if rng.random() < share:
                f = rng.uniform(5, 20) if rng.random() < 0.5 else rng.uniform(0.05, 0.2)
                self.tx[i]["price_minor"] = max(100, round(self.tx[i]["price_minor"] * f))
                self.truth[i]["outlier"] = True

    def washes(self, weights: dict[str, float], noise: float) -> None:
        """Wash trades (module docstring) until they are `wash_rate` of all trades; `weights`
        are the kinds' expected shares of the wash *trades* (a sybil episode is ~16 trades)."""
        cfg = self.cfg
        self.n_genuine = len(self.tx)
        if cfg.wash_rate <= 0:
            return
        wrng = random.Random(cfg.seed * 7919 + 17)
        n_wash = round(cfg.wash_rate / (1 - cfg.wash_rate) * self.n_genuine)
        owned: dict[str, list[str]] = {}
        for r in self.rows:
            if r["_day"] < cfg.days * 0.9:
                owned.setdefault(r["owner_id"], []).append(r["asset_id"])
        candidates = sorted(owned)
        wrng.shuffle(candidates)
        manips = candidates[: max(2, round(cfg.manipulator_share * len(candidates)))]
        shells = {m: [mg._id(wrng, "p") for _ in range(wrng.randint(1, 3))] for m in manips}
        kinds = tuple(weights)
        kind_w = tuple(w / EPISODE_TRADES[k] for k, w in weights.items())
        made = 0

        def trade(aid: str, s: str, b: str, d: float, infl: float, kind: str) -> None:
            nonlocal made
            self.add(wrng, aid, s, b, d, infl, wrng.gauss(0, noise), kind, mg._terms(wrng))
            made += 1

        while made < n_wash:
            a_party = wrng.choice(manips)
            aid = wrng.choice(owned[a_party])
            day = wrng.uniform(max(0.0, self.reg_day[aid]), cfg.days - 1)
            infl = wrng.uniform(*WASH_INFLATION)
            kind = wrng.choices(kinds, weights=kind_w)[0]
            if kind == "circular":
                others = [m for m in manips if m != a_party] + shells[a_party]
                chain = [a_party, wrng.choice(others)]
                if wrng.random() < 0.3:
                    chain.append(wrng.choice([p for p in others if p not in chain] or others))
                for s, b in itertools.pairwise([*chain, a_party]):
                    if day < cfg.days:
                        trade(aid, s, b, day, infl, kind)
                        day += wrng.uniform(1, 30)
            elif kind == "related":
                trade(aid, a_party, wrng.choice(shells[a_party]), day, infl, kind)
            elif kind == "sybil":
                n = min(wrng.randint(8, 25), max(1, n_wash - made))
                for _ in range(n):
                    d = day + wrng.uniform(0, 30)
                    if d < cfg.days:
                        sybil = wrng.uniform(*SYBIL_INFLATION)
                        trade(aid, a_party, mg._id(wrng, "p"), d, sybil, kind)
            else:  # burst: faked usage by a shell licensee, then the "justified" purchase
                shell, length = wrng.choice(shells[a_party]), wrng.uniform(5, 20)
                if day + length >= cfg.days:
                    continue
                terms = (
                    mg._choice(wrng, mg.DURATIONS, mg.DURATION_P),
                    None,
                    mg._choice(wrng, mg.SCOPES, mg.SCOPE_P),
                    False,
                )
                self.add(wrng, aid, a_party, shell, day, infl, 0.0, kind, terms)
                self.bursts.append(
                    (self.licences[-1][0], aid, shell, day, length, 20 + 30 * wrng.random())
                )
                trade(aid, a_party, shell, day + length, infl, kind)
                made += 1

    def finish(self, usage_seed: int) -> mg.Market:
        cfg = self.cfg
        public = [{k: v for k, v in r.items() if not k.startswith("_")} for r in self.rows]
        transactions, assets = mg.contract_frames(self.tx, public)
        latents = {r["asset_id"]: None for r in self.rows}  # _usage only iterates the ids
        usage = mg._usage(cfg, self.licences, self.n_genuine, self.bursts, latents, usage_seed)  # type: ignore[arg-type]
        truth = pl.DataFrame(self.truth, schema_overrides={"wash_kind": pl.String})
        requests = mg.holdout_requests(cfg, transactions, truth)
        truth = truth.join(
            transactions.select("transaction_id", "price_minor"), on="transaction_id"
        ).select("transaction_id", "price_minor", "true_price", "wash", "wash_kind", "outlier")
        return mg.Market(cfg, assets, usage, transactions, requests, truth, self.hidden)  # type: ignore[arg-type]
