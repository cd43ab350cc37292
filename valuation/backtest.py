"""Backtest: the model against simple baselines on trades after a cutoff, point-in-time.

Protocol. Trades before `cutoff` are history; every trade at or after it becomes a request
(request_id = transaction_id) priced from history strictly before its own time -- the model is
fitted on history before the cutoff (refitted every `refit_days` when > 0) and its online levels
see every earlier trade, post-cutoff ones included. With a `truth` frame (from the synthetic
market) wash trades are not scored (they are not prices anyone should predict) and the noise
floor -- the score of the generator's noise-free price -- is reported.

Baselines (each also point-in-time): the global median price, the category median, the asset's
last price (falling back to the category median), a plain log-linear hedonic model (log price
on log units, log term, purpose, exclusivity, category and asset characteristics; ordinary least
squares, no asset effects, no robustness, no monotonicity constraints), and `robust_loglinear`:
the hedonic design plus the asset's point-in-time usage statistics (the model's usage terms:
licensees, robust units, trend, concentration, recency, the category's activity), age, missing
quality and log declared cost, fitted by Huber IRLS (k = 1.345 x the MAD scale of the
residuals, `ROBUST_ITERATIONS` reweightings) -- pooled, so still no asset effects. Baseline
intervals are the 5 % / 95 % quantiles of their in-sample log residuals.

Scores: median absolute percentage error (MdAPE), mean |log(pred/actual)|, bias (mean
log(pred/actual)), share within +-20 %, 90 % interval coverage and median relative width
((high - low) / price; also its mean and the p95 of high / low), and arbitrage-property
violations over a grid of units, terms, scopes and exclusivity (monotonicity of price and
bounds, per-unit price never rising, subadditivity in units and in term) for the model and the
two regressions. Wash detection counts a genuine exclusion reason (self-dealing, circular,
related party, sybil ring, price outlier) on a wash trade as a hit.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from valuation.approaches import USAGE_TERMS, market_design
from valuation.contract import REQUESTS, TRANSACTIONS, conform
from valuation.linalg import weighted_least_squares
from valuation.model import (
    FitConfig,
    Model,
    Progress,
    _assets,
    _history,
    _transactions,
    _usage,
    _with_features,
    day_of,
    fit,
    predict,
    predict_frame,
)
from valuation.robust import huber
from valuation.terms import SCOPE_ORDER, SCOPE_RANK, UNKNOWN_SCOPE_RANK, to_minor

UNITS_GRID: tuple[int | None, ...] = (
    1,
    10,
    100,
    1_000,
    5_000,
    10_000,
    50_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    None,
)
DAYS_GRID = (1, 7, 30, 90, 180, 365, 730, 1825)
SPLIT_UNITS = (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000)
SPLIT_DAYS = (1, 30, 90, 365, 730)

# (price_minor, low_minor, high_minor, price_real) for (asset, units, days, purpose, exclusive)
PriceFn = Callable[[str, int | None, int, str, bool], tuple[int, int, int, float]]


@dataclass(frozen=True)
class Score:
    method: str
    n: int
    mdape: float
    mean_abs_log: float
    bias: float
    within_20: float
    coverage: float | None
    width: float | None
    violations: int | None = None
    mean_width: float | None = None
    p95_ratio: float | None = None  # p95 of high / low


@dataclass(frozen=True)
class Report:
    cutoff: datetime
    n_history: int
    n_requests: int
    scores: list[Score]
    noise_floor: float | None
    by_kind: dict[str, dict[str, float]]
    excluded: dict[str, int]
    detection: dict[str, float] | None
    violations: dict[str, int]
    model: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def score(self, method: str) -> Score:
        return next(s for s in self.scores if s.method == method)


def metrics(frame: pl.DataFrame, method: str, violations: int | None = None) -> Score:
    """Scores of `frame` (actual, pred, optional low/high)."""
    lr = (pl.col("pred").cast(pl.Float64) / pl.col("actual").cast(pl.Float64)).log()
    ape = (pl.col("pred").cast(pl.Float64) / pl.col("actual") - 1.0).abs()
    has_iv = "low" in frame.columns
    row = frame.select(
        pl.len().alias("n"),
        ape.median().alias("mdape"),
        lr.abs().mean().alias("mal"),
        lr.mean().alias("bias"),
        (ape <= 0.2).mean().alias("w20"),
        *(
            [
                ((pl.col("low") <= pl.col("actual")) & (pl.col("actual") <= pl.col("high")))
                .mean()
                .alias("cov"),
                ((pl.col("high") - pl.col("low")) / pl.col("pred")).median().alias("width"),
                ((pl.col("high") - pl.col("low")) / pl.col("pred")).mean().alias("mwidth"),
                (pl.col("high").cast(pl.Float64) / pl.col("low").cast(pl.Float64).clip(1e-9))
                .quantile(0.95)
                .alias("p95"),
            ]
            if has_iv
            else []
        ),
    ).row(0, named=True)
    return Score(
        method=method,
        n=int(row["n"]),
        mdape=float(row["mdape"] or math.nan),
        mean_abs_log=float(row["mal"] or math.nan),
        bias=float(row["bias"] or math.nan),
        within_20=float(row["w20"] or math.nan),
        coverage=float(row["cov"]) if has_iv and row["cov"] is not None else None,
        width=float(row["width"]) if has_iv and row["width"] is not None else None,
        violations=violations,
        mean_width=float(row["mwidth"]) if has_iv and row["mwidth"] is not None else None,
        p95_ratio=float(row["p95"]) if has_iv and row["p95"] is not None else None,
    )


# --- property checks ------------------------------------------------------------------------


def check_properties(price: PriceFn, asset_ids: Sequence[str]) -> dict[str, int]:
    """Violations of the arbitrage-free properties over the grids, per property."""
    out = dict.fromkeys(
        ("units", "days", "scope", "exclusive", "per_unit", "split_units", "split_days"), 0
    )

    def bad(lo: tuple[int, int, int, float], hi: tuple[int, int, int, float]) -> int:
        return int(any(hi[i] < lo[i] for i in range(3)))

    for aid in asset_ids:
        cache: dict[tuple[int | None, int, str, bool], tuple[int, int, int, float]] = {}

        def at(
            u: int | None,
            d: int,
            p: str,
            e: bool,
            aid: str = aid,
            cache: dict[tuple[int | None, int, str, bool], tuple[int, int, int, float]] = cache,
        ) -> tuple[int, int, int, float]:
            key = (u, d, p, e)
            if key not in cache:
                cache[key] = price(aid, u, d, p, e)
            return cache[key]

        for p in SCOPE_ORDER:
            for e in (False, True):
                for d in DAYS_GRID:
                    for u0, u1 in itertools.pairwise(UNITS_GRID):
                        out["units"] += bad(at(u0, d, p, e), at(u1, d, p, e))
                        if u0 is not None and u1 is not None:
                            a, b = at(u0, d, p, e)[3], at(u1, d, p, e)[3]
                            out["per_unit"] += int(b / u1 > a / u0 * (1 + 1e-9))
                for u in UNITS_GRID:
                    for d0, d1 in itertools.pairwise(DAYS_GRID):
                        out["days"] += bad(at(u, d0, p, e), at(u, d1, p, e))
        for u in UNITS_GRID:
            for d in DAYS_GRID:
                for e in (False, True):
                    for p0, p1 in itertools.pairwise(SCOPE_ORDER):
                        out["scope"] += bad(at(u, d, p0, e), at(u, d, p1, e))
                for p in SCOPE_ORDER:
                    out["exclusive"] += bad(at(u, d, p, False), at(u, d, p, True))
        for p in ("internal", "ai_training"):
            for e in (False, True):
                for d in SPLIT_DAYS:
                    for i, u0 in enumerate(SPLIT_UNITS):
                        for u1 in SPLIT_UNITS[i:]:
                            whole = at(u0 + u1, d, p, e)[0]
                            out["split_units"] += int(
                                whole > at(u0, d, p, e)[0] + at(u1, d, p, e)[0]
                            )
                for u in (100, 10_000, None):
                    for i, d0 in enumerate(SPLIT_DAYS):
                        for d1 in SPLIT_DAYS[i:]:
                            whole = at(u, d0 + d1, p, e)[0]
                            out["split_days"] += int(
                                whole > at(u, d0, p, e)[0] + at(u, d1, p, e)[0]
                            )
    return out


def model_price_fn(model: Model) -> PriceFn:
    def price(aid: str, u: int | None, d: int, p: str, e: bool) -> tuple[int, int, int, float]:
        q = model.quote(
            {"asset_id": aid, "max_units": u, "duration_days": d, "purpose": p, "exclusive": e}
        )
        return q.price_minor, q.low_minor, q.high_minor, q.price_real

    return price


# --- baselines ------------------------------------------------------------------------------


def _hedonic_design() -> dict[str, pl.Expr]:
    f = pl.col
    ranks = f("purpose").replace_strict(
        SCOPE_RANK, default=UNKNOWN_SCOPE_RANK, return_dtype=pl.Int64
    )
    d: dict[str, pl.Expr] = {
        "const": pl.lit(1.0),
        "log_units": f("max_units").cast(pl.Float64).clip(lower_bound=1.0).log().fill_null(0.0),
        "unlimited": f("max_units").is_null().cast(pl.Float64),
        "log_days": f("duration_days").cast(pl.Float64).clip(lower_bound=1.0).log(),
        "exclusive": f("exclusive").fill_null(False).cast(pl.Float64),
        "quality": f("quality"),
        "records": f("record_count").fill_null(1).clip(1).cast(pl.Float64).log(),
        "size": f("size_bytes").fill_null(1).clip(1).cast(pl.Float64).log(),
        "important": (f("classification") == "important").fill_null(False).cast(pl.Float64),
        "core": (f("classification") == "core").fill_null(False).cast(pl.Float64),
        "personal": f("personal_info")
        .is_in(["personal", "sensitive_personal"])
        .fill_null(False)
        .cast(pl.Float64),
    }
    for r in range(1, len(SCOPE_ORDER)):
        d[f"scope={r}"] = (ranks == r).fill_null(False).cast(pl.Float64)
    return d


@dataclass(frozen=True)
class Hedonic:
    coef: dict[str, float]
    categories: tuple[str, ...]
    q_low: float
    q_high: float

    def design(self) -> dict[str, pl.Expr]:
        d = _hedonic_design()
        for c in self.categories:
            d[f"cat={c}"] = (pl.col("category") == c).fill_null(False).cast(pl.Float64)
        return d

    def expr(self) -> pl.Expr:
        d = self.design()
        out = pl.lit(0.0)
        for n, v in self.coef.items():
            out = out + v * d[n]
        return out


def fit_hedonic(history: pl.DataFrame) -> Hedonic:
    cats = tuple(sorted(str(c) for c in history["category"].drop_nulls().unique()))
    h = Hedonic({}, cats, 0.0, 0.0)
    design = h.design()
    design.pop(f"cat={cats[0]}", None) if cats else None
    coef = weighted_least_squares(history, design, pl.col("y"), None, 1e-6)
    h = Hedonic(coef, cats, 0.0, 0.0)
    res = history.select((pl.col("y") - h.expr()).alias("r"))["r"]
    return Hedonic(coef, cats, float(res.quantile(0.05) or 0.0), float(res.quantile(0.95) or 0.0))


def hedonic_price_fn(h: Hedonic, assets: pl.DataFrame) -> PriceFn:
    """The hedonic baseline as a scalar function (the same design as `_hedonic_design`)."""
    rows = {r["asset_id"]: r for r in assets.iter_rows(named=True)}

    def price(aid: str, u: int | None, d: int, p: str, e: bool) -> tuple[int, int, int, float]:
        a = rows[aid]
        rank = SCOPE_RANK.get(p, UNKNOWN_SCOPE_RANK)
        x = {
            "const": 1.0,
            "log_units": math.log(max(u, 1)) if u is not None else 0.0,
            "unlimited": float(u is None),
            "log_days": math.log(max(d, 1)),
            "exclusive": float(e),
            "quality": float(a["quality"]),
            "records": math.log(max(a["record_count"] or 1, 1)),
            "size": math.log(max(a["size_bytes"] or 1, 1)),
            "important": float(a["classification"] == "important"),
            "core": float(a["classification"] == "core"),
            "personal": float(a["personal_info"] in ("personal", "sensitive_personal")),
            f"scope={rank}": 1.0,
            f"cat={a['category']}": 1.0,
        }
        v = math.exp(sum(c * x.get(n, 0.0) for n, c in h.coef.items()))
        return to_minor(v), to_minor(v * math.exp(h.q_low)), to_minor(v * math.exp(h.q_high)), v

    return price


HUBER_K = 1.345
ROBUST_ITERATIONS = 6
TERM_COLUMNS = ("log_units", "unlimited", "log_days", "exclusive")


@dataclass(frozen=True)
class RobustLogLinear:
    """The `robust_loglinear` baseline: coefficients over `design(categories)`."""

    coef: dict[str, float]
    categories: tuple[str, ...]
    q_low: float
    q_high: float

    def design(self) -> dict[str, pl.Expr]:
        d = _hedonic_design()
        md = market_design(self.categories[1:])  # the first category is the reference
        for name in (*USAGE_TERMS, "quality_missing", "age"):
            d[name] = md[name]
        for c in self.categories[1:]:
            d[f"cat={c}"] = md[f"cat={c}"]
        cost = pl.col("declared_cost_minor").cast(pl.Float64)
        d["log_cost"] = (cost.clip(lower_bound=1.0).log() - 14.0).fill_null(0.0)
        d["no_cost"] = cost.is_null().cast(pl.Float64)
        return d

    def expr(self, names: Sequence[str] | None = None) -> pl.Expr:
        d = self.design()
        out = pl.lit(0.0)
        for n, v in self.coef.items():
            if names is None or n in names or n.startswith("scope="):
                out = out + v * d[n]
        return out

    def terms(self, u: int | None, d: int, p: str, e: bool) -> float:
        """The terms' part of the log price (units, term, purpose, exclusivity)."""
        x = {
            "log_units": math.log(max(u, 1)) if u is not None else 0.0,
            "unlimited": float(u is None),
            "log_days": math.log(max(d, 1)),
            "exclusive": float(e),
            f"scope={SCOPE_RANK.get(p, UNKNOWN_SCOPE_RANK)}": 1.0,
        }
        return sum(self.coef.get(n, 0.0) * v for n, v in x.items())


def fit_robust_loglinear(history: pl.DataFrame) -> RobustLogLinear:
    """Huber IRLS of y on the design; `history` carries the usage features (`_with_features`)."""
    cats = tuple(sorted(str(c) for c in history["category"].drop_nulls().unique()))
    model = RobustLogLinear({}, cats, 0.0, 0.0)
    design, y = model.design(), pl.col("y")
    frame = history.with_columns(pl.lit(1.0).alias("_w"))
    for _ in range(ROBUST_ITERATIONS + 1):
        coef = weighted_least_squares(frame, design, y, pl.col("_w"), 1e-4)
        model = RobustLogLinear(coef, cats, 0.0, 0.0)
        frame = frame.with_columns((y - model.expr()).alias("_r"))
        r = pl.col("_r")
        mad = float(frame.select((r - r.median()).abs().median()).item() or 0.0)
        scale = max(1.4826 * mad, 1e-6)
        frame = frame.with_columns(huber(r / scale, HUBER_K).alias("_w"))
    res = frame["_r"]
    return RobustLogLinear(
        model.coef, cats, float(res.quantile(0.05) or 0.0), float(res.quantile(0.95) or 0.0)
    )


def robust_price_fn(rl: RobustLogLinear, requests: pl.DataFrame) -> PriceFn:
    """The baseline as a scalar function for the property checks: each asset's level is the
    median of its requests' predictions without their terms (`requests` carry the features)."""
    levels = dict(
        requests.group_by("asset_id")
        .agg((rl.expr() - rl.expr(TERM_COLUMNS)).median().alias("level"))
        .iter_rows()
    )

    def price(aid: str, u: int | None, d: int, p: str, e: bool) -> tuple[int, int, int, float]:
        v = math.exp(levels.get(aid, 0.0) + rl.terms(u, d, p, e))
        return to_minor(v), to_minor(v * math.exp(rl.q_low)), to_minor(v * math.exp(rl.q_high)), v

    return price


def baselines(history: pl.DataFrame, requests: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """pred/low/high per request for each baseline; `requests` carry t and asset columns."""
    y = pl.col("y")
    g_med = float(history.select(y.median()).item())
    g_lo, g_hi = (float(history.select((y - g_med).quantile(q)).item()) for q in (0.05, 0.95))
    cat = history.group_by("category").agg(y.median().alias("cm"))
    cat_res = history.join(cat, on="category").select((y - pl.col("cm")).alias("r"))["r"]
    c_lo, c_hi = float(cat_res.quantile(0.05) or 0.0), float(cat_res.quantile(0.95) or 0.0)
    req = requests.join(cat, on="category", how="left").with_columns(pl.col("cm").fill_null(g_med))
    out: dict[str, pl.DataFrame] = {}

    def frame(log_pred: pl.Expr, lo: float, hi: float) -> pl.DataFrame:
        return req.select(
            "request_id",
            log_pred.exp().alias("pred"),
            (log_pred + lo).exp().alias("low"),
            (log_pred + hi).exp().alias("high"),
        )

    out["global_median"] = frame(pl.lit(g_med), g_lo, g_hi)
    out["category_median"] = frame(pl.col("cm"), c_lo, c_hi)
    last = (
        requests.select("request_id", "asset_id", "t")
        .sort("t")
        .join_asof(
            history.select("asset_id", pl.col("t").alias("t_last"), pl.col("y").alias("last")).sort(
                "t_last"
            ),
            left_on="t",
            right_on="t_last",
            by="asset_id",
            strategy="backward",
            allow_exact_matches=False,
            check_sortedness=False,
        )
        .select("request_id", "last")
    )
    req = req.join(last, on="request_id", how="left")
    out["last_price"] = frame(pl.col("last").fill_null(pl.col("cm")), c_lo, c_hi)
    return out


# --- the backtest ---------------------------------------------------------------------------


def backtest(
    assets: pl.DataFrame,
    usage: pl.DataFrame | pl.LazyFrame,
    transactions: pl.DataFrame,
    cutoff: datetime | None = None,
    truth: pl.DataFrame | None = None,
    refit_days: float = 0.0,
    config: FitConfig | None = None,
    property_assets: int = 6,
    progress: Progress | None = None,
) -> Report:
    """Score the model and the baselines on the trades at or after `cutoff` (default: the time
    by which 80 % of the trades had happened)."""
    say = progress or (lambda _m: None)
    tx = conform(transactions, TRANSACTIONS).sort("at")
    if cutoff is None:
        cutoff = tx["at"][int(tx.height * 0.8)]
    assert cutoff is not None
    say("fit")
    model = fit(assets, usage, tx, as_of=cutoff, config=config, progress=say)
    cur = model.params.currency
    future = tx.filter((pl.col("at") >= cutoff) & (pl.col("currency") == cur))
    if truth is not None:
        genuine = truth.filter(~pl.col("wash")).select("transaction_id")
        future = future.join(genuine, on="transaction_id", how="semi")
    requests = conform(future.rename({"transaction_id": "request_id"}), REQUESTS)
    say("predict")
    if refit_days > 0:
        preds = predict_frame(assets, usage, tx, requests, refit_days, config, detail=True)
    else:
        preds = predict(model, assets, usage, tx, requests, detail=True)
    actual = future.select(
        pl.col("transaction_id").alias("request_id"), pl.col("price_minor").alias("actual")
    )
    scored = preds.join(actual, on="request_id").with_columns(
        pl.col("price_minor").alias("pred"),
        pl.col("low_minor").alias("low"),
        pl.col("high_minor").alias("high"),
    )

    say("baselines")
    a = _assets(assets)
    hist_tx, _, _ = _transactions(tx, a, cutoff, cur)
    req_rows = requests.join(a, on="asset_id", how="left").with_columns(
        (pl.col("at").dt.epoch("us").cast(pl.Float64) / 86_400_000_000).alias("t")
    )
    base = baselines(hist_tx, req_rows)
    hed = fit_hedonic(hist_tx)
    hed_pred = req_rows.select(
        "request_id",
        hed.expr().exp().alias("pred"),
        (hed.expr() + hed.q_low).exp().alias("low"),
        (hed.expr() + hed.q_high).exp().alias("high"),
    )
    base["hedonic"] = hed_pred
    last: datetime = tx["at"].max()  # type: ignore[assignment]
    all_usage = _usage(usage, last + timedelta(microseconds=1))  # features are point-in-time
    hist_f = _with_features(hist_tx, all_usage, a)
    req_f = _with_features(req_rows, all_usage, a)
    rl = fit_robust_loglinear(hist_f)
    base["robust_loglinear"] = req_f.select(
        "request_id",
        rl.expr().exp().alias("pred"),
        (rl.expr() + rl.q_low).exp().alias("low"),
        (rl.expr() + rl.q_high).exp().alias("high"),
    )

    say("properties")
    sample = _property_sample(model, requests, property_assets)
    model_v = check_properties(model_price_fn(model), sample)
    base_v = {
        "hedonic": sum(check_properties(hedonic_price_fn(hed, a), sample).values()),
        "robust_loglinear": sum(check_properties(robust_price_fn(rl, req_f), sample).values()),
    }

    scores = [metrics(scored, "model", sum(model_v.values()))]
    for name, frame in base.items():
        joined = frame.join(actual, on="request_id")
        scores.append(metrics(joined, name, base_v.get(name, 0)))
    noise = None
    if truth is not None and "true_price" in truth.columns:
        tp = actual.join(
            truth.select(pl.col("transaction_id").alias("request_id"), "true_price"),
            on="request_id",
        ).rename({"true_price": "pred"})
        noise = metrics(tp, "truth").mdape
    by_kind = {
        str(k): {
            "n": float(g.height),
            "mdape": metrics(g, "k").mdape,
            "coverage": metrics(g, "k").coverage or 0.0,
        }
        for (k,), g in scored.partition_by("kind", as_dict=True).items()
    }
    say("exclusions")
    ex = exclusions(model, assets, usage, tx, before=last + timedelta(microseconds=1))
    excluded = dict(ex.group_by("reason").len().iter_rows())
    detection = None
    if truth is not None and "wash" in truth.columns:
        t = truth.join(ex, on="transaction_id", how="left").with_columns(
            pl.col("reason")
            .is_in(["self_dealing", "circular", "related_party", "sybil_ring", "price_outlier"])
            .fill_null(False)
            .alias("flagged")
        )
        row = t.select(
            (pl.col("flagged") & pl.col("wash")).sum().alias("tp"),
            pl.col("flagged").sum().alias("f"),
            pl.col("wash").sum().alias("w"),
        ).row(0, named=True)
        detection = {
            "wash_trades": float(row["w"]),
            "flagged": float(row["f"]),
            "precision": row["tp"] / row["f"] if row["f"] else 1.0,
            "recall": row["tp"] / row["w"] if row["w"] else 1.0,
        }
    p = model.params
    info = {
        "currency": p.currency,
        "kernel": {
            "beta": dict(p.kernel.beta),
            "gamma": p.kernel.gamma,
            "log_unlimited": p.kernel.log_unlimited,
            "scope": list(p.kernel.scope),
            "exclusive": p.kernel.exclusive,
        },
        "interval": {
            "q_low": p.interval.q_low,
            "q_high": p.interval.q_high,
            "n_calibration": p.interval.n,
        },
        "sigma_eps": math.sqrt(p.sigma_eps2),
        "sigma_asset": math.sqrt(p.sigma_eta2),
        "mean_weights": {
            k: float(preds[f"w_{k}"].mean() or 0.0)  # type: ignore[arg-type]
            for k in ("market", "income", "cost")
        },
    }
    return Report(
        cutoff=cutoff,
        n_history=hist_tx.height,
        n_requests=requests.height,
        scores=scores,
        noise_floor=noise,
        by_kind=by_kind,
        excluded=excluded,
        detection=detection,
        violations=model_v,
        model=info,
    )


def _property_sample(model: Model, requests: pl.DataFrame, n: int) -> list[str]:
    ids = [
        a for a in requests["asset_id"].unique(maintain_order=True).to_list() if a in model.states
    ]
    step = max(1, len(ids) // max(n, 1))
    return ids[::step][:n]


def exclusions(
    model: Model,
    assets: pl.DataFrame,
    usage: pl.DataFrame | pl.LazyFrame,
    transactions: pl.DataFrame,
    before: datetime,
) -> pl.DataFrame:
    """Every trade before `before` that the model excluded or down-weighted, with the reason
    (judged point-in-time, with the model's coefficients)."""
    a = _assets(assets)
    u = _usage(usage, before)
    tx, _, other = _transactions(transactions, a, before, model.params.currency)
    hist = _history(model.params, _with_features(tx, u, a), day_of(model.as_of))
    return pl.concat(
        [
            hist.filter(pl.col("reason").is_not_null()).select(
                "transaction_id", "asset_id", "reason"
            ),
            other.with_columns(pl.lit("currency").alias("reason")),
        ]
    )
