"""Manipulation resistance: wash-trade rules, counterparty caps and outlier weights.

Why: a valuation that learns from traded prices invites trading with oneself to raise them.
Three defences, each point-in-time (a transaction is judged only with what was known when the
evidence appeared, so a backtest never "knows" a cycle before it closes):

1. Rules that *exclude* (weight 0 from the moment the evidence is complete, `flag_day`):
   * `self_dealing` -- buyer is the seller or the asset's owner;
   * `circular` -- money goes round: a trade s->b with a trade b->s (any asset) within
     `CYCLE_DAYS`, or a 3-cycle s->b->c->s within `CYCLE_DAYS`; every trade of the cycle is
     flagged when its last trade happens;
   * `related_party` (applied in model.py, since it needs the model's point-in-time
     prediction error): a buyer who buys (almost) only from one seller, at least twice, at
     prices that run well above what the model expected.
   * `sybil_ring` (also in model.py, on the same error): many *new* buyers, each buying only
     from one seller, within weeks of each other, at prices far above what the model expected
     -- one party's shells, each trading once so that no per-buyer rule sees it.
2. Counterparty caps that *bound influence* (always on): the k-th trade of the same buyer on
   the same asset counts 0.5^(k-1) towards that asset's own estimate (so one buyer can never
   weigh more than two trades), and min(1, 5/k) towards its category's market level.
3. Robust (Huber) weights on the point-in-time standardised prediction error, so an inflated
   price far from everything else known moves the estimate little even when no rule fires.

Faked usage bursts are handled where usage becomes features (features.py: `robust_units` caps
each licensee at 5x the median licensee; `top_share` measures concentration).
"""

from __future__ import annotations

import math

import polars as pl

CYCLE_DAYS = 90.0
ASSET_DECAY = 0.5
CATEGORY_FREE_TRADES = 5.0
HUBER_C = 2.5

# A sybil ring (sybil_ring_flags): within RING_DAYS, at least RING_MIN buyers first seen at most
# FRESH_DAYS before, each buying only from the one seller, paid more than RING_EXCESS (log) above
# the point-in-time expectation, and they make up at least RING_SHARE of that seller's (or that
# asset's) trades in the window.
FRESH_DAYS = 30.0
RING_DAYS = 30.0
RING_MIN = 3
RING_SHARE = 0.25
RING_EXCESS = math.log(2.0)

REASONS = (
    "self_dealing",
    "circular",
    "related_party",
    "sybil_ring",
    "price_outlier",
    "currency",
)


def rule_flags(tx: pl.DataFrame) -> pl.DataFrame:
    """Per transaction: `flag_reason` and `flag_day` (null when no rule fires).

    `tx` needs transaction_id, asset_id, seller_id, buyer_id, owner_id, t (days, float).
    """
    edges = tx.select("transaction_id", "seller_id", "buyer_id", "t")
    self_dealing = tx.filter(
        (pl.col("buyer_id") == pl.col("seller_id")) | (pl.col("buyer_id") == pl.col("owner_id"))
    ).select("transaction_id", pl.lit("self_dealing").alias("flag_reason"), "t")
    # only parties that both buy and sell can close a cycle
    both = (
        edges.select(pl.col("seller_id").alias("p"))
        .unique()
        .join(edges.select(pl.col("buyer_id").alias("p")).unique(), on="p", how="semi")
    )
    e = edges.join(both, left_on="seller_id", right_on="p", how="semi").join(
        both, left_on="buyer_id", right_on="p", how="semi"
    )
    e = e.filter(pl.col("seller_id") != pl.col("buyer_id"))
    two = (
        e.join(e, left_on=["seller_id", "buyer_id"], right_on=["buyer_id", "seller_id"])
        .filter((pl.col("t") - pl.col("t_right")).abs() <= CYCLE_DAYS)
        .select("transaction_id", pl.max_horizontal("t", "t_right").alias("t"))
    )
    three_a = e.join(e, left_on="buyer_id", right_on="seller_id", suffix="_2").filter(
        (pl.col("buyer_id_2") != pl.col("seller_id"))
        & ((pl.col("t_2") - pl.col("t")).abs() <= CYCLE_DAYS)
    )
    three = three_a.join(
        e.rename(lambda c: c + "_3"),
        left_on=["buyer_id_2", "seller_id"],
        right_on=["seller_id_3", "buyer_id_3"],
    ).filter(
        (pl.max_horizontal("t", "t_2", "t_3") - pl.min_horizontal("t", "t_2", "t_3")) <= CYCLE_DAYS
    )
    closes = pl.max_horizontal("t", "t_2", "t_3").alias("t")
    cycles = pl.concat(
        [
            two,
            three.select("transaction_id", closes),
            three.select(pl.col("transaction_id_2").alias("transaction_id"), closes),
            three.select(pl.col("transaction_id_3").alias("transaction_id"), closes),
        ]
    ).select("transaction_id", pl.lit("circular").alias("flag_reason"), "t")
    flags = (
        pl.concat([self_dealing, cycles])
        .sort("t")
        .group_by("transaction_id")
        .agg(pl.col("flag_reason").first(), pl.col("t").min().alias("flag_day"))
    )
    return tx.select("transaction_id").join(flags, on="transaction_id", how="left")


def counterparty_weights(tx: pl.DataFrame) -> pl.DataFrame:
    """Per transaction: `w_asset` = 0.5^(k-1) for the k-th trade of (asset, buyer), and
    `w_category` = min(1, 5/k) for the k-th trade of (category, buyer), in time order."""
    ordered = tx.select("transaction_id", "asset_id", "category", "buyer_id", "t").sort("t")
    return ordered.select(
        "transaction_id",
        (ASSET_DECAY ** (pl.int_range(pl.len()).over("asset_id", "buyer_id"))).alias("w_asset"),
        pl.min_horizontal(
            pl.lit(1.0),
            CATEGORY_FREE_TRADES / (pl.int_range(1, pl.len() + 1).over("category", "buyer_id")),
        ).alias("w_category"),
    )


def related_party_flags(
    tx: pl.DataFrame, min_trades: int = 3, share: float = 0.8, excess: float = 0.3
) -> pl.DataFrame:
    """Per transaction: `related_day` -- when its (seller, buyer) pair was recognised as related.

    `tx` needs transaction_id, seller_id, buyer_id, t and `err` (the point-in-time log error of
    the model's prediction, positive = paid more than expected). At the pair's k-th trade the
    rule looks at the buyer's trades so far: at least `min_trades` with this seller, at least
    `share` of all the buyer's purchases, and a mean error over the pair's trades >= `excess`.
    Once recognised, every trade of the pair (earlier ones too) is excluded from then on.
    """
    ordered = tx.select("transaction_id", "seller_id", "buyer_id", "t", "err").sort("t")
    scored = ordered.with_columns(
        pl.int_range(1, pl.len() + 1).over("buyer_id").alias("n_buyer"),
        pl.int_range(1, pl.len() + 1).over("buyer_id", "seller_id").alias("n_pair"),
        (pl.col("err").cum_sum().over("buyer_id", "seller_id")).alias("sum_err"),
    ).with_columns(
        (
            (pl.col("n_pair") >= min_trades)
            & (pl.col("n_pair") >= share * pl.col("n_buyer"))
            & (pl.col("sum_err") / pl.col("n_pair") >= excess)
        ).alias("hit")
    )
    first_hit = (
        scored.filter(pl.col("hit"))
        .group_by("seller_id", "buyer_id")
        .agg(pl.col("t").min().alias("related_day"))
    )
    return ordered.join(first_hit, on=["seller_id", "buyer_id"], how="left").select(
        "transaction_id", "related_day"
    )


def fresh_exclusive(tx: pl.DataFrame, fresh_days: float = FRESH_DAYS) -> pl.DataFrame:
    """Per transaction: `suspect` -- its buyer was first seen at most `fresh_days` before it and
    has bought from no other seller so far (what one party's shells look like, and also many
    honest first purchases: a suspect trade is only evidence together with others).

    `tx` needs transaction_id, seller_id, buyer_id, t.
    """
    ordered = tx.select("transaction_id", "seller_id", "buyer_id", "t").sort("t")
    return ordered.select(
        "transaction_id",
        (
            (pl.col("t") - pl.col("t").min().over("buyer_id") <= fresh_days)
            & (
                pl.int_range(pl.len()).over("buyer_id", "seller_id")
                == pl.int_range(pl.len()).over("buyer_id")
            )
            & (pl.col("buyer_id") != pl.col("seller_id"))
        ).alias("suspect"),
    )


def sybil_ring_flags(
    tx: pl.DataFrame,
    *,
    ring_days: float = RING_DAYS,
    ring_min: int = RING_MIN,
    ring_share: float = RING_SHARE,
    excess: float = RING_EXCESS,
) -> pl.DataFrame:
    """Per transaction: `ring_day` -- when the sybil ring it belongs to was recognised.

    `tx` needs transaction_id, asset_id, seller_id, buyer_id, t, `suspect` (`fresh_exclusive`)
    and `err_clean`: the point-in-time log error against an expectation formed *without*
    suspect trades (positive = paid more than expected), so that a ring's own trades cannot
    raise the bar they are measured against.

    A trade is *strong* if it is its buyer's first suspect purchase at least `excess` above
    expectation. For each seller, and for each asset, a ring is seen at a strong trade when
    the `ring_days` up to it hold at least `ring_min` strong trades that make up at least
    `ring_share` of all its trades in that window -- honest new buyers paying well over the
    odds happen, but rarely several at once and never as a large part of a seller's sales.
    Rings less than `ring_days` apart are one episode; its suspect trades at least `excess / 2`
    above expectation, from `ring_days` before its first sighting to `ring_days` after its
    last, are excluded from the first sighting on.
    """
    window = f"{round(ring_days * 86_400)}i"
    base = tx.select(
        "transaction_id",
        "asset_id",
        "seller_id",
        "buyer_id",
        "t",
        pl.col("suspect").fill_null(False),
        "err_clean",
        (pl.col("t") * 86_400).round().cast(pl.Int64).alias("_s"),
    ).sort("_s")
    strong = pl.col("suspect") & (pl.col("err_clean") >= excess)
    base = base.with_columns(
        (strong & (strong.cast(pl.Int64).cum_sum().over("buyer_id") == 1)).alias("strong")
    )
    found = []
    for key in ("seller_id", "asset_id"):
        sighted = (
            base.with_columns(
                pl.col("strong").cast(pl.Int64).rolling_sum_by("_s", window).over(key).alias("_k"),
                pl.col("_s")
                .is_not_null()
                .cast(pl.Int64)
                .rolling_sum_by("_s", window)
                .over(key)
                .alias("_all"),
            )
            .filter(
                pl.col("strong")
                & (pl.col("_k") >= ring_min)
                & (pl.col("_k") >= ring_share * pl.col("_all"))
            )
            .select(pl.col(key).alias("_key"), "t")
            .sort("t")
            .with_columns(
                (pl.col("t").diff().over("_key").fill_null(0.0) > ring_days)
                .cum_sum()
                .over("_key")
                .alias("_episode")
            )
            .group_by("_key", "_episode")
            .agg(pl.col("t").min().alias("ring_day"), pl.col("t").max().alias("_last"))
        )
        found.append(
            base.filter(pl.col("suspect") & (pl.col("err_clean") >= excess / 2))
            .join(sighted, left_on=key, right_on="_key")
            .filter(
                (pl.col("t") >= pl.col("ring_day") - ring_days)
                & (pl.col("t") <= pl.col("_last") + ring_days)
            )
            .select("transaction_id", "ring_day")
        )
    members = pl.concat(found).group_by("transaction_id").agg(pl.col("ring_day").min())
    return tx.select("transaction_id").join(members, on="transaction_id", how="left")


def huber(z: pl.Expr, c: float = HUBER_C) -> pl.Expr:
    """Huber weight of a standardised error: 1 inside +-c, c/|z| outside."""
    return pl.min_horizontal(pl.lit(1.0), c / z.abs().clip(lower_bound=1e-12)).fill_null(1.0)
