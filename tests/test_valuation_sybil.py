"""Sybil rings (issue 16): many freshly created buyers, each buying one licence from the same
seller at far above the market, must not move the valuation; honest new buyers must not be
mistaken for them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import polars as pl
import pytest

from tests.test_valuation_helpers import market_gen
from valuation.model import REFERENCE_TERMS, Model, fit
from valuation.robust import fresh_exclusive, sybil_ring_flags


@pytest.fixture(scope="module")
def market() -> Any:
    return market_gen.generate(seed=3, n_assets=120, wash_rate=0.0)


def _ring(market: Any, asset_id: str, factor: float, buyers: int, days: float) -> pl.DataFrame:
    """`buyers` new parties, each buying one licence of `asset_id` on the terms of one of its
    real trades at `factor` x that trade's price, spread over `days` after the history ends."""
    tx = market.transactions
    own = tx.filter(pl.col("asset_id") == asset_id).sort("at")
    end = tx["at"].max()
    rows = []
    for i in range(buyers):
        row = own.row(i % own.height, named=True)
        row.update(
            transaction_id=f"ring-{asset_id}-{i}",
            licence_id=f"ring-licence-{i}",
            buyer_id=f"shell-{i}",
            at=end + timedelta(days=1 + days * i / buyers),
            price_minor=round(row["price_minor"] * factor),
        )
        rows.append(row)
    return pl.concat([tx, pl.DataFrame(rows, schema=tx.schema)])


def _quote(market: Any, transactions: pl.DataFrame, asset_id: str) -> tuple[int, Model]:
    as_of = market.transactions["at"].max() + timedelta(days=20)
    model = fit(market.assets, market.usage, transactions, as_of=as_of)
    return model.quote({"asset_id": asset_id, **REFERENCE_TERMS}).price_minor, model


def _assets_by_trades(market: Any) -> list[str]:
    counts = market.transactions.group_by("asset_id").len().sort(["len", "asset_id"])
    return [counts["asset_id"][-1], counts["asset_id"][counts.height // 2], counts["asset_id"][0]]


def test_twenty_shells_at_ten_times_the_market_move_the_quote_little(market: Any) -> None:
    for asset_id in _assets_by_trades(market):  # a busy asset, a typical one, a barely traded one
        honest, _ = _quote(market, market.transactions, asset_id)
        attacked, model = _quote(market, _ring(market, asset_id, 10.0, 20, 4.0), asset_id)
        assert 0.8 <= attacked / honest <= 1.2, (asset_id, honest, attacked)
        excluded = model.quote({"asset_id": asset_id, **REFERENCE_TERMS}).excluded
        ring = {e.transaction_id for e in excluded if e.reason == "sybil_ring"}
        assert ring == {f"ring-{asset_id}-{i}" for i in range(20)}


def test_new_buyers_at_market_prices_are_not_a_ring(market: Any) -> None:
    asset_id = _assets_by_trades(market)[1]
    _, model = _quote(market, _ring(market, asset_id, 1.0, 20, 4.0), asset_id)
    excluded = model.quote({"asset_id": asset_id, **REFERENCE_TERMS}).excluded
    assert not [e for e in excluded if e.reason == "sybil_ring"]


def test_an_honest_market_has_almost_no_rings(market: Any) -> None:
    _, model = _quote(market, market.transactions, _assets_by_trades(market)[0])
    flagged = [e for a in model.states.values() for e in a.excluded if e.reason == "sybil_ring"]
    assert len(flagged) <= 0.01 * market.transactions.height


def _frame(rows: list[tuple[str, str, float, float]]) -> pl.DataFrame:
    """(seller, buyer, day, err_clean) trades on one asset per seller."""
    return pl.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(len(rows))],
            "asset_id": [f"a-{s}" for s, *_ in rows],
            "seller_id": [s for s, *_ in rows],
            "buyer_id": [b for _, b, *_ in rows],
            "t": [d for *_, d, _ in rows],
            "err_clean": [e for *_, e in rows],
        }
    )


def test_ring_rule_needs_enough_new_exclusive_buyers_close_together() -> None:
    regulars = [("S", f"r{i % 3}", 10.0 * i, 0.0) for i in range(12)]
    regulars += [("T", f"r{i % 3}", 10.0 * i + 5, 0.0) for i in range(12)]  # they buy elsewhere
    shells = [("S", f"x{i}", 200.0 + i, 2.3) for i in range(3)]
    tx = _frame(regulars + shells)
    tx = tx.join(fresh_exclusive(tx), on="transaction_id")
    flags = sybil_ring_flags(tx).drop_nulls()
    assert sorted(flags["transaction_id"]) == ["t24", "t25", "t26"]
    assert flags["ring_day"].unique().to_list() == [202.0]  # seen at the third shell

    two = _frame(regulars + shells[:2])
    assert (
        sybil_ring_flags(two.join(fresh_exclusive(two), on="transaction_id"))[
            "ring_day"
        ].null_count()
        == two.height
    )
    spread = _frame(regulars + [("S", f"x{i}", 200.0 + 40 * i, 2.3) for i in range(3)])
    assert (
        sybil_ring_flags(spread.join(fresh_exclusive(spread), on="transaction_id"))[
            "ring_day"
        ].null_count()
        == spread.height
    )
    # the same three buyers, each also buying from another seller first: not shells
    known = _frame(regulars + [("T", f"x{i}", 150.0, 0.0) for i in range(3)] + shells)
    assert (
        sybil_ring_flags(known.join(fresh_exclusive(known), on="transaction_id"))[
            "ring_day"
        ].null_count()
        == known.height
    )
