"""A cost-plus market: a licence is priced off what the data cost to make, depreciated by age.

Structure (what differs from market_gen): the declared cost carries most of the value (85 % of
the assets declare it, with little reporting noise), value decays with the asset's age at a
category-specific rate, quality earns a premium, and the term law is not a power law in units.
Many cold-start assets: 45 % are registered 50-97 % through the timeline, so most of them have
0-2 trades.

* 8 categories (weights 1/(c+1)^0.7), each with a log markup m_c ~ log(0.15) + N(0, 0.3) of a
  reference licence over cost, a depreciation rate delta_c ~ U(0.1, 0.45) per year and a units
  exponent b_c ~ U(0.3, 0.6).
* Assets: true cost log C_a = log(2,000,000) + k_c + 0.3 z(records) + N(0, 0.8), k_c ~
  N(0, 0.3); declared cost = C_a x LogNormal(0, 0.1) for 85 % of the assets (null otherwise);
  quality Beta(4, 3) (10 % hidden); age_a(t) = years since registration (registered up to
  1500 days before the timeline, or late for cold starts); popularity Zipf (1.1).
* The noise-free price (u units, unlimited = 5e6; d days):

      log P* = log C_a + m_c - delta_c age_a(t) + 1.2 (q - 0.6) + drift_c(t)
               + b_c log((u + 2000) / 12000) + 0.8 log(d / 365)
               + scope'(purpose) + 0.7 exclusive

  scope' = (-0.3, 0, 0.05, 0.15, 0.3, 0.5, 0.8) over research .. redistribution; drift_c: a
  level shift of +-U(0.3, 0.8) at 40-65 % of the timeline in even categories, a trend
  N(0, 0.3) per year in odd ones. (u + 2000)^b_c and d^0.8 are increasing, concave and
  positive at 0, hence subadditive. Realised price: P* x LogNormal(0, 0.22).
* Trades: Poisson, 5 per asset-year x (pop / mean)^0.7; market_gen's term menus and usage.
* 1 % fat-finger outliers; wash trades: 50 % cycles, 50 % sybil rings (8-25 fresh buyers
  each buying once at 3-10 x).

`generate(seed, wash_rate, n_assets)` -> market_gen.Market (truth also marks `outlier`).
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from typing import Any

import markets._common as c
from markets._common import mg

NOISE = 0.22
SCOPE = (-0.3, 0.0, 0.05, 0.15, 0.3, 0.5, 0.8)
UNLIMITED = 5e6
U0 = 2000.0
GAMMA = 0.8
EXCLUSIVE = 0.7


def generate(seed: int = 0, wash_rate: float = 0.0, n_assets: int = 400, **kw: Any) -> mg.Market:
    cfg = replace(
        mg.MarketConfig(),
        seed=seed,
        wash_rate=wash_rate,
        n_assets=n_assets,
        cold_start_share=0.45,
        cost_share=0.85,
        **kw,
    )
    rng = random.Random(seed * 103 + 2)
    days, n_cat = cfg.days, cfg.n_categories
    markup = [math.log(0.15) + rng.gauss(0, 0.3) for _ in range(n_cat)]
    delta = [rng.uniform(0.1, 0.45) for _ in range(n_cat)]
    beta = [rng.uniform(0.3, 0.6) for _ in range(n_cat)]
    cost_level = [rng.gauss(0, 0.3) for _ in range(n_cat)]
    drift = c.draw_drift(rng, n_cat, days, (0.3, 0.8), 0.3)
    owners = [mg._id(rng, "p") for _ in range(cfg.n_owners)]
    rows = c.base_assets(rng, cfg, [1 / (i + 1) ** 0.7 for i in range(n_cat)], (0.5, 0.97), owners)
    pop_mean = sum(r["_pop"] for r in rows) / len(rows)
    log_cost, quality, reg = {}, {}, {}
    for r in rows:
        aid = r["asset_id"]
        lc = math.log(2_000_000) + cost_level[r["_cat"]] + 0.3 * r["_zrec"] + rng.gauss(0, 0.8)
        log_cost[aid], quality[aid], reg[aid] = lc, r["_q"], r["_day"]
        if rng.random() < cfg.cost_share:
            r["declared_cost_minor"] = round(math.exp(lc + rng.gauss(0, 0.1)))
    category = {r["asset_id"]: r["_cat"] for r in rows}

    def log_price(
        aid: str, day: float, units: int | None, dur: int, purpose: str, excl: bool
    ) -> float:
        cat = category[aid]
        u = UNLIMITED if units is None else min(float(max(units, 0)), UNLIMITED)
        age = max(0.0, day - reg[aid]) / 365
        return (
            log_cost[aid]
            + markup[cat]
            - delta[cat] * age
            + 1.2 * (quality[aid] - 0.6)
            + drift.log(cat, day)
            + beta[cat] * math.log((u + U0) / (1e4 + U0))
            + GAMMA * math.log(max(dur, 1) / 365)
            + SCOPE[mg.SCOPES.index(purpose)]
            + (EXCLUSIVE if excl else 0.0)
        )

    b = c.Builder(cfg, rows, c.Hidden(log_price, category, drift), cfg.n_buyers)
    for r in rows:
        aid = r["asset_id"]
        rate = cfg.trades_per_asset_year / 365 * (r["_pop"] / pop_mean) ** 0.7
        for day in b.schedule(rng, aid, lambda _d, rate=rate: rate, rate):
            noise = rng.gauss(0, NOISE)
            b.add(rng, aid, b.owner[aid], b.buyer(rng), day, 0.0, noise, None, mg._terms(rng))
    b.fat_fingers(random.Random(seed * 13 + 7), 0.01)
    b.washes({"circular": 0.5, "sybil": 0.5}, NOISE)
    return b.finish(rng.getrandbits(32))
