"""Small dense linear algebra on top of polars, so valuation/ needs no numpy.

The models here have tens of coefficients and up to millions of rows: the rows are reduced by
polars (one pass computing every entry of X'WX and X'Wy), and the small system is solved in pure
Python by Cholesky with a ridge term. Also: weighted isotonic regression (pool adjacent
violators), used to make scope multipliers monotone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import polars as pl


def weighted_least_squares(
    frame: pl.DataFrame | pl.LazyFrame,
    columns: Mapping[str, pl.Expr],
    target: pl.Expr,
    weight: pl.Expr | None = None,
    ridge: Mapping[str, float] | float = 1e-6,
) -> dict[str, float]:
    """Coefficients minimising sum w (y - X b)^2 + sum ridge_j b_j^2 (no implicit intercept)."""
    names = list(columns)
    # a column, never a bare literal: the sum of lit * lit would be one value, not n of them
    w = (weight if weight is not None else pl.lit(1.0)) + pl.repeat(0.0, pl.len())
    exprs: list[pl.Expr] = []
    for i, a in enumerate(names):
        for b in names[i:]:
            exprs.append((w * columns[a] * columns[b]).sum().alias(f"g|{a}|{b}"))
        exprs.append((w * columns[a] * target).sum().alias(f"r|{a}"))
    row = frame.lazy().select(exprs).collect().row(0, named=True)
    n = len(names)
    gram = [[0.0] * n for _ in range(n)]
    rhs = [0.0] * n
    for i, a in enumerate(names):
        for j in range(i, n):
            v = float(row[f"g|{a}|{names[j]}"] or 0.0)
            gram[i][j] = gram[j][i] = v
        rhs[i] = float(row[f"r|{a}"] or 0.0)
        lam = ridge.get(a, 1e-6) if isinstance(ridge, Mapping) else ridge
        gram[i][i] += lam
    return dict(zip(names, solve_spd(gram, rhs), strict=True))


def solve_spd(a: list[list[float]], b: list[float]) -> list[float]:
    """Solve A x = b for symmetric positive definite A (Cholesky); tiny pivots are jittered."""
    n = len(b)
    low = [[0.0] * n for _ in range(n)]
    scale = max((abs(a[i][i]) for i in range(n)), default=1.0) or 1.0
    for i in range(n):
        for j in range(i + 1):
            s = a[i][j] - sum(low[i][k] * low[j][k] for k in range(j))
            if i == j:
                low[i][i] = math.sqrt(s if s > 1e-12 * scale else 1e-12 * scale)
            else:
                low[i][j] = s / low[j][j]
    y = [0.0] * n
    for i in range(n):
        y[i] = (b[i] - sum(low[i][k] * y[k] for k in range(i))) / low[i][i]
    x = [0.0] * n
    for i in reversed(range(n)):
        x[i] = (y[i] - sum(low[k][i] * x[k] for k in range(i + 1, n))) / low[i][i]
    return x


def isotonic(values: Sequence[float], weights: Sequence[float]) -> list[float]:
    """The non-decreasing sequence closest to `values` in weighted squared error (PAV)."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for v, w in zip(values, weights, strict=True):
        blocks.append([v, max(w, 1e-12), 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    out: list[float] = []
    for m, _, c in blocks:
        out.extend([m] * int(c))
    return out


def min_variance_weights(cov: Sequence[Sequence[float]]) -> list[float]:
    """Non-negative weights summing to 1 minimising w' C w (C: error second moments).

    With uncorrelated errors this is inverse-MSE weighting; correlated approaches share weight
    instead of double counting. Negative solutions are dropped and the rest re-solved (k <= 3,
    so the active-set loop is tiny).
    """
    k = len(cov)
    active = list(range(k))
    while active:
        sub = [[cov[i][j] + (1e-9 if i == j else 0.0) for j in active] for i in active]
        x = solve_spd(sub, [1.0] * len(active))
        total = sum(x)
        if total > 0 and all(v >= 0 for v in x):
            w = [0.0] * k
            for i, v in zip(active, x, strict=True):
                w[i] = v / total
            return w
        worst = min(range(len(active)), key=lambda i: x[i])
        active.pop(worst)
    return [1.0 / k] * k
