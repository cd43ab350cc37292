"""A multiplicative hedonic market with heavy-tailed, heteroscedastic noise.

Structure (what differs from market_gen): the price law is a plain multiplicative hedonic one,
but the noise is Student-t (df 3: occasional large deviations that are *not* manipulation) and
its scale grows for cold and thin assets -- an asset's first trades and trades in the small
categories are far noisier than those of a well-traded asset. 35 % cold-start assets are
registered 70-98 % through the timeline.

* 10 categories: 0-5 with weights 1/(c+1)^1.2, 6-9 thin (weight 0.02 each, trading at 0.4 x
  the rate: a few dozen trades or fewer), base_c ~ log(300,000) + N(0, 0.6).
* Assets: quality Beta(4, 3) (10 % hidden), Zipf popularity (1.1), market_gen's class and
  personal effects, eta_a ~ N(0, 0.3) hidden; 60 % declare a cost ~ e^(log P*_ref + log 8) x
  LogNormal(0, 0.35).
* The noise-free price (u units, unlimited = 1e7; d days):

      log P* = base_c + 0.7 (q - 0.6) + 0.25 log(pop_a / median pop) + class + personal
               + 0.08 z(records) + eta_a + drift_c(t)
               + 0.5 log(u / 1e4) + 0.7 log(d / 365) + scope(purpose) + 0.5 exclusive

  scope = market_gen's SCOPE_LOG; drift_c: a shift of +-U(0.3, 0.8) at 40-65 % of the timeline
  in even categories, a trend N(0, 0.3) per year in odd ones.
* Realised price: P* x exp(s e), e ~ Student-t(3) / sqrt(3) (unit variance), with
  s = 0.1 + 0.4 / sqrt(1 + k) + 0.15 [thin category], k = the asset's genuine trades before
  this one.
* Trades: Poisson, 5 per asset-year x (pop / mean)^0.7 (x 0.4 in thin categories);
  market_gen's term menus and usage.
* 2 % fat-finger outliers; wash trades: 50 % sybil rings, 25 % related-party shells, 25 %
  cycles (wash noise: N(0, 0.2)).

`generate(seed, wash_rate, n_assets)` -> market_gen.Market (truth also marks `outlier`).
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from typing import Any

import markets._common as c
from markets._common import mg

N_CATEGORIES = 10
THIN_FROM, THIN_WEIGHT, THIN_RATE = 6, 0.02, 0.4
EXCLUSIVE = 0.5


def noise_scale(k: int, thin: bool) -> float:
    return 0.1 + 0.4 / math.sqrt(1 + k) + (0.15 if thin else 0.0)


def generate(seed: int = 0, wash_rate: float = 0.0, n_assets: int = 400, **kw: Any) -> mg.Market:
    cfg = replace(
        mg.MarketConfig(),
        seed=seed,
        wash_rate=wash_rate,
        n_assets=n_assets,
        n_categories=N_CATEGORIES,
        cold_start_share=0.35,
        cost_share=0.6,
        **kw,
    )
    rng = random.Random(seed * 109 + 4)
    days, n_cat = cfg.days, cfg.n_categories
    base = [math.log(300_000) + rng.gauss(0, 0.6) for _ in range(n_cat)]
    drift = c.draw_drift(rng, n_cat, days, (0.3, 0.8), 0.3)
    owners = [mg._id(rng, "p") for _ in range(cfg.n_owners)]
    weights = [1 / (i + 1) ** 1.2 if i < THIN_FROM else THIN_WEIGHT for i in range(n_cat)]
    rows = c.base_assets(rng, cfg, weights, (0.7, 0.98), owners)
    pops = sorted(r["_pop"] for r in rows)
    pop_median, pop_mean = pops[len(pops) // 2], sum(pops) / len(pops)
    static = {}
    for r in rows:
        aid = r["asset_id"]
        static[aid] = (
            base[r["_cat"]]
            + 0.7 * (r["_q"] - 0.6)
            + 0.25 * math.log(r["_pop"] / pop_median)
            + r["_cls"]
            + r["_pi"]
            + 0.08 * r["_zrec"]
            + rng.gauss(0, 0.3)
        )
        if rng.random() < cfg.cost_share:
            reg = drift.log(r["_cat"], max(0.0, r["_day"]))
            r["declared_cost_minor"] = round(
                math.exp(static[aid] + reg + math.log(8) + rng.gauss(0, 0.35))
            )
    category = {r["asset_id"]: r["_cat"] for r in rows}

    def log_price(
        aid: str, day: float, units: int | None, dur: int, purpose: str, excl: bool
    ) -> float:
        q = mg.UNLIMITED_UNITS if units is None else min(max(float(units), 1.0), 1e7)
        return (
            static[aid]
            + drift.log(category[aid], day)
            + 0.5 * math.log(q / 1e4)
            + 0.7 * math.log(max(dur, 1) / 365)
            + mg.SCOPE_LOG[mg.SCOPES.index(purpose)]
            + (EXCLUSIVE if excl else 0.0)
        )

    b = c.Builder(cfg, rows, c.Hidden(log_price, category, drift), cfg.n_buyers)
    for r in rows:
        aid = r["asset_id"]
        thin = r["_cat"] >= THIN_FROM
        rate = cfg.trades_per_asset_year / 365 * (r["_pop"] / pop_mean) ** 0.7
        rate *= THIN_RATE if thin else 1.0
        for k, day in enumerate(b.schedule(rng, aid, lambda _d, rate=rate: rate, rate)):
            noise = noise_scale(k, thin) * c.student_t(rng, 3) / math.sqrt(3)
            b.add(rng, aid, b.owner[aid], b.buyer(rng), day, 0.0, noise, None, mg._terms(rng))
    b.fat_fingers(random.Random(seed * 13 + 7), 0.02)
    b.washes({"sybil": 0.5, "related": 0.25, "circular": 0.25}, 0.2)
    return b.finish(rng.getrandbits(32))
