"""A market of interactions: every category prices characteristics and terms its own way.

Structure (what differs from market_gen): no coefficient is shared across categories -- size,
records, quality, units, term and exclusivity each have a category-specific slope -- and the
purpose premium scales with the personal-information class (personal data for a broad purpose
costs more). Thin categories: of 12, categories 0-7 have weights 1/(c+1)^1.2, categories 8-11
weight 0.012 each (~1 % of the assets) and trade at 0.35 x the rate, so they have fewer than
20 trades.

* Per category c: base_c ~ log(500,000) + N(0, 0.7); slopes s_c ~ U(-0.1, 0.5) on z(size),
  r_c ~ U(-0.1, 0.3) on z(records), Q_c ~ U(0, 1.5) on quality, units exponent b_c ~
  U(0.25, 0.8), term exponent g_c ~ U(0.4, 0.9), exclusivity premium x_c ~ U(0.2, 1.0).
* Assets: market_gen's class and personal-information effects, eta_a ~ N(0, 0.25) hidden,
  z(size) and z(records) standard normal (size = records x e^(6 + 0.7 z)), Zipf popularity
  (1.1), 20 % cold-start assets (registered 60-95 % through); 70 % declare a cost ~
  e^(log P*_ref + log 8) x LogNormal(0, 0.5).
* The noise-free price (u units, unlimited = 1e7; d days):

      log P* = base_c + s_c z(size) + r_c z(records) + Q_c (q - 0.6) + class + personal
               + eta_a + drift_c(t) + b_c log(u / 1e4) + g_c log(d / 365)
               + k_pi scope(purpose) + x_c exclusive

  scope = market_gen's SCOPE_LOG; k_pi = 1.0 (none), 1.3 (anonymized), 1.8 (personal), 2.5
  (sensitive_personal) -- the interaction of personal_info x purpose, monotone in scope for
  every class. drift_c: a shift of +-U(0.3, 0.7) at 40-65 % of the timeline in even
  categories, a trend N(0, 0.25) per year in odd ones. Realised price: P* x LogNormal(0, 0.25).
* Trades: Poisson, 6 per asset-year x (pop / mean)^0.7 (x 0.35 in thin categories);
  market_gen's term menus and usage.
* 2 % fat-finger outliers; wash trades: 50 % related-party shells, 30 % cycles, 20 % sybil.

`generate(seed, wash_rate, n_assets)` -> market_gen.Market (truth also marks `outlier`).
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from typing import Any

import markets._common as c
from markets._common import mg

NOISE = 0.25
N_CATEGORIES = 12
THIN_FROM, THIN_WEIGHT, THIN_RATE = 8, 0.012, 0.35
PERSONAL_SCOPE = {"none": 1.0, "anonymized": 1.3, "personal": 1.8, "sensitive_personal": 2.5}


def generate(seed: int = 0, wash_rate: float = 0.0, n_assets: int = 400, **kw: Any) -> mg.Market:
    cfg = replace(
        mg.MarketConfig(),
        seed=seed,
        wash_rate=wash_rate,
        n_assets=n_assets,
        n_categories=N_CATEGORIES,
        cold_start_share=0.2,
        trades_per_asset_year=6.0,
        **kw,
    )
    rng = random.Random(seed * 107 + 3)
    days, n_cat = cfg.days, cfg.n_categories
    u = rng.uniform
    base = [math.log(500_000) + rng.gauss(0, 0.7) for _ in range(n_cat)]
    slopes = [
        {
            "size": u(-0.1, 0.5),
            "rec": u(-0.1, 0.3),
            "q": u(0, 1.5),
            "units": u(0.25, 0.8),
            "days": u(0.4, 0.9),
            "excl": u(0.2, 1.0),
        }
        for _ in range(n_cat)
    ]
    drift = c.draw_drift(rng, n_cat, days, (0.3, 0.7), 0.25)
    owners = [mg._id(rng, "p") for _ in range(cfg.n_owners)]
    weights = [1 / (i + 1) ** 1.2 if i < THIN_FROM else THIN_WEIGHT for i in range(n_cat)]
    rows = c.base_assets(rng, cfg, weights, (0.6, 0.95), owners)
    pop_mean = sum(r["_pop"] for r in rows) / len(rows)
    static, k_pi = {}, {}
    for r in rows:
        aid, s = r["asset_id"], slopes[r["_cat"]]
        static[aid] = (
            base[r["_cat"]]
            + s["size"] * r["_zsize"]
            + s["rec"] * r["_zrec"]
            + s["q"] * (r["_q"] - 0.6)
            + r["_cls"]
            + r["_pi"]
            + rng.gauss(0, 0.25)
        )
        k_pi[aid] = PERSONAL_SCOPE[r["personal_info"]]
        if rng.random() < cfg.cost_share:
            reg = drift.log(r["_cat"], max(0.0, r["_day"]))
            r["declared_cost_minor"] = round(
                math.exp(static[aid] + reg + math.log(8) + rng.gauss(0, 0.5))
            )
    category = {r["asset_id"]: r["_cat"] for r in rows}

    def log_price(
        aid: str, day: float, units: int | None, dur: int, purpose: str, excl: bool
    ) -> float:
        cat = category[aid]
        s = slopes[cat]
        q = mg.UNLIMITED_UNITS if units is None else min(max(float(units), 1.0), 1e7)
        return (
            static[aid]
            + drift.log(cat, day)
            + s["units"] * math.log(q / 1e4)
            + s["days"] * math.log(max(dur, 1) / 365)
            + k_pi[aid] * mg.SCOPE_LOG[mg.SCOPES.index(purpose)]
            + (s["excl"] if excl else 0.0)
        )

    b = c.Builder(cfg, rows, c.Hidden(log_price, category, drift), cfg.n_buyers)
    for r in rows:
        aid = r["asset_id"]
        rate = cfg.trades_per_asset_year / 365 * (r["_pop"] / pop_mean) ** 0.7
        rate *= THIN_RATE if r["_cat"] >= THIN_FROM else 1.0
        for day in b.schedule(rng, aid, lambda _d, rate=rate: rate, rate):
            noise = rng.gauss(0, NOISE)
            b.add(rng, aid, b.owner[aid], b.buyer(rng), day, 0.0, noise, None, mg._terms(rng))
    b.fat_fingers(random.Random(seed * 13 + 7), 0.02)
    b.washes({"related": 0.5, "circular": 0.3, "sybil": 0.2}, NOISE)
    return b.finish(rng.getrandbits(32))
