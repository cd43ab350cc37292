"""The three valuation approaches (IVS 210; China Appraisal Society 2023 data-asset guidance).

Every approach values the asset for the *reference licence* (terms.py) in log space; the shared
terms kernel then carries that value to any requested terms, so the three are comparable and
the blend keeps the kernel's arbitrage-free shape. All three also share the market index
G(t) + C_category(t) (model.py): the online, point-in-time level of prices, which moves with
regime shifts.

* Market approach -- comparable transactions adjusted for quality, volume, term, exclusivity
  and date: a hedonic model on log price. The kernel (units, term, scope, exclusivity) is fitted
  *within assets* (each asset's trades are demeaned, so asset quality cannot masquerade as a
  terms effect); asset characteristics (usage statistics, quality, size, classification, age,
  category) are then fitted on what remains; the asset's own past trades add a shrunken,
  recency-weighted asset effect (model.py), pooled towards the category when the asset has
  little history.
* Income approach -- licence revenue projected from usage trends, discounted: the usage a
  reference licence is expected to consume (per-licensee intensity from robust 84-day usage,
  projected 12 months with the 90-day trend, discounted at `DISCOUNT_RATE`) and the demand
  (licensees projected a quarter ahead), converted to money with a revenue multiple fitted on
  past trades per category.
* Cost approach -- declared cost adjusted for quality and obsolescence: log(declared cost) plus
  a category cost-to-price ratio, a quality adjustment and an age (obsolescence) slope, fitted
  on past trades; unavailable when no cost is declared.

The fitted coefficients are plain dicts from design-column name to value; `linear` turns them
back into a polars expression.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from valuation.linalg import isotonic, weighted_least_squares
from valuation.robust import huber
from valuation.terms import REF_DAYS, REF_PURPOSE, REF_UNITS, SCOPE_ORDER, SCOPE_RANK, Kernel
from valuation.terms import UNKNOWN_SCOPE_RANK as _UNKNOWN

DISCOUNT_RATE = 0.08
CATEGORY_RIDGE = 3.0  # pseudo-trades pulling a category intercept towards the global one
BETA_RIDGE = 20.0  # pseudo-trades pulling a category's units exponent towards the global one
APPROACHES = ("market", "income", "cost")


@dataclass(frozen=True)
class Linear:
    """A fitted linear predictor over named design columns."""

    coef: Mapping[str, float]

    def expr(self, design: Mapping[str, pl.Expr]) -> pl.Expr:
        out = pl.lit(0.0)
        for name, value in self.coef.items():
            if name in design and value != 0.0:
                out = out + value * design[name]
        return out


def _cat_dummies(categories: Sequence[str]) -> dict[str, pl.Expr]:
    return {
        f"cat={c}": (pl.col("category") == c).fill_null(False).cast(pl.Float64) for c in categories
    }


def market_design(categories: Sequence[str]) -> dict[str, pl.Expr]:
    """Asset characteristics for the hedonic market model (columns from features + assets)."""
    f = pl.col
    return {
        "const": pl.lit(1.0),
        **_cat_dummies(categories),
        "lic90": f("licensees_90").cast(pl.Float64).log1p(),
        "lic365": f("licensees_365").cast(pl.Float64).log1p(),
        "robust_units": f("robust_units").cast(pl.Float64).log1p(),
        "units365": f("units_365").cast(pl.Float64).log1p(),
        "trend": f("trend").fill_null(0.0).clip(-2.0, 2.0),
        "top_share": f("top_share").fill_null(0.0),
        "no_usage": (f("units_365") == 0).cast(pl.Float64),
        "recency": f("days_since_last").fill_null(3650).clip(0, 3650).cast(pl.Float64).log1p(),
        "cat_lic90": f("cat_licensees_90").cast(pl.Float64).log1p(),
        "cat_trend": f("cat_trend").fill_null(0.0).clip(-2.0, 2.0),
        "quality": f("quality"),
        "quality_missing": f("quality_missing"),
        "records": f("record_count").fill_null(1).clip(1).cast(pl.Float64).log() - 11.0,
        "size": f("size_bytes").fill_null(1).clip(1).cast(pl.Float64).log() - 17.0,
        "important": (f("classification") == "important").fill_null(False).cast(pl.Float64),
        "core": (f("classification") == "core").fill_null(False).cast(pl.Float64),
        "anonymized": (f("personal_info") == "anonymized").fill_null(False).cast(pl.Float64),
        "personal": (f("personal_info") == "personal").fill_null(False).cast(pl.Float64),
        "sensitive": (f("personal_info") == "sensitive_personal").fill_null(False).cast(pl.Float64),
        "age": f("age_years"),
    }


USAGE_TERMS = (
    "lic90",
    "lic365",
    "robust_units",
    "units365",
    "trend",
    "top_share",
    "no_usage",
    "recency",
    "cat_lic90",
    "cat_trend",
)


def split_usage(model: Linear) -> tuple[Linear, Linear]:
    """(static part, usage part) of the market model: an asset's own trades override the
    usage part (whose within-asset movement is mostly the asset's own sales ramping up),
    while static characteristics and age still adjust its past prices."""
    static = {k: v for k, v in model.coef.items() if k not in USAGE_TERMS}
    usage = {k: v for k, v in model.coef.items() if k in USAGE_TERMS}
    return Linear(static), Linear(usage)


def _present_value() -> pl.Expr:
    """Discounted usage a reference licence (12 months) is expected to consume."""
    intensity = pl.col("robust_units").cast(pl.Float64) / (
        84.0 * pl.col("licensees_90").cast(pl.Float64).clip(lower_bound=1.0)
    )
    growth = (pl.col("trend").fill_null(0.0) / 3.0).clip(-0.1, 0.1)
    rho = (growth - math.log(1 + DISCOUNT_RATE) / 12.0).exp()
    series = (
        pl.when((rho - 1.0).abs() < 1e-9)
        .then(12.0)
        .otherwise(rho * (1.0 - rho.pow(12)) / (1.0 - rho))
    )
    return 30.4 * intensity * series


def income_design(categories: Sequence[str]) -> dict[str, pl.Expr]:
    demand = (
        pl.col("licensees_90").cast(pl.Float64)
        * pl.col("trend").fill_null(0.0).clip(-1.0, 1.0).exp()
    )
    return {
        "const": pl.lit(1.0),
        **_cat_dummies(categories),
        "pv_units": _present_value().log1p(),
        "demand": demand.log1p(),
        "no_usage": (pl.col("units_365") == 0).cast(pl.Float64),
    }


def cost_design(categories: Sequence[str]) -> dict[str, pl.Expr]:
    return {
        "const": pl.lit(1.0),
        **_cat_dummies(categories),
        "quality": pl.col("quality"),
        "age": pl.col("age_years"),
    }


def log_cost() -> pl.Expr:
    return pl.col("declared_cost_minor").cast(pl.Float64).clip(lower_bound=1.0).log()


def fit_linear(
    frame: pl.DataFrame,
    design: Mapping[str, pl.Expr],
    target: pl.Expr,
    weight: pl.Expr,
    ridge: float = 1e-3,
) -> Linear:
    """Weighted ridge regression; category intercepts are pulled towards `const`."""
    ridges = {n: (CATEGORY_RIDGE if n.startswith("cat=") else ridge) for n in design}
    ridges["const"] = 1e-6
    return Linear(weighted_least_squares(frame, design, target, weight, ridges))


# --- the kernel ------------------------------------------------------------------------------


def _kernel_design(categories: Sequence[str], unlimited: float) -> dict[str, pl.Expr]:
    """Regressors; an unlimited quota enters the units terms at log(units) = `unlimited` (its
    current estimate), and the `unlimited` dummy measures what is left to correct."""
    log_u = pl.col("max_units").cast(pl.Float64).clip(lower_bound=1.0).log() - math.log(REF_UNITS)
    units = log_u.fill_null(unlimited - math.log(REF_UNITS))
    ranks = (
        pl.col("purpose")
        .replace_strict(SCOPE_RANK, default=_UNKNOWN, return_dtype=pl.Int64)
        .fill_null(_UNKNOWN)
    )
    design: dict[str, pl.Expr] = {
        "units": units,
        "unlimited": pl.col("max_units").is_null().cast(pl.Float64),
        "days": pl.col("duration_days").cast(pl.Float64).clip(lower_bound=1.0).log()
        - math.log(REF_DAYS),
        "exclusive": pl.col("exclusive").fill_null(False).cast(pl.Float64),
    }
    for c in categories:
        design[f"units|{c}"] = units * (pl.col("category") == c).fill_null(False).cast(pl.Float64)
    for r, p in enumerate(SCOPE_ORDER):
        if p != REF_PURPOSE:
            design[f"scope={r}"] = (ranks == r).cast(pl.Float64)
    return design


@dataclass(frozen=True)
class KernelFit:
    kernel: Kernel
    residual_var: float  # within-asset variance of log price around the kernel


def fit_kernel(frame: pl.DataFrame, categories: Sequence[str], weight: str = "w") -> KernelFit:
    """The terms kernel from within-asset variation (see module docstring), then projected onto
    the arbitrage-free set: exponents clipped to [0, 1], scope made monotone (weighted PAV),
    exclusivity premium >= 0, unlimited >= the largest finite quota seen."""
    w = pl.col(weight)
    by = "asset_id"
    finite = frame.select(pl.col("max_units").max()).item()
    log_max = math.log(max(float(finite or REF_UNITS), REF_UNITS))
    unlimited = log_max + math.log(10.0)  # first guess: ten times the largest finite quota

    def within(e: pl.Expr) -> pl.Expr:
        return e - (w * e).sum().over(by) / w.sum().over(by).clip(lower_bound=1e-12)

    live = frame.filter(pl.col(weight) > 0)
    coef: dict[str, float] = {}
    robust_w = pl.lit(1.0)
    for step in range(4):
        design = _kernel_design(categories, unlimited)
        data = live.with_columns(
            [within(e).alias(f"d|{n}") for n, e in design.items()]
            + [within(pl.col("y")).alias("d|y")]
        ).with_columns((w * robust_w).alias("_kw"))
        cols = {n: pl.col(f"d|{n}") for n in design}
        ridge = {n: (BETA_RIDGE if n.startswith("units|") else 1e-3) for n in design}
        coef = weighted_least_squares(data, cols, pl.col("d|y"), pl.col("_kw"), ridge)
        resid = pl.col("d|y") - Linear(coef).expr(cols)
        if step == 0:
            scale = data.select((resid.abs().median() * 1.4826).alias("s")).item() or 1.0
            robust_w = huber(resid / max(float(scale), 1e-6))
        beta_unl = (
            data.filter(pl.col("max_units").is_null())
            .select(
                (
                    coef.get("units", 0.5)
                    + pl.col("category").replace_strict(
                        {c: coef.get(f"units|{c}", 0.0) for c in categories},
                        default=0.0,
                        return_dtype=pl.Float64,
                    )
                ).mean()
            )
            .item()
        )
        unlimited += coef.get("unlimited", 0.0) / max(float(beta_unl or 0.5), 0.05)
        unlimited = min(max(unlimited, log_max), log_max + 10.0)
    res = data.select(
        ((pl.col("_kw") * (pl.col("d|y") - Linear(coef).expr(cols)) ** 2).sum()).alias("ss"),
        pl.col("_kw").sum().alias("n"),
        pl.col("asset_id").n_unique().alias("groups"),
    ).row(0, named=True)
    dof = max(1.0, float(res["n"] or 0.0) - float(res["groups"] or 0) - len(coef))
    residual_var = float(res["ss"] or 0.0) / dof if res["n"] else 0.1

    beta = coef.get("units", 0.5)
    betas = {c: min(1.0, max(0.0, beta + coef.get(f"units|{c}", 0.0))) for c in categories}
    counts = frame.group_by(
        pl.col("purpose").replace_strict(SCOPE_RANK, default=_UNKNOWN, return_dtype=pl.Int64)
    ).len()
    count_of = dict(zip(counts["purpose"].to_list(), counts["len"].to_list(), strict=True))
    raw = [
        0.0 if p == REF_PURPOSE else coef.get(f"scope={r}", 0.0) for r, p in enumerate(SCOPE_ORDER)
    ]
    weights = [float(count_of.get(r, 0)) + 1e-3 for r in range(len(SCOPE_ORDER))]
    kernel = Kernel(
        beta=betas,
        beta_default=min(1.0, max(0.0, beta)),
        gamma=min(1.0, max(0.0, coef.get("days", 0.5))),
        log_unlimited=max(unlimited, log_max),
        scope=tuple(isotonic(raw, weights)),
        exclusive=max(0.0, coef.get("exclusive", 0.0)),
    )
    return KernelFit(kernel, residual_var)
