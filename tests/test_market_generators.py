"""The synthetic markets of scripts/markets/ (issue 19): contract frames, determinism, truth for
every trade, the structural feature each claims, and a backtest on each that reports every
baseline."""

from __future__ import annotations

import importlib
import math
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from valuation.backtest import backtest
from valuation.contract import ASSETS, REQUESTS, TRANSACTIONS, USAGE, conform

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
markets = importlib.import_module("markets")
GENERATORS: dict[str, Any] = markets.GENERATORS
NEW = ("income", "costplus", "interactions", "heavytail")
FRAMES = {"assets": ASSETS, "usage": USAGE, "transactions": TRANSACTIONS, "requests": REQUESTS}


def _gen(name: str, seed: int = 0, wash_rate: float = 0.1, n_assets: int = 120) -> Any:
    return GENERATORS[name](seed=seed, wash_rate=wash_rate, n_assets=n_assets)


@pytest.fixture(scope="module", params=NEW)
def washed(request: pytest.FixtureRequest) -> tuple[str, Any]:
    return request.param, _gen(request.param)


@pytest.fixture(scope="module")
def large() -> dict[str, Any]:
    """Wash-free markets big enough for the structural claims (generation takes < 1 s each)."""
    return {name: _gen(name, wash_rate=0.0, n_assets=400) for name in (*NEW, "market_gen")}


def _genuine(m: Any) -> pl.DataFrame:
    """Genuine, non-outlier trades with their noise-free price and category."""
    outlier = pl.col("outlier") if "outlier" in m.truth.columns else pl.lit(False)
    keep = m.truth.filter(~pl.col("wash") & ~outlier)
    return m.transactions.join(
        keep.select("transaction_id", "true_price"), on="transaction_id"
    ).join(m.assets.select("asset_id", "category"), on="asset_id")


def test_frames_conform_to_the_contract(washed: tuple[str, Any]) -> None:
    _, m = washed
    for frame_name, schema in FRAMES.items():
        frame = getattr(m, frame_name)
        assert frame.schema == schema, frame_name
        assert conform(frame, schema).equals(frame), frame_name
        assert frame.height > 0, frame_name
    assert m.assets["asset_id"].n_unique() == m.assets.height
    assert m.transactions["transaction_id"].n_unique() == m.transactions.height


def test_deterministic_per_seed(washed: tuple[str, Any]) -> None:
    name, m = washed
    again, other = _gen(name), _gen(name, seed=1)
    for frame_name in (*FRAMES, "truth"):
        assert getattr(m, frame_name).equals(getattr(again, frame_name)), frame_name
    assert not m.transactions.equals(other.transactions)


def test_truth_for_every_transaction(washed: tuple[str, Any]) -> None:
    _, m = washed
    t = m.truth
    assert t.height == m.transactions.height
    assert set(t["transaction_id"]) == set(m.transactions["transaction_id"])
    assert t["true_price"].null_count() == 0 and t["true_price"].min() > 0
    assert t.filter(pl.col("wash"))["wash_kind"].null_count() == 0
    assert t.filter(~pl.col("wash"))["wash_kind"].null_count() == t.filter(~pl.col("wash")).height
    assert 0.05 <= t["wash"].mean() <= 0.15  # wash_rate 0.1
    same = t.join(m.transactions, on="transaction_id").filter(
        pl.col("price_minor") != pl.col("price_minor_right")
    )
    assert same.height == 0  # truth's recorded price is the transaction's
    genuine = set(t.filter(~pl.col("wash"))["transaction_id"])
    assert set(m.requests["request_id"]) <= genuine


def test_wash_kinds_and_outliers(washed: tuple[str, Any]) -> None:
    name, m = washed
    kinds = set(m.truth.filter(pl.col("wash"))["wash_kind"])
    expected = {
        "income": {"burst", "related", "circular"},
        "costplus": {"circular", "sybil"},
        "interactions": {"related", "circular", "sybil"},
        "heavytail": {"sybil", "related", "circular"},
    }[name]
    assert kinds == expected
    if "sybil" in kinds:  # each sybil buyer buys exactly once
        sybil = m.transactions.join(
            m.truth.filter(pl.col("wash_kind") == "sybil"), on="transaction_id"
        )
        everyone = m.transactions.group_by("buyer_id").len()
        counts = sybil.select("buyer_id").join(everyone, on="buyer_id")
        assert counts["len"].max() == 1
        ratio = sybil.select((pl.col("price_minor") / pl.col("true_price")).log().median()).item()
        assert math.log(2.5) < ratio < math.log(12)
    outliers = m.truth.filter(pl.col("outlier"))
    assert 0.003 <= outliers.height / m.truth.filter(~pl.col("wash")).height <= 0.04
    far = outliers.select((pl.col("price_minor") / pl.col("true_price")).log().abs().min()).item()
    assert far > math.log(2.5)  # 5-20 x or 0.05-0.2 x, after noise


def test_genuine_market_does_not_depend_on_the_wash_rate(washed: tuple[str, Any]) -> None:
    name, m = washed
    clean = _gen(name, wash_rate=0.0)
    genuine = m.truth.filter(~pl.col("wash")).select("transaction_id")
    kept = m.transactions.join(genuine, on="transaction_id").sort("transaction_id")
    assert kept.equals(clean.transactions.sort("transaction_id"))


def test_regime_shift_visible_in_category_medians(large: dict[str, Any]) -> None:
    for name in NEW:
        m = large[name]
        drift, tx = m.hidden.drift, _genuine(m)
        logp = pl.col("price_minor").cast(pl.Float64).log().median()
        best = None
        for c, shift in enumerate(drift.shift):
            if shift == 0:
                continue
            at = m.config.start + timedelta(days=drift.shift_day[c])
            g = tx.filter(pl.col("category") == f"cat-{c:02d}")
            before = g.filter(pl.col("at").is_between(at - timedelta(days=250), at, "left"))
            after = g.filter(pl.col("at").is_between(at, at + timedelta(days=250), "left"))
            if min(before.height, after.height) >= 40 and (best is None or abs(shift) > best[0]):
                moved = after.select(logp).item() - before.select(logp).item()
                best = (abs(shift), shift, moved)
        assert best is not None, name
        _, shift, moved = best
        assert moved * shift > 0 and abs(moved) > 0.4 * abs(shift), (name, shift, moved)


def _le2_share(m: Any) -> float:
    per = _genuine(m).group_by("asset_id").len().filter(pl.col("len") > 2)
    return 1.0 - per.height / m.assets.height


def test_cold_start_and_thin_categories(large: dict[str, Any]) -> None:
    base = _le2_share(large["market_gen"])
    for name in ("costplus", "heavytail"):
        assert _le2_share(large[name]) >= max(0.3, base + 0.1), name
    for name in ("interactions", "heavytail"):
        per_cat = _genuine(large[name]).group_by("category").len()
        assert per_cat["len"].min() < 20 and per_cat["len"].max() > 300, name


def test_income_prices_follow_usage(large: dict[str, Any]) -> None:
    """Among unlimited licences, price rises with the licence's reported usage in the income
    market, and not in market_gen (where an unlimited licence's quota is fixed)."""

    def corr(m: Any) -> float:
        use = m.usage.group_by("licence_id").agg(pl.col("units").mean().alias("u"))
        tx = _genuine(m).filter(pl.col("max_units").is_null())
        joined = tx.join(use, on="licence_id").with_columns(
            (pl.col("true_price") / pl.col("duration_days")).log().alias("p"),
            pl.col("u").cast(pl.Float64).log().alias("lu"),
        )
        return float(joined.select(pl.corr("p", "lu")).item())

    assert corr(large["income"]) > 0.4
    assert corr(large["market_gen"]) < 0.2


def _cost_corr(m: Any) -> float:
    """Correlation over assets of the log declared cost and the median log noise-free price."""
    per_asset = (
        _genuine(m)
        .group_by("asset_id")
        .agg(pl.col("true_price").log().median().alias("p"))
        .join(m.assets, on="asset_id")
        .drop_nulls("declared_cost_minor")
        .with_columns(pl.col("declared_cost_minor").cast(pl.Float64).log().alias("c"))
    )
    return float(per_asset.select(pl.corr("p", "c")).item())


def test_costplus_prices_follow_declared_cost_and_depreciate(large: dict[str, Any]) -> None:
    m = large["costplus"]
    assert m.assets["declared_cost_minor"].is_not_null().mean() >= 0.75
    assert _cost_corr(m) > 0.4
    assert abs(_cost_corr(large["income"])) < 0.3  # there a declared cost says nothing
    drift, hp = m.hidden.drift, m.hidden.log_price
    for aid, cat in m.hidden.category.items():
        if drift.shift[cat] != 0.0 and aid in set(m.transactions["asset_id"]):  # no trend
            start, end = 10.0, drift.shift_day[cat] - 10.0
            if m.assets.filter(pl.col("asset_id") == aid)["registered_at"][0] < m.config.start:
                assert hp(aid, end, 10_000, 365, "internal", False) < hp(
                    aid, start, 10_000, 365, "internal", False
                )


def test_interactions_slopes_differ_by_category_and_personal_class(large: dict[str, Any]) -> None:
    m = large["interactions"]
    hp = m.hidden.log_price
    a = m.assets.unique("category", keep="first").sort("category")
    elasticity = {
        hp(r, 500, 100_000, 365, "internal", False) - hp(r, 500, 10_000, 365, "internal", False)
        for r in a["asset_id"]
    }
    assert max(elasticity) - min(elasticity) > 0.3
    gaps = {}
    for row in m.assets.iter_rows(named=True):
        aid = row["asset_id"]
        gaps[row["personal_info"]] = hp(aid, 500, 10_000, 365, "redistribution", False) - hp(
            aid, 500, 10_000, 365, "internal", False
        )
    assert gaps["sensitive_personal"] == pytest.approx(2.5 * gaps["none"])


def _kurtosis(values: pl.Series) -> float:
    x = values - values.mean()
    return float((x**4).mean() / (x**2).mean() ** 2)  # type: ignore[operator]


def test_heavytail_noise_is_heavy_tailed_and_heteroscedastic(large: dict[str, Any]) -> None:
    def log_noise(m: Any) -> pl.DataFrame:
        return (
            _genuine(m)
            .sort("at")
            .with_columns(
                (pl.col("price_minor") / pl.col("true_price")).log().alias("e"),
                pl.int_range(pl.len()).over("asset_id").alias("k"),
            )
            .filter(pl.col("price_minor") > 100)  # the price floor clips the noise
        )

    heavy, normal = log_noise(large["heavytail"]), log_noise(large["market_gen"])
    assert _kurtosis(heavy["e"]) > max(6.0, 1.5 * _kurtosis(normal["e"]))
    first = heavy.filter(pl.col("k") == 0)["e"].abs().median()
    later = heavy.filter(pl.col("k") >= 5)["e"].abs().median()
    assert first > 1.5 * later  # type: ignore[operator]


def test_backtest_reports_every_baseline(washed: tuple[str, Any]) -> None:
    _, m = washed
    r = backtest(m.assets, m.usage, m.transactions, cutoff=m.requests["at"].min(), truth=m.truth)
    methods = {s.method for s in r.scores}
    assert methods == {
        "model",
        "global_median",
        "category_median",
        "last_price",
        "hedonic",
        "robust_loglinear",
    }
    for s in r.scores:
        assert s.n == r.n_requests > 0 and math.isfinite(s.mdape), s
        assert s.coverage is not None and s.mean_width is not None and s.p95_ratio is not None
    assert r.noise_floor is not None and 0 < r.noise_floor < r.score("category_median").mdape
    robust = r.score("robust_loglinear")
    assert robust.mdape < r.score("category_median").mdape
    assert robust.violations is not None
    assert r.detection is not None and r.detection["wash_trades"] > 0
