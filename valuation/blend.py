"""Blending the three approaches by their measured back-test error, per kind of asset.

Why not fixed weights: which approach is best depends on what is known about the asset. An
asset with a long trading record is best valued from its own comparables; a new one leans on
its category, its usage and its declared cost. So the blend is fitted on a time-ordered
calibration slice (trades the fitted model had not seen, each predicted point-in-time), per
kind of asset -- `cold` (no effective own history), `thin` (< 3 effective trades), `rich` --
and per category, with the category's error moments pooled towards its kind's (and the kind's
towards all) when it has few calibration trades.

Weights minimise the blended mean squared log error: w = argmin w'Mw, w >= 0, sum w = 1, with
M the matrix of error second moments (linalg.min_variance_weights). With uncorrelated errors this
is inverse-MSE weighting; when two approaches err together they share one weight instead of
counting twice. The cost approach is only in the blend for assets that declare a cost, so two
weight sets exist per group (with and without cost).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from valuation.approaches import APPROACHES
from valuation.linalg import min_variance_weights

KINDS = ("cold", "thin", "rich")
POOL = 50.0  # pseudo-observations of the parent group's moments


def kind_expr(n_asset: pl.Expr) -> pl.Expr:
    """cold / thin / rich from the asset's effective number of own past trades."""
    return (
        pl.when(n_asset.fill_null(0.0) < 0.5)
        .then(pl.lit("cold"))
        .when(n_asset < 3.0)
        .then(pl.lit("thin"))
        .otherwise(pl.lit("rich"))
    )


Weights = tuple[float, float, float]


@dataclass(frozen=True)
class Blend:
    """Weights per (kind, category, has_cost); (kind, None, has_cost) is the pooled fallback."""

    weights: Mapping[tuple[str, str | None, bool], Weights]

    def lookup(self, kind: str, category: str | None, has_cost: bool) -> Weights:
        got = self.weights.get((kind, category, has_cost))
        if got is None:
            got = self.weights.get((kind, None, has_cost), (1.0, 0.0, 0.0))
        return got

    def frame(self) -> pl.DataFrame:
        rows = [
            {"kind": k, "category": c, "has_cost": h, **dict(zip(_W, w, strict=True))}
            for (k, c, h), w in self.weights.items()
        ]
        schema = {"kind": pl.String, "category": pl.String, "has_cost": pl.Boolean}
        return pl.DataFrame(rows, schema=schema | dict.fromkeys(_W, pl.Float64))


_W = tuple(f"w_{a}" for a in APPROACHES)
_E = tuple(f"e_{a}" for a in APPROACHES)


def _moments(frame: pl.DataFrame) -> tuple[float, list[list[float]]]:
    """(rows, 3x3 second moments of the errors; the cost entries over rows that have one)."""
    n = float(frame.height)
    out = [[0.0] * 3 for _ in range(3)]
    if not frame.height:
        return 0.0, out
    exprs = [
        (pl.col(_E[i]) * pl.col(_E[j])).drop_nulls().mean().alias(f"{i}{j}")
        for i in range(3)
        for j in range(i, 3)
    ]
    row = frame.select(exprs).row(0, named=True)
    for i in range(3):
        for j in range(i, 3):
            v = row[f"{i}{j}"]
            out[i][j] = out[j][i] = float(v) if v is not None else 0.0
    return n, out


def _pool(n: float, m: list[list[float]], parent: list[list[float]]) -> list[list[float]]:
    return [[(n * m[i][j] + POOL * parent[i][j]) / (n + POOL) for j in range(3)] for i in range(3)]


def fit_blend(errors: pl.DataFrame) -> Blend:
    """`errors`: kind, category, has_cost and e_market, e_income, e_cost (null when no cost)."""
    _, overall = _moments(errors)
    weights: dict[tuple[str, str | None, bool], Weights] = {}
    for kind in KINDS:
        sub = errors.filter(pl.col("kind") == kind)
        n_k, m_k = _moments(sub)
        m_k = _pool(n_k, m_k, overall)
        groups: list[tuple[str | None, list[list[float]]]] = [(None, m_k)]
        for (cat,), rows in sub.partition_by("category", as_dict=True).items():
            n_c, m_c = _moments(rows)
            groups.append((None if cat is None else str(cat), _pool(n_c, m_c, m_k)))
        for cat, m in groups:
            w2 = min_variance_weights([row[:2] for row in m[:2]])
            weights[(kind, cat, False)] = (w2[0], w2[1], 0.0)
            w3 = min_variance_weights(m)
            weights[(kind, cat, True)] = (w3[0], w3[1], w3[2])
    return Blend(weights)
