"""An income-driven market: a licence is worth what its buyer expects to use of it.

Structure (what differs from market_gen): the price follows the buyer's *expected usage* over
the term, which the ledger's own usage reports reveal (per-asset usage intensity), with a kink
at the licence's unit cap; asset characteristics matter little.

* 8 categories (Zipf-like sizes, weights 1/(c+1)^0.7), each with a log value V_c of 10,000
  units ~ log(400,000) + N(0, 0.5) and an elasticity e_c ~ U(0.55, 0.9) of value in volume.
* Assets: usage intensity lambda_a(t) = 30 (pop_a / mean pop)^0.5 LogNormal(0, 0.8)
  exp(h_c (t - mid)/365) units per licensee-day, h_c ~ N(0, 0.3) a per-category usage trend;
  Zipf popularity (exponent 1.1); 15 % cold-start assets registered 60-95 % through the
  timeline; quality, class and personal effects as in market_gen; eta_a ~ N(0, 0.15) hidden.
  No declared costs (40 % of the assets declare one, unrelated to value: LogNormal(14, 1)).
* The expected usage of a licence (units cap u, unlimited = no cap; d days):
  E = min(u, lambda_a(t) d), and the noise-free price

      log P* = V_c + e_c log(E / 1e4) + 0.5 (q - 0.6) + class + personal + eta_a
               + drift_c(t) + 0.7 scope(purpose) + 0.45 exclusive

  drift_c: a level shift of +-U(0.3, 0.7) at 40-65 % of the timeline in even categories, a
  trend N(0, 0.2) per year in odd ones (`_common.Drift`). P* is non-decreasing and concave in u
  and in d, so monotone and subadditive. Realised price: P* x LogNormal(0, 0.2).
* Trades: Poisson, 5 per asset-year x (pop / mean)^0.7; buyers Zipf; market_gen's term menus.
  A licence's usage quota is E / 0.55, so it reports ~E / d units a day (market_gen._usage).
* 1.5 % fat-finger outliers; wash trades: 50 % faked usage bursts then an inflated purchase,
  30 % related-party shells, 20 % cycles (`_common.Builder.washes`).

`generate(seed, wash_rate, n_assets)` -> market_gen.Market (truth also marks `outlier`).
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from typing import Any

import markets._common as c
from markets._common import mg

NOISE = 0.2
SCOPE_SCALE = 0.7
EXCLUSIVE = 0.45


def generate(seed: int = 0, wash_rate: float = 0.0, n_assets: int = 400, **kw: Any) -> mg.Market:
    cfg = replace(
        mg.MarketConfig(),
        seed=seed,
        wash_rate=wash_rate,
        n_assets=n_assets,
        cold_start_share=0.15,
        cost_share=0.4,
        **kw,
    )
    rng = random.Random(seed * 101 + 1)
    days, n_cat = cfg.days, cfg.n_categories
    value = [math.log(400_000) + rng.gauss(0, 0.5) for _ in range(n_cat)]
    elast = [rng.uniform(0.55, 0.9) for _ in range(n_cat)]
    use_trend = [rng.gauss(0, 0.3) for _ in range(n_cat)]
    drift = c.draw_drift(rng, n_cat, days, (0.3, 0.7), 0.2)
    owners = [mg._id(rng, "p") for _ in range(cfg.n_owners)]
    rows = c.base_assets(rng, cfg, [1 / (i + 1) ** 0.7 for i in range(n_cat)], (0.6, 0.95), owners)
    pop_mean = sum(r["_pop"] for r in rows) / len(rows)
    intensity, static = {}, {}
    for r in rows:
        intensity[r["asset_id"]] = 30 * (r["_pop"] / pop_mean) ** 0.5 * math.exp(rng.gauss(0, 0.8))
        static[r["asset_id"]] = 0.5 * (r["_q"] - 0.6) + r["_cls"] + r["_pi"] + rng.gauss(0, 0.15)
        if rng.random() < cfg.cost_share:
            r["declared_cost_minor"] = round(math.exp(rng.gauss(14, 1)))
    category = {r["asset_id"]: r["_cat"] for r in rows}

    def expected(aid: str, day: float, units: int | None, dur: int) -> float:
        cat = category[aid]
        lam = intensity[aid] * math.exp(use_trend[cat] * (day - days / 2) / 365)
        return min(float(units) if units is not None else math.inf, lam * max(dur, 1))

    def log_price(
        aid: str, day: float, units: int | None, dur: int, purpose: str, excl: bool
    ) -> float:
        cat = category[aid]
        e = max(expected(aid, day, units, dur), 1.0)
        return (
            value[cat]
            + elast[cat] * math.log(e / 1e4)
            + static[aid]
            + drift.log(cat, day)
            + SCOPE_SCALE * mg.SCOPE_LOG[mg.SCOPES.index(purpose)]
            + (EXCLUSIVE if excl else 0.0)
        )

    b = c.Builder(cfg, rows, c.Hidden(log_price, category, drift), cfg.n_buyers)
    for r in rows:
        aid = r["asset_id"]
        rate = cfg.trades_per_asset_year / 365 * (r["_pop"] / pop_mean) ** 0.7
        for day in b.schedule(rng, aid, lambda _d, rate=rate: rate, rate):
            terms = mg._terms(rng)
            quota = expected(aid, day, terms[1], terms[0]) / 0.55
            noise = rng.gauss(0, NOISE)
            b.add(rng, aid, b.owner[aid], b.buyer(rng), day, 0.0, noise, None, terms, quota)
    b.fat_fingers(random.Random(seed * 13 + 7), 0.015)
    b.washes({"burst": 0.5, "related": 0.3, "circular": 0.2}, NOISE)
    return b.finish(rng.getrandbits(32))
