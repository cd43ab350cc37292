"""The licence-terms kernel: how a price scales with units, term, scope and exclusivity.

Why a kernel shared by every approach: the market, income and cost approaches (approaches.py)
each value an asset for one *reference licence* (10,000 units, 365 days, purpose "internal",
non-exclusive). The kernel then carries that value to the requested terms:

    price = base(asset, t) x units_c(u) x days^gamma x scope(purpose) x (1 + premium)^exclusive

    units_c(u) = (min(max(u, 1), U) / 10,000)^beta_c      (unlimited quota = U)

with beta_c, gamma in [0, 1], scope multipliers non-decreasing in the purpose's scope rank and a
non-negative exclusivity premium. Because every estimate (and every interval bound) is a positive
number times this kernel, the arbitrage-free properties hold *by construction*, not by hope:

* price never falls when units, term, scope or exclusivity grow (each factor is non-decreasing);
* price per unit never rises with units: min(u, U)^beta / u is non-increasing for beta <= 1;
* splitting an order never pays: u -> min(u, U)^beta and d -> d^gamma are concave with value 0
  at 0, hence subadditive (Koutris et al. 2012; Deep & Koutris 2017 call such pricing
  arbitrage-free for bundles of queries).

Integer prices use `ceil`, which keeps monotonicity *and* subadditivity (if x <= y + z then
ceil(x) <= ceil(y) + ceil(z)); rounding to nearest would not. Per-unit monotonicity can only be
exact on the real-valued price (an integer price cannot fall by less than one minor unit), so it
is stated and tested on `price_real`.

Scope is the breadth of use a purpose grants, ordered in `SCOPE_ORDER` (research < internal <
analytics < marketing < product < ai_training < redistribution). An unknown purpose is priced at
the middle rank ("analytics"): a documented assumption, not a learned one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

SCOPE_ORDER: tuple[str, ...] = (
    "research",
    "internal",
    "analytics",
    "marketing",
    "product",
    "ai_training",
    "redistribution",
)
SCOPE_RANK: dict[str, int] = {p: i for i, p in enumerate(SCOPE_ORDER)}
UNKNOWN_SCOPE_RANK = SCOPE_RANK["analytics"]
REF_UNITS = 10_000.0
REF_DAYS = 365.0
REF_PURPOSE = "internal"
MAX_PRICE_MINOR = 10**15  # clamp: keeps Int64 safe; min(C, x) stays monotone and subadditive


def scope_rank(purpose: str | None) -> int:
    return SCOPE_RANK.get(purpose or "", UNKNOWN_SCOPE_RANK)


@dataclass(frozen=True)
class Kernel:
    """Fitted terms kernel (see module docstring); all values are logs or exponents."""

    beta: Mapping[str, float]  # per category, each in [0, 1]
    beta_default: float  # for categories not seen in training
    gamma: float  # term exponent in [0, 1]
    log_unlimited: float  # log of the units an unlimited quota is priced as
    scope: tuple[float, ...]  # log multiplier per SCOPE_ORDER rank, non-decreasing
    exclusive: float  # log(1 + premium) >= 0

    def __post_init__(self) -> None:
        betas = [self.beta_default, *self.beta.values()]
        if not all(0.0 <= b <= 1.0 for b in betas) or not 0.0 <= self.gamma <= 1.0:
            raise ValueError("kernel exponents must lie in [0, 1]")
        if any(b < a for a, b in zip(self.scope, self.scope[1:], strict=False)):
            raise ValueError("scope multipliers must be non-decreasing")
        if self.exclusive < 0 or len(self.scope) != len(SCOPE_ORDER):
            raise ValueError("bad exclusivity premium or scope table")
        if self.log_unlimited < math.log(REF_UNITS):
            raise ValueError("unlimited must price at least as the reference quota")

    def beta_for(self, category: str | None) -> float:
        return self.beta.get(category or "", self.beta_default)

    def log_factor(
        self,
        category: str | None,
        units: int | float | None,
        days: int | float,
        purpose: str | None,
        exclusive: bool,
    ) -> float:
        """log of the kernel for one set of terms (0 for the reference licence)."""
        log_u = (
            self.log_unlimited
            if units is None
            else min(math.log(max(float(units), 1.0)), self.log_unlimited)
        )
        ref_scope = self.scope[SCOPE_RANK[REF_PURPOSE]]
        return (
            self.beta_for(category) * (log_u - math.log(REF_UNITS))
            + self.gamma * (math.log(max(float(days), 1.0)) - math.log(REF_DAYS))
            + self.scope[scope_rank(purpose)]
            - ref_scope
            + (self.exclusive if exclusive else 0.0)
        )

    def log_factor_expr(self) -> pl.Expr:
        """The same as `log_factor`, over columns category, max_units, duration_days, purpose,
        exclusive (nulls in max_units mean unlimited)."""
        beta = (
            pl.col("category")
            .replace_strict(dict(self.beta), default=self.beta_default, return_dtype=pl.Float64)
            .fill_null(self.beta_default)
        )
        log_u = (
            pl.col("max_units")
            .cast(pl.Float64)
            .clip(lower_bound=1.0)
            .log()
            .clip(upper_bound=self.log_unlimited)
            .fill_null(self.log_unlimited)
        )
        ranks = {p: self.scope[i] for i, p in enumerate(SCOPE_ORDER)}
        scope = (
            pl.col("purpose")
            .replace_strict(ranks, default=self.scope[UNKNOWN_SCOPE_RANK], return_dtype=pl.Float64)
            .fill_null(self.scope[UNKNOWN_SCOPE_RANK])
        )
        days = pl.col("duration_days").cast(pl.Float64).clip(lower_bound=1.0).log()
        return (
            beta * (log_u - math.log(REF_UNITS))
            + self.gamma * (days - math.log(REF_DAYS))
            + scope
            - self.scope[SCOPE_RANK[REF_PURPOSE]]
            + pl.when(pl.col("exclusive").fill_null(False)).then(self.exclusive).otherwise(0.0)
        )


def to_minor(value: float) -> int:
    """An integer price from a real one: ceil (keeps subadditivity), at least 1, clamped."""
    if not math.isfinite(value):
        return MAX_PRICE_MINOR if value > 0 else 1
    return int(min(MAX_PRICE_MINOR, max(1, math.ceil(value))))


def to_minor_expr(expr: pl.Expr) -> pl.Expr:
    return expr.clip(upper_bound=float(MAX_PRICE_MINOR)).ceil().clip(lower_bound=1.0).cast(pl.Int64)
