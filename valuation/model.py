"""Fit once, quote cheaply: the valuation model over the contract's frames.

Lifecycle. `fit(assets, usage, transactions, as_of)` uses only history before `as_of`:

1. Transactions in the dominant currency are joined to their asset and to point-in-time usage
   features (features.py) as of their own time.
2. Rule flags and counterparty caps (robust.py) weight them.
3. On the *fit slice* (all but the latest `calibration_share` of trades): the terms kernel
   (within assets), the hedonic market model, then -- after the market index is known -- the
   income and cost approaches (approaches.py).
4. The history pass (`_history`, `_levels`) replays every trade in time order, vectorised:
   the residual of each trade against the hedonic model feeds exponentially-weighted, shrunken
   *levels* -- global G(t) and category C(t), the market index (regime shifts show here within
   weeks) -- and the asset's own level. Three choices matter for accuracy, each found by
   measuring errors against the generator's truth:
   * credibility form: an asset's own level is the mean of its index-adjusted past prices net
     of *static* characteristics, shrunk towards the hedonic usage prior with weight k/(n+k)
     (k = noise / asset-effect variance). Usage features of an asset rise mechanically while
     its own licences ramp up, so letting them move an asset with a trading record would
     only add drift; for a new asset they are the prior. A shrunken local-linear slope
     follows assets whose value drifts.
   * repeat-sales index: the index is re-estimated from residuals net of each asset's own
     point-in-time level, so a change in *which* assets trade is not read as a market move.
   * fixed-lag smoothing: trades before the model's `as_of` enter the asset levels against
     the two-sided index at their time (computed from trades before `as_of` only), so asset
     levels do not absorb the weeks in which the filtered index lagged a regime shift.
   Each trade is predicted from strictly earlier trades; that error drives the related-party
   and sybil-ring rules and a Huber weight, and a second pass recomputes the levels with those
   weights.
5. On the *calibration slice* (the latest trades; each predicted point-in-time by the model
   fitted on the slice before) the blend weights and a bias per kind are fitted on its first
   half and the conformal interval on its second half (blend.py, conformal.py).
6. The reference-licence state of every asset (and a cold-start state per category) as of
   `as_of` is precomputed, so `Model.quote` is a dictionary look-up and a few floating-point
   operations.

`predict(model, assets, usage, transactions, requests)` prices a frame of requests, each from
the history strictly before its own `at` (the fitted coefficients come from before
`model.as_of`, so requests must not be earlier than that); `predict_frame` refits every
`refit_days` so a long stretch of requests never uses stale coefficients.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from valuation.approaches import (
    Linear,
    cost_design,
    fit_kernel,
    fit_linear,
    income_design,
    log_cost,
    market_design,
    split_usage,
)
from valuation.blend import Blend, fit_blend, kind_expr
from valuation.conformal import Interval, conformal_quantiles, fit_scales
from valuation.contract import ASSETS, PREDICTIONS, REQUESTS, TRANSACTIONS, USAGE, conform
from valuation.features import DAY_US, usage_features
from valuation.robust import (
    counterparty_weights,
    fresh_exclusive,
    huber,
    related_party_flags,
    rule_flags,
    sybil_ring_flags,
)
from valuation.terms import REF_DAYS, REF_PURPOSE, REF_UNITS, Kernel, to_minor, to_minor_expr

Progress = Callable[[str], None]

USEFUL_SPREAD = 4.0  # high / low beyond which an interval is said to be too wide to use
CLEAN_MIN = 3  # established trades an asset needs before it is its own reference (_clean_errors)
COLD_PREFIX = "\x00cold:"


@dataclass(frozen=True)
class FitConfig:
    calibration_share: float = 0.3  # latest share of pre-as_of trades held out for calibration
    alpha: float = 0.1  # 1 - interval coverage
    halflife_global: float = 45.0  # days
    halflife_category: float = 60.0
    halflife_asset: float = 540.0
    prior_global: float = 2.0  # pseudo-trades at level 0
    prior_category: float = 8.0
    asset_slope_sd: float = 0.15  # prior sd of an asset's value drift, log per year (0 = none)
    min_trades: int = 30


@dataclass(frozen=True)
class Params:
    """Everything `fit` estimates (no data): enough to price any request after `as_of`."""

    as_of: datetime
    currency: str
    categories: tuple[str, ...]
    kernel: Kernel
    market: Linear
    income: Linear
    cost: Linear
    sigma_eps2: float  # within-asset noise variance of log price
    sigma_eta2: float  # variance of asset effects
    blend: Blend
    bias: Mapping[str, float]
    interval: Interval
    config: FitConfig

    @property
    def prior_asset(self) -> float:
        return self.sigma_eps2 / self.sigma_eta2


@dataclass(frozen=True)
class Exclusion:
    transaction_id: str
    reason: str


@dataclass(frozen=True)
class ApproachEstimate:
    estimate_minor: int | None  # None: not available for this asset (e.g. no declared cost)
    weight: float


@dataclass(frozen=True)
class Quote:
    asset_id: str
    as_of: datetime
    currency: str
    price_minor: int
    low_minor: int
    high_minor: int
    price_real: float  # before rounding up; per-unit monotonicity holds exactly on this
    approaches: Mapping[str, ApproachEstimate]
    n_comparables: int
    excluded: tuple[Exclusion, ...]
    kind: str
    explanation: str

    @property
    def interval_useful(self) -> bool:
        """Whether the 90 % interval says something: its ends within `USEFUL_SPREAD` of each
        other. Wider, it reflects too little comparable history, and is to be said so rather
        than shown as if it meant something."""
        return self.high_minor <= USEFUL_SPREAD * max(self.low_minor, 1)


@dataclass(frozen=True)
class AssetState:
    """An asset's reference-licence valuation as of the model's `as_of`."""

    category: str | None
    log_market: float
    log_income: float
    log_cost: float | None
    log_blend: float
    weights: tuple[float, float, float]
    scale: float
    kind: str
    n_asset: float
    n_comparables: int
    excluded: tuple[Exclusion, ...]
    usage_note: str


@dataclass(frozen=True)
class Model:
    params: Params
    states: Mapping[str, AssetState] = field(repr=False)

    @property
    def as_of(self) -> datetime:
        return self.params.as_of

    def state_for(self, asset_id: str, category: str | None = None) -> tuple[AssetState, str]:
        """(state, basis): the asset's own state ("own"), its category's cold-start one
        ("category"), or -- for a category the model has never seen, registered after the fit
        -- the cold-start state of the market's median category with the widest cold interval
        ("market"), so a new category is priced, and said to be priced, as a typical new asset."""
        state = self.states.get(asset_id)
        if state is not None:
            return state, "own"
        fallback = self.states.get(COLD_PREFIX + (category or ""))
        if fallback is not None:
            return fallback, "category"
        cold = sorted(
            (s for key, s in self.states.items() if key.startswith(COLD_PREFIX)),
            key=lambda s: s.log_blend,
        )
        if not cold:
            raise KeyError(f"asset {asset_id!r} is unknown to the model, and so is every category")
        typical = cold[len(cold) // 2]
        return replace(typical, scale=max(s.scale for s in cold), n_comparables=0), "market"

    def quote(
        self,
        request: Mapping[str, Any],
        as_of: datetime | None = None,
        category: str | None = None,
    ) -> Quote:
        """Price one request (a REQUESTS row as a mapping: asset_id, duration_days, max_units,
        exclusive, purpose); cheap. The valuation is as of the model's `as_of`: history after
        it is not seen until the model is refitted, and an earlier `as_of` is refused (the model
        has seen later trades)."""
        if as_of is not None and as_of < self.params.as_of:
            raise ValueError("the model was fitted on later history than this quote's as_of")
        asset_id = str(request["asset_id"])
        state, basis = self.state_for(asset_id, category)
        k = self.params.kernel
        log_f = k.log_factor(
            state.category,
            request.get("max_units"),
            int(request.get("duration_days") or REF_DAYS),
            request.get("purpose"),
            bool(request.get("exclusive")),
        )
        return _quote_from_state(self.params, asset_id, state, log_f, basis, category)


def _quote_from_state(
    p: Params, asset_id: str, s: AssetState, log_f: float, basis: str, category: str | None
) -> Quote:
    fallback = basis != "own"
    real = math.exp(s.log_blend + log_f)
    iv = p.interval
    logs = (s.log_market, s.log_income, s.log_cost)
    approaches = {
        name: ApproachEstimate(None if lg is None else to_minor(math.exp(lg + log_f)), round(w, 4))
        for name, lg, w in zip(("market", "income", "cost"), logs, s.weights, strict=True)
    }
    names = ("market", "income", "cost")
    share = ", ".join(f"{n} {w:.0%}" for n, w in zip(names, s.weights, strict=True) if w > 0)
    reasons: dict[str, int] = {}
    for e in s.excluded:
        reasons[e.reason] = reasons.get(e.reason, 0) + 1
    excluded_note = (
        "; excluded or down-weighted: "
        + ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in sorted(reasons.items()))
        if reasons
        else ""
    )
    said = {
        "own": f"{s.kind} asset ({s.n_asset:.1f} effective own trades)",
        "category": "no history for this asset: valued as a new asset of its category",
        "market": (
            f"the model has not seen category {category!r} (it was fitted before the category's "
            f"first registration): valued as a new asset of the market's median category "
            f"{s.category!r}, with the widest interval of any new asset"
        ),
    }[basis]
    explanation = (
        f"{said}; {s.n_comparables} comparable trades in the category over the last year, "
        f"adjusted to these terms (units, term, purpose scope, exclusivity) and to the current "
        f"market level; {s.usage_note}; blend {share} (weights from back-tested error for this "
        f"kind of asset); 90% interval from split-conformal calibration{excluded_note}."
    )
    return Quote(
        asset_id=asset_id,
        as_of=p.as_of,
        currency=p.currency,
        price_minor=to_minor(real),
        low_minor=to_minor(real * math.exp(iv.q_low * s.scale)),
        high_minor=to_minor(real * math.exp(iv.q_high * s.scale)),
        price_real=real,
        approaches=approaches,
        n_comparables=s.n_comparables,
        excluded=() if fallback else s.excluded,
        kind="cold" if fallback else s.kind,
        explanation=explanation,
    )


# --- preparation ----------------------------------------------------------------------------


def _days(expr: pl.Expr) -> pl.Expr:
    return expr.dt.epoch("us").cast(pl.Float64) / DAY_US


def day_of(when: datetime) -> float:
    """Days since the epoch (UTC) of an aware datetime; a naive one is taken as UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp() / 86_400.0


def _assets(assets: pl.DataFrame) -> pl.DataFrame:
    """Asset attributes the designs need; missing quality -> the category's mean."""
    a = conform(assets, ASSETS)
    overall = a.select(pl.col("quality_score").mean()).item()
    fill = 0.5 if overall is None else float(overall)
    return a.with_columns(
        pl.col("quality_score")
        .fill_null(pl.col("quality_score").mean().over("category"))
        .fill_null(fill)
        .alias("quality"),
        pl.col("quality_score").is_null().cast(pl.Float64).alias("quality_missing"),
        _days(pl.col("registered_at")).alias("registered_day"),
    ).unique("asset_id", keep="first")


_ASSET_COLS = (
    "category",
    "classification",
    "personal_info",
    "record_count",
    "size_bytes",
    "declared_cost_minor",
    "quality",
    "quality_missing",
    "registered_day",
    "owner_id",
)


def _transactions(
    transactions: pl.DataFrame, assets: pl.DataFrame, before: datetime, currency: str | None
) -> tuple[pl.DataFrame, str, pl.DataFrame]:
    """(priced trades before `before` in the currency, the currency, the other-currency ids)."""
    tx = conform(transactions, TRANSACTIONS).filter(
        (pl.col("at") < before) & (pl.col("price_minor") > 0)
    )
    if currency is None:
        counts = tx.group_by("currency").len().sort(["len", "currency"], descending=[True, False])
        currency = str(counts["currency"][0]) if counts.height else "CNY"
    other = tx.filter(pl.col("currency") != currency).select("transaction_id", "asset_id")
    tx = (
        tx.filter(pl.col("currency") == currency)
        .join(assets.select("asset_id", *_ASSET_COLS), on="asset_id", how="left")
        .with_columns(
            _days(pl.col("at")).alias("t"),
            pl.col("price_minor").cast(pl.Float64).log().alias("y"),
        )
        .sort("t")
    )
    return tx, currency, other


def _with_features(
    frame: pl.DataFrame, usage: pl.LazyFrame, assets: pl.DataFrame, at: str = "at"
) -> pl.DataFrame:
    """`frame` (asset_id, `at`, t, asset columns) with point-in-time usage features + age."""
    feats = usage_features(usage, assets, frame.with_columns(pl.col(at).alias("as_of")))
    return (
        feats.drop("as_of")
        .with_columns(
            ((pl.col("t") - pl.col("registered_day")) / 365.0)
            .clip(0.0, 50.0)
            .fill_null(0.0)
            .alias("age_years")
        )
        .collect()
    )


def _usage(usage: pl.DataFrame | pl.LazyFrame, before: datetime) -> pl.LazyFrame:
    return (
        usage.lazy()
        .select(pl.col(n).cast(d) for n, d in USAGE.items())
        .filter(pl.col("at") < before)
    )


# --- levels: the online, point-in-time market index and asset effects ------------------------


def _level(
    events: pl.DataFrame,
    points: pl.DataFrame,
    key: str,
    value: str,
    weight: str,
    halflife: float,
    prior: float,
    slope_prior: float | None = None,
) -> pl.DataFrame:
    """For each point (pid, key, tau): the decayed weighted mean of `value` over events with the
    same key strictly before tau (shrunk by `prior` pseudo-events at 0) and the decayed weight.

    With `slope_prior` the level is a local-linear fit instead -- level and slope (per year) by
    decayed weighted least squares with ridge priors `prior` and `slope_prior` -- read at tau,
    so a steadily drifting series is extrapolated rather than lagged.

    Events are (key, t, value, weight, remove_day): a trade counts from t and stops counting at
    its remove_day (when a rule flagged it); the weighted sums are running sums read with an
    as-of join, the decay factored as exp(lam (t - t0)) * exp(-lam (tau - t0)).
    """
    lam = math.log(2.0) / halflife
    t0 = max(
        float(events.select(pl.col("t").max()).item() or 0.0),
        float(points.select(pl.col("tau").max()).item() or 0.0),
    )
    grow = (lam * (pl.col("t") - t0)).exp() * pl.col(weight)
    yr = (pl.col("t") - t0) / 365.0
    sums = {"_w": grow, "_v": grow * pl.col(value)}
    if slope_prior is not None:
        sums |= {"_wt": grow * yr, "_wtt": grow * yr * yr, "_vt": grow * yr * pl.col(value)}
    names = list(sums)
    base = events.select(
        pl.col(key).alias("_k"),
        pl.col("t"),
        *(e.alias(n) for n, e in sums.items()),
        pl.when(pl.col("remove_day").is_not_null())
        .then(pl.max_horizontal("remove_day", "t"))
        .alias("_rm"),
    )
    add = base.select("_k", pl.col("t").alias("_e"), *names)
    rem = base.filter(pl.col("_rm").is_not_null()).select(
        "_k", pl.col("_rm").alias("_e"), *(-pl.col(n) for n in names)
    )
    table = (
        pl.concat([add, rem])
        .group_by("_k", "_e")
        .agg(pl.col(n).sum() for n in names)
        .sort("_e")
        .with_columns(pl.col(n).cum_sum().over("_k") for n in names)
    )
    joined = (
        points.select("pid", pl.col(key).alias("_k"), "tau")
        .sort("tau")
        .join_asof(
            table,
            left_on="tau",
            right_on="_e",
            by="_k",
            strategy="backward",
            allow_exact_matches=False,
            check_sortedness=False,
        )
        .with_columns((-lam * (pl.col("tau") - t0)).exp().alias("_d"))
        .with_columns((pl.col(n) * pl.col("_d")).fill_null(0.0) for n in names)
        .with_columns(pl.col("_w").clip(lower_bound=0.0).alias("n"))
    )
    if slope_prior is None:
        return joined.select("pid", "n", (pl.col("_v") / (pl.col("n") + prior)).alias("level"))
    # centre time at tau (years): sums of (t - tau) from sums of t
    s = (pl.col("tau") - t0) / 365.0
    s0 = pl.col("n") + prior
    s1 = pl.col("_wt") - s * pl.col("n")
    s2 = pl.col("_wtt") - 2 * s * pl.col("_wt") + s * s * pl.col("n") + slope_prior
    sv = pl.col("_v")
    s1v = pl.col("_vt") - s * pl.col("_v")
    det = (s0 * s2 - s1 * s1).clip(lower_bound=1e-12)
    return joined.select("pid", "n", ((s2 * sv - s1 * s1v) / det).alias("level"))


def _smooth(
    events: pl.DataFrame,
    key: str,
    value: str,
    weight: str,
    halflife: float,
    prior: float,
    before: float,
) -> pl.DataFrame:
    """Two-sided level at each event with t < `before`: decayed weighted mean of `value` over
    the *other* events of its key on both sides, using only events before `before` (and their
    flags as known then). Returns pid, level."""
    lam = math.log(2.0) / halflife
    live = events.filter(pl.col("t") < before).with_columns(
        pl.when(pl.col("remove_day").is_null() | (pl.col("remove_day") >= before))
        .then(pl.col(weight))
        .otherwise(0.0)
        .alias("_a")
    )
    if live.height == 0:
        return pl.DataFrame(schema={"pid": pl.String, "level": pl.Float64})
    t0 = float(live["t"].min())  # type: ignore[arg-type]
    t1 = float(live["t"].max())  # type: ignore[arg-type]
    up = (lam * (pl.col("t") - t1)).exp() * pl.col("_a")
    down = (-lam * (pl.col("t") - t0)).exp() * pl.col("_a")
    per_time = live.group_by(pl.col(key).alias("_k"), pl.col("t").alias("_e")).agg(
        up.sum().alias("_wb"),
        (up * pl.col(value)).sum().alias("_vb"),
        down.sum().alias("_wf"),
        (down * pl.col(value)).sum().alias("_vf"),
    )
    back = per_time.sort("_e").with_columns(
        pl.col("_wb").cum_sum().over("_k"), pl.col("_vb").cum_sum().over("_k")
    )
    fwd = (
        per_time.sort("_e", descending=True)
        .with_columns(pl.col("_wf").cum_sum().over("_k"), pl.col("_vf").cum_sum().over("_k"))
        .sort("_e")
    )
    pts = live.select("pid", pl.col(key).alias("_k"), pl.col("t").alias("tau")).sort("tau")
    joined = (
        pts.join_asof(
            back.select("_k", "_e", "_wb", "_vb"),
            left_on="tau",
            right_on="_e",
            by="_k",
            strategy="backward",
            allow_exact_matches=False,
            check_sortedness=False,
        )
        .drop("_e")
        .join_asof(
            fwd.select("_k", "_e", "_wf", "_vf"),
            left_on="tau",
            right_on="_e",
            by="_k",
            strategy="forward",
            allow_exact_matches=False,
            check_sortedness=False,
        )
    )
    db = (-lam * (pl.col("tau") - t1)).exp()
    df = (lam * (pl.col("tau") - t0)).exp()
    w = pl.col("_wb").fill_null(0.0) * db + pl.col("_wf").fill_null(0.0) * df
    v = pl.col("_vb").fill_null(0.0) * db + pl.col("_vf").fill_null(0.0) * df
    return joined.select("pid", (v / (w + prior)).alias("level"))


def _levels(
    p: Params, hist: pl.DataFrame, points: pl.DataFrame, prefix: str, smooth_before: float | None
) -> pl.DataFrame:
    """G, C, A (and the asset's effective trade count n_asset) at `points` and at every trade.

    `hist` has transaction_id, asset_id, category, t, r, a_cat, a_asset, remove_day;
    `points` has pid, asset_id, category, tau. Returns `points` with {prefix}G/C/A/n and, for
    the trades, the same columns under pid = "tx:" + transaction_id.

    Fixed-lag smoothing: a trade before `smooth_before` enters the asset level with its
    residual against the *two-sided* market index at its time (from trades before
    `smooth_before` only), so an asset's effect does not absorb the weeks in which the filtered
    index still lagged a regime shift. Every point at or after `smooth_before` may use it.
    """
    cfg = p.config
    tx_points = hist.select(
        (pl.lit("tx:") + pl.col("transaction_id")).alias("pid"),
        "asset_id",
        "category",
        pl.col("t").alias("tau"),
    )
    pts = pl.concat([tx_points, points.select("pid", "asset_id", "category", "tau")])
    ev = hist.with_columns(
        pl.lit("*").alias("_all"), (pl.lit("tx:") + pl.col("transaction_id")).alias("pid")
    )
    pts = pts.with_columns(pl.lit("*").alias("_all"))

    def adjusted(
        frame: pl.DataFrame, level: pl.DataFrame, smooth: pl.DataFrame | None, name: str
    ) -> pl.DataFrame:
        out = frame.drop(name, strict=False).join(
            level.select("pid", pl.col("level").alias(name)), on="pid", how="left"
        )
        if smooth is not None:
            out = (
                out.join(smooth.rename({"level": "_s"}), on="pid", how="left")
                .with_columns(pl.col("_s").fill_null(pl.col(name)).alias(name))
                .drop("_s")
            )
        return out.with_columns(pl.col(name).fill_null(0.0))

    usage_at = pl.concat(
        [
            hist.select((pl.lit("tx:") + pl.col("transaction_id")).alias("pid"), "x_usage"),
            points.select("pid", "x_usage"),
        ]
    ).unique("pid", keep="first")
    k = p.prior_asset
    slope = p.sigma_eps2 / cfg.asset_slope_sd**2 if cfg.asset_slope_sd > 0 else None
    base = ev.with_columns(pl.lit(0.0).alias("_A"))
    # Two passes: the second estimates the market index from residuals net of each asset's own
    # (point-in-time) level, so a shift in *which* assets trade does not read as a market move.
    for _ in range(2):
        ev = base.with_columns((pl.col("r") - pl.col("_A")).alias("_r1"))
        g = _level(ev, pts, "_all", "_r1", "a_cat", cfg.halflife_global, cfg.prior_global)
        gs = (
            _smooth(
                ev, "_all", "_r1", "a_cat", cfg.halflife_global, cfg.prior_global, smooth_before
            )
            if smooth_before is not None
            else None
        )
        ev = adjusted(ev, g, gs, "_G").with_columns((pl.col("_r1") - pl.col("_G")).alias("_r2"))
        c = _level(ev, pts, "category", "_r2", "a_cat", cfg.halflife_category, cfg.prior_category)
        cs = (
            _smooth(
                ev,
                "category",
                "_r2",
                "a_cat",
                cfg.halflife_category,
                cfg.prior_category,
                smooth_before,
            )
            if smooth_before is not None
            else None
        )
        ev = adjusted(ev, c, cs, "_C")
        # the asset's own level: its index-adjusted prices net of static characteristics only
        ev = ev.with_columns(
            (pl.col("r") - pl.col("_G") - pl.col("_C") + pl.col("x_usage")).alias("_r3")
        )
        a = _level(ev, pts, "asset_id", "_r3", "a_asset", cfg.halflife_asset, k, slope)
        # A = credibility-weighted own level minus the usage part it replaces:
        # x_theta(tau) + A = x_static(tau) + (S + k x_usage(tau)) / (n + k)
        a = a.join(usage_at, on="pid", how="left").with_columns(
            (
                pl.col("level") - pl.col("n") / (pl.col("n") + k) * pl.col("x_usage").fill_null(0.0)
            ).alias("level")
        )
        base = (
            base.drop("_A")
            .join(a.select("pid", pl.col("level").alias("_A")), on="pid", how="left")
            .with_columns(pl.col("_A").fill_null(0.0))
        )
    return (
        pts.select("pid")
        .join(g.select("pid", pl.col("level").alias(f"{prefix}G")), on="pid", how="left")
        .join(c.select("pid", pl.col("level").alias(f"{prefix}C")), on="pid", how="left")
        .join(
            a.select("pid", pl.col("level").alias(f"{prefix}A"), pl.col("n").alias(f"{prefix}n")),
            on="pid",
            how="left",
        )
        .unique("pid", keep="first")
    )


def _history(p: Params, txf: pl.DataFrame, smooth_before: float | None) -> pl.DataFrame:
    """Every trade with its residual, weights, exclusion reason and point-in-time levels.

    Pass 1 uses rule flags and counterparty caps; the point-in-time error of each trade then
    feeds the related-party rule and a Huber weight for pass 2 (see module docstring).
    """
    design = market_design(p.categories)
    hist = txf.with_columns(
        (pl.col("y") - p.kernel.log_factor_expr()).alias("y_base"),
        p.market.expr(design).alias("x_theta"),
        split_usage(p.market)[1].expr(design).alias("x_usage"),
    ).with_columns((pl.col("y_base") - pl.col("x_theta")).alias("r"))
    hist = (
        hist.join(rule_flags(hist), on="transaction_id", how="left")
        .join(counterparty_weights(hist), on="transaction_id", how="left")
        .with_columns(
            pl.col("w_category").alias("a_cat"),
            pl.col("w_asset").alias("a_asset"),
            pl.col("flag_day").alias("remove_day"),
        )
    )
    empty = hist.head(0).select(
        pl.col("transaction_id").alias("pid"),
        "asset_id",
        "category",
        pl.col("t").alias("tau"),
        "x_usage",
    )
    lv1 = _levels(p, hist, empty, "p1_", smooth_before).with_columns(pl.col("pid").str.slice(3))
    hist = hist.join(lv1.rename({"pid": "transaction_id"}), on="transaction_id", how="left")
    level1 = (
        pl.col("p1_G").fill_null(0.0)
        + pl.col("p1_C").fill_null(0.0)
        + pl.col("p1_A").fill_null(0.0)
    )
    n1 = pl.col("p1_n").fill_null(0.0)
    k = p.prior_asset
    scale = (p.sigma_eps2 + p.sigma_eta2 * k / (n1 + k)).sqrt()
    hist = hist.with_columns((pl.col("r") - level1).alias("err")).with_columns(
        huber(pl.col("err") / scale).alias("h")
    )
    hist = _clean_errors(p, hist.join(fresh_exclusive(hist), on="transaction_id", how="left"))
    hist = (
        hist.join(related_party_flags(hist), on="transaction_id", how="left").join(
            sybil_ring_flags(hist), on="transaction_id", how="left"
        )
    ).with_columns(
        pl.min_horizontal("flag_day", "related_day", "ring_day").alias("remove_day"),
        (pl.col("w_category") * pl.col("h")).alias("a_cat"),
        (pl.col("w_asset") * pl.col("h")).alias("a_asset"),
        pl.when(pl.col("flag_reason").is_not_null())
        .then(pl.col("flag_reason"))
        .when(pl.col("related_day").is_not_null())
        .then(pl.lit("related_party"))
        .when(pl.col("ring_day").is_not_null())
        .then(pl.lit("sybil_ring"))
        .when(pl.col("h") < 0.5)
        .then(pl.lit("price_outlier"))
        .when(pl.col("w_asset") <= 0.25)
        .then(pl.lit("counterparty_cap"))
        .alias("reason"),
    )
    return hist


def _clean_errors(p: Params, hist: pl.DataFrame) -> pl.DataFrame:
    """`hist` with `err_clean` for suspect trades (robust.fresh_exclusive): the residual against
    the median residual of *established* buyers' trades in the year before -- on the same asset
    when it has at least `CLEAN_MIN`, else in its category -- so a run of shell purchases cannot
    lift the bar it is judged by (robust.sybil_ring_flags), as it lifts the model's own levels.
    Null where there is no such reference yet (at a market's start every buyer is new)."""
    suspects = hist.filter(pl.col("suspect")).select(
        "transaction_id", "asset_id", "category", "t", "r"
    )
    if suspects.is_empty():
        return hist.with_columns(pl.lit(None, pl.Float64).alias("err_clean"))
    window = f"{365 * 86_400}i"
    seconds = (pl.col("t") * 86_400).round().cast(pl.Int64).alias("_s")
    established = (
        hist.filter(~pl.col("suspect")).select("asset_id", "category", "r", seconds).sort("_s")
    )
    refs = []
    for key in ("asset_id", "category"):
        rolling = established.select(
            key,
            "_s",
            pl.col("r").rolling_median_by("_s", window).over(key).alias(f"_ref_{key}"),
            pl.col("r")
            .is_not_null()
            .cast(pl.Int64)
            .rolling_sum_by("_s", window)
            .over(key)
            .alias(f"_n_{key}"),
        )
        refs.append(
            suspects.with_columns(seconds)
            .sort("_s")
            .join_asof(
                rolling,
                on="_s",
                by=key,
                strategy="backward",
                allow_exact_matches=False,
                check_sortedness=False,
            )
            .select("transaction_id", f"_ref_{key}", f"_n_{key}")
        )
    ref = (
        pl.when(pl.col("_n_asset_id") >= CLEAN_MIN)
        .then(pl.col("_ref_asset_id"))
        .when(pl.col("_n_category") >= CLEAN_MIN)
        .then(pl.col("_ref_category"))
    )
    clean = (
        suspects.join(refs[0], on="transaction_id", how="left")
        .join(refs[1], on="transaction_id", how="left")
        .select("transaction_id", (pl.col("r") - ref).alias("err_clean"))
    )
    return hist.join(clean, on="transaction_id", how="left")


# --- approaches at query points --------------------------------------------------------------


def _approach_logs(p: Params, frame: pl.DataFrame) -> pl.DataFrame:
    """log reference values of the three approaches + blend + interval scale, per row.

    `frame` has features, asset columns, levels G, C, A, n_asset.
    """
    index = pl.col("G").fill_null(0.0) + pl.col("C").fill_null(0.0)
    out = frame.with_columns(
        (p.market.expr(market_design(p.categories)) + index + pl.col("A").fill_null(0.0)).alias(
            "log_market"
        ),
        (p.income.expr(income_design(p.categories)) + index).alias("log_income"),
        pl.when(pl.col("declared_cost_minor").is_not_null() & (pl.col("declared_cost_minor") > 0))
        .then(log_cost() + p.cost.expr(cost_design(p.categories)) + index)
        .alias("log_cost"),
        kind_expr(pl.col("n_asset")).alias("kind"),
    ).with_columns(pl.col("log_cost").is_not_null().alias("has_cost"))
    return _blend(p, out)


def _blend(p: Params, frame: pl.DataFrame) -> pl.DataFrame:
    table = p.blend.frame()
    specific = table.filter(pl.col("category").is_not_null())
    pooled = table.filter(pl.col("category").is_null()).drop("category")
    w = ("w_market", "w_income", "w_cost")
    out = (
        frame.drop(*w, strict=False)
        .join(specific, on=["kind", "category", "has_cost"], how="left")
        .join(pooled, on=["kind", "has_cost"], how="left", suffix="_pooled")
        .with_columns(pl.col(c).fill_null(pl.col(f"{c}_pooled")).fill_null(0.0) for c in w)
        .drop(*(f"{c}_pooled" for c in w))
    )
    bias = pl.col("kind").replace_strict(dict(p.bias), default=0.0, return_dtype=pl.Float64)
    scale = pl.lit(p.interval.default_scale)
    for (kind, has_cost), s in p.interval.scale.items():
        scale = (
            pl.when((pl.col("kind") == kind) & (pl.col("has_cost") == has_cost))
            .then(pl.lit(s))
            .otherwise(scale)
        )
    return out.with_columns(
        (
            pl.col("w_market") * pl.col("log_market")
            + pl.col("w_income") * pl.col("log_income")
            + pl.col("w_cost") * pl.col("log_cost").fill_null(0.0)
            + bias
        ).alias("log_blend"),
        scale.alias("scale"),
    )


# --- fit ------------------------------------------------------------------------------------


def fit(
    assets: pl.DataFrame,
    usage: pl.DataFrame | pl.LazyFrame,
    transactions: pl.DataFrame,
    as_of: datetime | None = None,
    config: FitConfig | None = None,
    progress: Progress | None = None,
) -> Model:
    """Fit the model on history strictly before `as_of` (default: after the last trade)."""
    cfg = config or FitConfig()
    say = progress or (lambda _msg: None)
    tx_all = conform(transactions, TRANSACTIONS)
    if as_of is None:
        last = tx_all.select(pl.col("at").max()).item()
        if last is None:
            raise ValueError("no transactions to fit on")
        as_of = last + timedelta(microseconds=1)
    assert as_of is not None
    a = _assets(assets)
    u = _usage(usage, as_of)
    tx, currency, _ = _transactions(tx_all, a, as_of, None)
    if tx.height < cfg.min_trades:
        raise ValueError(f"need at least {cfg.min_trades} priced trades before {as_of}")
    say("features")
    txf = _with_features(tx, u, a)
    categories = tuple(sorted(str(c) for c in txf["category"].drop_nulls().unique()))
    as_of_day = day_of(as_of)
    split = txf["t"].sort()[int(txf.height * (1 - cfg.calibration_share))]
    say("flags")
    flags = rule_flags(txf).join(counterparty_weights(txf), on="transaction_id")
    txf = (
        txf.join(flags, on="transaction_id", how="left")
        .with_columns(
            (
                pl.col("w_category")
                * (pl.col("flag_day").is_null() | (pl.col("flag_day") >= as_of_day))
            )
            .cast(pl.Float64)
            .alias("w")
        )
        .drop("flag_reason", "flag_day", "w_asset", "w_category")
    )

    def hedonic(txf: pl.DataFrame) -> tuple[Params, pl.DataFrame, pl.DataFrame]:
        say("kernel")
        fit_slice = txf.filter(pl.col("t") < split)
        kf = fit_kernel(fit_slice, categories)
        txf = txf.with_columns((pl.col("y") - kf.kernel.log_factor_expr()).alias("y_base"))
        fit_slice = txf.filter(pl.col("t") < split)
        market = fit_linear(fit_slice, market_design(categories), pl.col("y_base"), pl.col("w"))
        eps2, eta2 = _variance_components(fit_slice, market, categories, kf.residual_var)
        p = Params(
            as_of=as_of,
            currency=currency,
            categories=categories,
            kernel=kf.kernel,
            market=market,
            income=Linear({}),
            cost=Linear({}),
            sigma_eps2=eps2,
            sigma_eta2=eta2,
            blend=Blend({}),
            bias={},
            interval=Interval(-1.645, 1.645, {}, 0.3, 0),
            config=cfg,
        )
        say("history")
        # calibration replays history as the model will see it: smoothed only before the split
        return p, txf, _history(p, txf.drop("w"), smooth_before=split)

    p, txf, hist = hedonic(txf)
    # A sybil ring is only recognised on the history pass, but its trades would still have
    # lifted the hedonic fit: when one was seen, fit again without its trades.
    ring = hist.filter(pl.col("ring_day").is_not_null() & (pl.col("ring_day") < as_of_day))
    if ring.height:
        ring_ids = ring["transaction_id"].implode()
        txf = txf.with_columns(
            pl.when(pl.col("transaction_id").is_in(ring_ids))
            .then(0.0)
            .otherwise(pl.col("w"))
            .alias("w")
        )
        p, txf, hist = hedonic(txf)
    eps2, eta2 = p.sigma_eps2, p.sigma_eta2
    lv = (
        _levels(
            p,
            hist,
            hist.head(0).select(
                pl.col("transaction_id").alias("pid"),
                "asset_id",
                "category",
                pl.col("t").alias("tau"),
                "x_usage",
            ),
            "",
            split,
        )
        .with_columns(pl.col("pid").str.slice(3).alias("transaction_id"))
        .drop("pid")
    )
    hist = hist.join(lv.rename({"n": "n_asset"}), on="transaction_id", how="left")
    live = pl.col("remove_day").is_null() | (pl.col("remove_day") >= as_of_day)
    weight = (pl.col("a_cat") * live.cast(pl.Float64)).alias("wf")
    hist = hist.with_columns(weight)
    index = pl.col("G").fill_null(0.0) + pl.col("C").fill_null(0.0)
    fit_h = hist.filter(pl.col("t") < split)
    say("approaches")
    income = fit_linear(fit_h, income_design(categories), pl.col("y_base") - index, pl.col("wf"))
    with_cost = fit_h.filter(pl.col("declared_cost_minor").is_not_null())
    cost = (
        fit_linear(
            with_cost, cost_design(categories), pl.col("y_base") - index - log_cost(), pl.col("wf")
        )
        if with_cost.height >= 10
        else Linear({"const": 0.0})
    )
    p = replace(p, income=income, cost=cost)

    say("calibration")
    cal = (
        _approach_logs(p, hist.filter((pl.col("t") >= split) & live & (pl.col("wf") > 0)))
        .with_columns(
            (pl.col("y_base") - pl.col(f"log_{k}")).alias(f"e_{k}")
            for k in ("market", "income", "cost")
        )
        .sort("t")
    )
    half = cal.height // 2
    first, second = cal.head(half), cal.tail(cal.height - half)
    blend = fit_blend(first)
    p = replace(p, blend=blend)
    first = _blend(p, first).with_columns((pl.col("y_base") - pl.col("log_blend")).alias("res"))
    bias = {}
    for kind in ("cold", "thin", "rich"):
        sub = first.filter(pl.col("kind") == kind)["res"]
        med = float(sub.median() or 0.0) if sub.len() else 0.0  # type: ignore[arg-type]
        bias[kind] = med * sub.len() / (sub.len() + 20.0)
    p = replace(p, bias=bias)
    first = _blend(p, first).with_columns((pl.col("y_base") - pl.col("log_blend")).alias("res"))
    k = p.prior_asset
    implied = {kind: eps2 + eta2 * k / (n + k) for kind, n in (("cold", 0.0), ("thin", 1.5))}
    rich = first.filter(pl.col("kind") == "rich").select((pl.col("res") ** 2).mean()).item()
    implied["rich"] = float(rich) if rich is not None else eps2
    scales, overall = fit_scales(first, "res", implied)
    p = replace(p, interval=Interval(-1.645, 1.645, scales, overall, 0))
    second = _blend(p, second).with_columns(
        ((pl.col("y_base") - pl.col("log_blend")) / pl.col("scale")).alias("z")
    )
    q_lo, q_hi = conformal_quantiles(second["z"].to_list(), cfg.alpha)
    p = replace(p, interval=Interval(q_lo, q_hi, scales, overall, second.height))

    say("state")
    final = _history(p, txf.drop("w"), smooth_before=as_of_day)
    return Model(p, _states(p, a, u, final, as_of))


def _variance_components(
    fit_slice: pl.DataFrame, market: Linear, categories: tuple[str, ...], eps2: float
) -> tuple[float, float]:
    """(noise variance, asset-effect variance) by moments of the hedonic residuals per asset."""
    r = pl.col("y_base") - market.expr(market_design(categories))
    per_asset = (
        fit_slice.filter(pl.col("w") > 0)
        .group_by("asset_id")
        .agg(r.mean().alias("m"), pl.len().alias("n"))
        .filter(pl.col("n") >= 2)
    )
    if per_asset.height < 5:
        return max(eps2, 0.01), 0.1
    row = per_asset.select(
        pl.col("m").var().alias("v"), (eps2 / pl.col("n")).mean().alias("noise")
    ).row(0, named=True)
    eta2 = max(0.005, float(row["v"] or 0.0) - float(row["noise"] or 0.0))
    return max(eps2, 0.005), eta2


def _states(
    p: Params, a: pl.DataFrame, u: pl.LazyFrame, hist: pl.DataFrame, as_of: datetime
) -> dict[str, AssetState]:
    """Reference-licence state of every asset (and a cold asset per category) at `as_of`."""
    cold = (
        a.group_by("category")
        .agg(
            pl.col("record_count").median().cast(pl.Int64),
            pl.col("size_bytes").median().cast(pl.Int64),
            pl.col("quality").mean(),
        )
        .filter(pl.col("category").is_not_null())
        .with_columns(
            (pl.lit(COLD_PREFIX) + pl.col("category")).alias("asset_id"),
            pl.lit("general").alias("classification"),
            pl.lit("none").alias("personal_info"),
            pl.lit(None, pl.Int64).alias("declared_cost_minor"),
            pl.lit(0.0).alias("quality_missing"),
            pl.lit(None, pl.String).alias("owner_id"),
        )
    )
    t_now = day_of(as_of)
    cold = cold.with_columns(pl.lit(t_now).alias("registered_day"))
    everyone = pl.concat(
        [a.select("asset_id", *_ASSET_COLS), cold.select("asset_id", *_ASSET_COLS)]
    )
    points = everyone.with_columns(pl.lit(as_of).alias("at"), pl.lit(t_now).alias("t"))
    frame = _state_frame(p, everyone, u, hist, points, t_now)
    year_ago = t_now - 365.0
    live = hist.filter(
        (pl.col("remove_day").is_null() | (pl.col("remove_day") >= t_now)) & (pl.col("a_cat") > 0)
    )
    comparables = dict(live.filter(pl.col("t") >= year_ago).group_by("category").len().iter_rows())
    excluded: dict[str, list[Exclusion]] = {}
    for tid, aid, reason in (
        hist.filter(pl.col("reason").is_not_null())
        .select("transaction_id", "asset_id", "reason")
        .iter_rows()
    ):
        excluded.setdefault(aid, []).append(Exclusion(tid, reason))
    states: dict[str, AssetState] = {}
    for row in frame.iter_rows(named=True):
        aid = row["asset_id"]
        note = (
            f"usage: {row['licensees_90']} licensees in 90 days, trend "
            f"{math.expm1(max(-5.0, min(5.0, row['trend'] or 0.0))):+.0%}"
            if row["units_365"]
            else "no usage reported in the last year"
        )
        states[aid] = AssetState(
            category=row["category"],
            log_market=row["log_market"],
            log_income=row["log_income"],
            log_cost=row["log_cost"],
            log_blend=row["log_blend"],
            weights=(row["w_market"], row["w_income"], row["w_cost"]),
            scale=row["scale"],
            kind=row["kind"],
            n_asset=row["n_asset"] or 0.0,
            n_comparables=int(comparables.get(row["category"], 0)),
            excluded=tuple(excluded.get(aid, ())),
            usage_note=note,
        )
    return states


def _state_frame(
    p: Params,
    assets: pl.DataFrame,
    u: pl.LazyFrame,
    hist: pl.DataFrame,
    points: pl.DataFrame,
    smooth_before: float,
) -> pl.DataFrame:
    """Approach logs for `points` (asset_id, at, t + asset columns), levels from `hist`."""
    feats = _with_features(points, u, assets)
    feats = feats.with_columns(
        pl.int_range(pl.len()).cast(pl.String).alias("pid"),
        split_usage(p.market)[1].expr(market_design(p.categories)).alias("x_usage"),
    )
    lv = _levels(
        p,
        hist,
        feats.select("pid", "asset_id", "category", pl.col("t").alias("tau"), "x_usage"),
        "",
        smooth_before,
    )
    feats = feats.join(lv.rename({"n": "n_asset"}), on="pid", how="left")
    return _approach_logs(p, feats)


# --- predict --------------------------------------------------------------------------------


def predict(
    model: Model,
    assets: pl.DataFrame,
    usage: pl.DataFrame | pl.LazyFrame,
    transactions: pl.DataFrame,
    requests: pl.DataFrame,
    detail: bool = False,
) -> pl.DataFrame:
    """PREDICTIONS for `requests`, each from history strictly before its own `at`.

    `detail=True` adds the approaches, weights, kind and interval scale per request.
    """
    p = model.params
    req = conform(requests, REQUESTS)
    if req.height == 0:
        return pl.DataFrame(schema=PREDICTIONS)
    if req.select((pl.col("at") < p.as_of).any()).item():
        raise ValueError("requests before the model's as_of would see the fit's later history")
    horizon = req.select(pl.col("at").max()).item()
    a = _assets(assets)
    u = _usage(usage, horizon)
    tx, _, _ = _transactions(transactions, a, horizon, p.currency)
    hist = _history(p, _with_features(tx, u, a), day_of(p.as_of))
    points = req.join(a.select("asset_id", *_ASSET_COLS), on="asset_id", how="left").with_columns(
        _days(pl.col("at")).alias("t")
    )
    frame = _state_frame(p, a, u, hist, points, day_of(p.as_of)).with_columns(
        p.kernel.log_factor_expr().alias("log_terms")
    )
    iv = p.interval
    real = (pl.col("log_blend") + pl.col("log_terms")).exp()
    out = frame.with_columns(
        to_minor_expr(real).alias("price_minor"),
        to_minor_expr(real * (iv.q_low * pl.col("scale")).exp()).alias("low_minor"),
        to_minor_expr(real * (iv.q_high * pl.col("scale")).exp()).alias("high_minor"),
        real.alias("price_real"),
    )
    out = req.select("request_id").join(out, on="request_id", how="left", maintain_order="left")
    if detail:
        return out.select(
            *PREDICTIONS.names(),
            "price_real",
            "asset_id",
            "category",
            "kind",
            "n_asset",
            "log_market",
            "log_income",
            "log_cost",
            "log_blend",
            "log_terms",
            "w_market",
            "w_income",
            "w_cost",
            "scale",
        )
    return conform(out, PREDICTIONS)


def predict_frame(
    assets: pl.DataFrame,
    usage: pl.DataFrame | pl.LazyFrame,
    transactions: pl.DataFrame,
    requests: pl.DataFrame,
    refit_days: float = 90.0,
    config: FitConfig | None = None,
    detail: bool = False,
    progress: Progress | None = None,
) -> pl.DataFrame:
    """Predict every request point-in-time, refitting at the start of each `refit_days` epoch
    (fitted on history before the epoch's first request; 0 = one fit for all)."""
    req = conform(requests, REQUESTS).sort("at")
    if req.height == 0:
        return pl.DataFrame(schema=PREDICTIONS)
    parts = []
    start = req["at"][0]
    while True:
        end = start + timedelta(days=refit_days) if refit_days > 0 else None
        chunk = req.filter((pl.col("at") >= start) & (pl.col("at") < end) if end else pl.lit(True))
        if chunk.height:
            model = fit(
                assets, usage, transactions, as_of=chunk["at"][0], config=config, progress=progress
            )
            parts.append(predict(model, assets, usage, transactions, chunk, detail=detail))
        later = req.filter(pl.col("at") >= end) if end else req.head(0)
        if later.height == 0:
            break
        start = later["at"][0]
    out = pl.concat(parts)
    order = conform(requests, REQUESTS).select("request_id")
    return order.join(out, on="request_id", how="left", maintain_order="left")


def quote(
    assets: pl.DataFrame,
    usage: pl.DataFrame | pl.LazyFrame,
    transactions: pl.DataFrame,
    request: Mapping[str, Any],
    as_of: datetime,
    model: Model | None = None,
) -> Quote:
    """One quote from the contract frames (fits a model as of `as_of` unless one is given; for
    many quotes fit once with `fit` and call `Model.quote`)."""
    m = model or fit(assets, usage, transactions, as_of=as_of)
    return m.quote(request, as_of=as_of)


REFERENCE_TERMS: dict[str, Any] = {
    "max_units": int(REF_UNITS),
    "duration_days": int(REF_DAYS),
    "purpose": REF_PURPOSE,
    "exclusive": False,
}
