"""Split-conformal 90 % intervals on a time-ordered calibration slice.

Why conformal: an interval is only useful if "90 %" is true. Split conformal gives that without
assuming a noise distribution: residuals of predictions the model made *without* seeing those
trades (the latest slice of history, each predicted point-in-time) are ranked, and the interval
is read off their finite-sample quantiles, so coverage holds on future trades as far as they
resemble the recent past.

Normalised scores: the residual (log actual - log predicted) is divided by a scale that depends
on what is known about the asset -- its kind (cold / thin / rich) and whether it declares a cost
-- estimated on an earlier calibration slice. One pair of quantiles of the standardised score
then serves every group (small groups borrow strength), while new assets still get wider
intervals than well-traded ones. The scale does not depend on the licence terms, so low and
high are the price times constants and keep the kernel's monotone, subadditive shape.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

SCALE_POOL = 30.0


@dataclass(frozen=True)
class Interval:
    q_low: float  # standardised quantiles; low = price * exp(q_low * scale)
    q_high: float
    scale: Mapping[tuple[str, bool], float]  # (kind, has_cost) -> scale of the log error
    default_scale: float
    n: int

    def scale_for(self, kind: str, has_cost: bool) -> float:
        return self.scale.get((kind, has_cost), self.default_scale)


def fit_scales(
    errors: pl.DataFrame, residual: str, prior: Mapping[str, float]
) -> tuple[dict[tuple[str, bool], float], float]:
    """Root mean squared `residual` per (kind, has_cost), pooled towards `prior[kind]` (a
    model-implied mean square: noise plus the unexplained asset-effect variance at that much
    own history), so a kind with few calibration trades -- new assets -- still gets the wider
    interval its missing history implies."""
    overall = errors.select((pl.col(residual) ** 2).mean()).item()
    overall_ms = float(overall) if overall is not None else 0.1
    scales: dict[tuple[str, bool], float] = {}
    for kind in ("cold", "thin", "rich"):
        for has_cost in (False, True):
            sub = errors.filter((pl.col("kind") == kind) & (pl.col("has_cost") == has_cost))
            n = float(sub.height)
            ms = float(sub.select((pl.col(residual) ** 2).mean()).item() or 0.0) if n else 0.0
            base = prior.get(kind, overall_ms)
            scales[(kind, has_cost)] = math.sqrt((n * ms + SCALE_POOL * base) / (n + SCALE_POOL))
    return scales, math.sqrt(overall_ms)


def conformal_quantiles(scores: Sequence[float], alpha: float) -> tuple[float, float]:
    """Finite-sample split-conformal lower and upper quantiles at alpha/2 and 1 - alpha/2.

    The upper bound is the ceil((n+1)(1-alpha/2))-th smallest score, the lower the
    floor((n+1)alpha/2)-th; past either end the extreme score is widened by half its size.
    """
    s = sorted(scores)
    n = len(s)
    if n == 0:
        return -1.645, 1.645
    k_hi = math.ceil((n + 1) * (1 - alpha / 2))
    k_lo = math.floor((n + 1) * alpha / 2)
    hi = s[k_hi - 1] if k_hi <= n else s[-1] * 1.5
    lo = s[k_lo - 1] if k_lo >= 1 else s[0] * 1.5
    return min(lo, 0.0), max(hi, 0.0)
